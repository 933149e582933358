/** A link-layer (MAC) address: 6 bytes for Ethernet. */
export class LinkAddress {
  readonly key: string;
  constructor(readonly bytes: Uint8Array) {
    let k = "";
    for (let i = 0; i < bytes.length; i++) k += String.fromCharCode(bytes[i]!);
    this.key = k;
  }

  static fromBytes(buf: Uint8Array, off = 0, len = 6): LinkAddress {
    return new LinkAddress(buf.slice(off, off + len));
  }

  get length(): number {
    return this.bytes.length;
  }

  equals(o: LinkAddress): boolean {
    return this.key === o.key;
  }

  /** Bit 0 of the first octet (IEEE 802 group bit). */
  get isMulticast(): boolean {
    return this.bytes.length > 0 && (this.bytes[0]! & 1) === 1;
  }

  get isBroadcast(): boolean {
    return this.bytes.length === 6 && this.bytes.every((b) => b === 0xff);
  }

  toString(): string {
    return Array.from(this.bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
  }

  toJSON(): string {
    return this.toString();
  }

  static readonly BROADCAST = new LinkAddress(Uint8Array.of(255, 255, 255, 255, 255, 255));
  static readonly EMPTY = new LinkAddress(new Uint8Array(0));
}

export class MacAddressError extends Error {
  override name = "MacAddressError";
}

/**
 * Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (one separator kind, two hex digits per octet).
 * Anything else throws `MacAddressError` with the input in the message.
 */
export function parseMACAddress(text: string): LinkAddress {
  const m =
    /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(
      text,
    );
  if (!m)
    throw new MacAddressError(
      `Cannot parse MAC address "${text}": want six hex octets like aa:bb:cc:dd:ee:ff`,
    );
  const parts = [m[1], m[3], m[4], m[5], m[6], m[7]];
  return new LinkAddress(Uint8Array.from(parts, (p) => Number.parseInt(p!, 16)));
}

/** RFC 7042 §2.1: an Ethernet multicast address for an IPv4 group (01:00:5e + low 23 bits). */
export function ethernetMulticastV4(group: Uint8Array): LinkAddress {
  return new LinkAddress(Uint8Array.of(0x01, 0x00, 0x5e, group[1]! & 0x7f, group[2]!, group[3]!));
}

/** RFC 2464 §7: 33:33 + the low 32 bits of the IPv6 group. */
export function ethernetMulticastV6(group: Uint8Array): LinkAddress {
  return new LinkAddress(Uint8Array.of(0x33, 0x33, group[12]!, group[13]!, group[14]!, group[15]!));
}

import { Address } from "./address.ts";

/** A mask of the same length as the addresses it applies to. */
export class AddressMask {
  constructor(readonly bytes: Uint8Array) {}

  /** The mask with the first `bits` bits set, for addresses of `len` bytes. */
  static fromPrefix(bits: number, len: 4 | 16): AddressMask {
    if (!Number.isInteger(bits) || bits < 0 || bits > len * 8) {
      throw new RangeError(`Cannot make a /${bits} mask for ${len * 8}-bit addresses`);
    }
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const n = Math.max(0, Math.min(8, bits - i * 8));
      b[i] = (0xff << (8 - n)) & 0xff;
    }
    return new AddressMask(b);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** The number of leading one bits. */
  get prefix(): number {
    let n = 0;
    for (const x of this.bytes) {
      if (x === 0xff) {
        n += 8;
        continue;
      }
      let y = x;
      while (y & 0x80) {
        n++;
        y = (y << 1) & 0xff;
      }
      break;
    }
    return n;
  }

  toString(): string {
    return Array.from(this.bytes, (x) => x.toString(16).padStart(2, "0")).join("");
  }
}

export class SubnetError extends Error {
  override name = "SubnetError";
}

/** An address range: an id (the address with host bits zero) and a mask. */
export class Subnet {
  private constructor(
    readonly id: Address,
    readonly mask: AddressMask,
  ) {}

  /** Throws `SubnetError` if lengths differ or `address` has bits outside `mask` (like the seed's `NewSubnet`). */
  static new(address: Address, mask: AddressMask): Subnet {
    if (address.length !== mask.length) throw new SubnetError("subnet length of address and mask differ");
    for (let i = 0; i < address.length; i++) {
      if ((address.bytes[i]! & ~mask.bytes[i]!) !== 0)
        throw new SubnetError("subnet address has bits set outside the mask");
    }
    return new Subnet(address, mask);
  }

  /** A subnet from any address in it and a prefix length: host bits are cleared. */
  static fromPrefix(address: Address, bits: number): Subnet {
    const mask = AddressMask.fromPrefix(bits, address.length as 4 | 16);
    const b = new Uint8Array(address.length);
    for (let i = 0; i < b.length; i++) b[i] = address.bytes[i]! & mask.bytes[i]!;
    return new Subnet(Address.fromBytes(b), mask);
  }

  /** Parses "198.18.0.0/15" or "fd00::/8"; the address may have host bits set (they are cleared). */
  static parse(text: string): Subnet {
    const slash = text.indexOf("/");
    if (slash === -1) throw new SubnetError(`Cannot parse subnet "${text}": missing /prefix`);
    const addr = Address.tryParse(text.slice(0, slash));
    const bitsText = text.slice(slash + 1);
    if (!addr || !/^[0-9]{1,3}$/.test(bitsText)) throw new SubnetError(`Cannot parse subnet "${text}"`);
    const bits = Number(bitsText);
    if (bits > addr.length * 8) throw new SubnetError(`Cannot parse subnet "${text}": prefix too long`);
    return Subnet.fromPrefix(addr, bits);
  }

  contains(a: Address): boolean {
    if (a.length !== this.id.length) return false;
    const m = this.mask.bytes;
    const id = this.id.bytes;
    const b = a.bytes;
    for (let i = 0; i < b.length; i++) if ((b[i]! & m[i]!) !== id[i]) return false;
    return true;
  }

  /** Number of zero bits (host part) and one bits (prefix), like the seed's `Bits`. */
  bits(): { ones: number; zeros: number } {
    const ones = this.mask.prefix;
    return { ones, zeros: this.id.length * 8 - ones };
  }

  get prefix(): number {
    return this.mask.prefix;
  }

  /** The highest address in the range (the IPv4 directed broadcast). */
  broadcast(): Address {
    const b = new Uint8Array(this.id.length);
    for (let i = 0; i < b.length; i++) b[i] = this.id.bytes[i]! | (~this.mask.bytes[i]! & 0xff);
    return Address.fromBytes(b);
  }

  equals(o: Subnet): boolean {
    return this.id.equals(o.id) && this.mask.toString() === o.mask.toString();
  }

  toString(): string {
    return `${this.id}/${this.prefix}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** An address with its prefix length, as configured on a NIC ("198.18.0.2/24"). */
export interface AddressWithPrefix {
  readonly address: Address;
  readonly prefixLen: number;
}

export function parseAddressWithPrefix(text: string): AddressWithPrefix {
  const slash = text.indexOf("/");
  const addr = Address.tryParse(slash === -1 ? text : text.slice(0, slash));
  if (!addr) throw new SubnetError(`Cannot parse address "${text}"`);
  if (slash === -1) return { address: addr, prefixLen: addr.length * 8 };
  const bitsText = text.slice(slash + 1);
  const bits = Number(bitsText);
  if (!/^[0-9]{1,3}$/.test(bitsText) || bits > addr.length * 8) {
    throw new SubnetError(`Cannot parse address "${text}": bad prefix length`);
  }
  return { address: addr, prefixLen: bits };
}

/**
 * Which forms of an IPv4 directed broadcast count.
 * - `receive`: the standard form {<Network-number>, -1} (RFC 919 §7, RFC 922 §7, RFC 1122 §3.2.1.3(d))
 *   and the obsolete all-zeros form {<Network-number>, 0} of 4.2BSD. RFC 1122 §3.3.6: "All hosts
 *   SHOULD recognize and accept any of these non-standard broadcast addresses as the destination
 *   address of an incoming datagram."
 * - `send`: the standard form only. RFC 1122 §3.3.6 lets a host choose the 0 form per interface
 *   but says the option "SHOULD default to the standard (-1) form"; we have no such option, so a
 *   datagram to the all-zeros address is never sent as a broadcast (it is resolved like unicast).
 */
export type DirectedBroadcastForm = "receive" | "send";

/**
 * Whether the IPv4 address `dst` (an unsigned 32-bit number, `Address.v4Number`) is the directed
 * broadcast of the subnet of one of `addresses` (a NIC's addresses with their prefix lengths;
 * IPv6 ones are skipped), in `form`. A /31 or /32 has no broadcast address (RFC 3021 §2.2 for /31).
 * The limited broadcast 255.255.255.255 is not a directed broadcast (except under a /0 prefix):
 * callers test `Address.isBroadcast` for it themselves.
 */
export function isDirectedBroadcastV4(
  dst: number,
  addresses: readonly AddressWithPrefix[],
  form: DirectedBroadcastForm,
): boolean {
  // A subnet with a broadcast has at least two host bits (/30 or shorter), all ones or (on receive)
  // all zeros: so the two low bits are 11, or 00 on receive. A cheap first test for the hot path.
  const low = dst & 3;
  if (low !== 3 && (low !== 0 || form === "send")) return false;
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i]!;
    if (a.prefixLen >= 31 || !a.address.is4) continue;
    const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
    if ((dst & mask) >>> 0 !== (a.address.v4Number & mask) >>> 0) continue;
    const host = (dst & ~mask) >>> 0;
    if (host === ~mask >>> 0) return true;
    if (host === 0 && form === "receive") return true;
  }
  return false;
}

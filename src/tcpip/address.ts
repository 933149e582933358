/**
 * Network-layer addresses: 4 bytes for IPv4, 16 bytes for IPv6.
 *
 * An `Address` is immutable. Its `key` is a latin1 string of the bytes, so two
 * equal addresses have equal keys and can be used directly as `Map` keys
 * (an object key would compare by identity and silently miss).
 */
export class Address {
  /** Latin1 string with one char per byte: equal addresses have equal keys. */
  readonly key: string;

  private constructor(readonly bytes: Uint8Array) {
    // One flat string: `k += char` per byte would keep a rope of one cell per byte
    // (~130 B for IPv4, ~530 B for IPv6) alive with every address (issue 10 memory).
    const b = bytes;
    this.key =
      b.length === 4
        ? String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!)
        : String.fromCharCode.apply(null, b as unknown as number[]);
  }

  /** Copies `len` bytes at `off` of `buf` (4 or 16). */
  static fromBytes(buf: Uint8Array, off = 0, len = buf.length - off): Address {
    if (len !== 4 && len !== 16) throw new RangeError(`Cannot make an address of ${len} bytes: want 4 or 16`);
    if (off < 0 || off + len > buf.length) throw new RangeError("Cannot make an address: bytes out of range");
    return new Address(buf.slice(off, off + len));
  }

  static fromKey(key: string): Address {
    const b = new Uint8Array(key.length);
    for (let i = 0; i < key.length; i++) b[i] = key.charCodeAt(i);
    return Address.fromBytes(b);
  }

  static v4(a: number, b: number, c: number, d: number): Address {
    return new Address(Uint8Array.of(a, b, c, d));
  }

  /** An IPv4 address from its 32-bit big-endian value. */
  static fromV4Number(n: number): Address {
    return new Address(Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));
  }

  /** Parses dotted-quad IPv4 or RFC 4291 §2.2 / RFC 5952 IPv6 text. Throws `RangeError` naming the input. */
  static parse(text: string): Address {
    const a = Address.tryParse(text);
    if (!a) throw new RangeError(`Cannot parse address "${text}"`);
    return a;
  }

  static tryParse(text: string): Address | undefined {
    if (text.includes(":")) {
      const b = parseV6(text);
      return b ? new Address(b) : undefined;
    }
    const b = parseV4(text);
    return b ? new Address(b) : undefined;
  }

  get length(): number {
    return this.bytes.length;
  }
  get is4(): boolean {
    return this.bytes.length === 4;
  }
  get is6(): boolean {
    return this.bytes.length === 16;
  }

  /** The IPv4 address as an unsigned 32-bit number (IPv4 only). */
  get v4Number(): number {
    const b = this.bytes;
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  equals(o: Address): boolean {
    return this.key === o.key;
  }

  get isUnspecified(): boolean {
    const b = this.bytes;
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
    return true;
  }

  get isLoopback(): boolean {
    if (this.is4) return this.bytes[0] === 127;
    for (let i = 0; i < 15; i++) if (this.bytes[i] !== 0) return false;
    return this.bytes[15] === 1;
  }

  get isMulticast(): boolean {
    return this.is4 ? (this.bytes[0]! & 0xf0) === 0xe0 : this.bytes[0] === 0xff;
  }

  /** 255.255.255.255 (RFC 919 limited broadcast). */
  get isBroadcast(): boolean {
    // Asked for every inbound datagram: no callback, no iterator.
    const b = this.bytes;
    return b.length === 4 && (b[0]! & b[1]! & b[2]! & b[3]!) === 255;
  }

  /** fe80::/10 for IPv6, 169.254.0.0/16 for IPv4 (RFC 3927). */
  get isLinkLocalUnicast(): boolean {
    if (this.is4) return this.bytes[0] === 169 && this.bytes[1] === 254;
    return this.bytes[0] === 0xfe && (this.bytes[1]! & 0xc0) === 0x80;
  }

  /** ff02::/16 and other link-local scoped multicast (RFC 4291 §2.7 scope 2), 224.0.0.0/24 for IPv4. */
  get isLinkLocalMulticast(): boolean {
    if (this.is4) return this.bytes[0] === 224 && this.bytes[1] === 0 && this.bytes[2] === 0;
    return this.bytes[0] === 0xff && (this.bytes[1]! & 0x0f) === 0x02;
  }

  /** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
  get isV4Mapped(): boolean {
    if (!this.is6) return false;
    for (let i = 0; i < 10; i++) if (this.bytes[i] !== 0) return false;
    return this.bytes[10] === 0xff && this.bytes[11] === 0xff;
  }

  /** The IPv4 address inside an IPv4-mapped IPv6 address, or this address if it is IPv4. */
  to4(): Address | undefined {
    if (this.is4) return this;
    if (this.isV4Mapped) return new Address(this.bytes.slice(12, 16));
    return undefined;
  }

  /** ::ffff:a.b.c.d for an IPv4 address. */
  toV4Mapped(): Address {
    if (this.is6) return this;
    const b = new Uint8Array(16);
    b[10] = 0xff;
    b[11] = 0xff;
    b.set(this.bytes, 12);
    return new Address(b);
  }

  toString(): string {
    return this.is4 ? this.bytes.join(".") : formatV6(this.bytes);
  }

  toJSON(): string {
    return this.toString();
  }

  static readonly ANY_V4 = Address.v4(0, 0, 0, 0);
  static readonly BROADCAST_V4 = Address.v4(255, 255, 255, 255);
  static readonly LOOPBACK_V4 = Address.v4(127, 0, 0, 1);
  static readonly ANY_V6 = new Address(new Uint8Array(16));
  static readonly LOOPBACK_V6 = new Address(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  /** ff02::1, all nodes (RFC 4291 §2.7.1). */
  static readonly ALL_NODES_V6 = new Address(
    Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
  );
  /** ff02::2, all routers (RFC 4291 §2.7.1). */
  static readonly ALL_ROUTERS_V6 = new Address(
    Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
  );
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // No leading zeros (ambiguous octal in inet_aton), no signs, no empty parts.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  if (text.length > 45 || text.length < 2) return undefined;
  const out = new Uint8Array(16);
  const dbl = text.indexOf("::");
  if (dbl !== -1 && text.indexOf("::", dbl + 1) !== -1) return undefined;
  const head = dbl === -1 ? text : text.slice(0, dbl);
  const tail = dbl === -1 ? "" : text.slice(dbl + 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const tailWords: number[] = [];
  const all = [
    ...headGroups.map((g) => [g, words] as const),
    ...tailGroups.map((g) => [g, tailWords] as const),
  ];
  for (let i = 0; i < all.length; i++) {
    const [g, into] = all[i]!;
    if (g.includes(".")) {
      // Embedded IPv4 must be the last group (RFC 4291 §2.2 form 3), so never before a "::".
      if (i !== all.length - 1 || (dbl !== -1 && tailGroups.length === 0)) return undefined;
      const v4 = parseV4(g);
      if (!v4) return undefined;
      into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    into.push(Number.parseInt(g, 16));
  }
  const total = words.length + tailWords.length;
  if (dbl === -1 ? total !== 8 : total > 7) return undefined;
  const full = [...words, ...new Array<number>(8 - total).fill(0), ...tailWords];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = full[i]! >> 8;
    out[2 * i + 1] = full[i]! & 255;
  }
  return out;
}

/** RFC 5952 §4: lower case, longest run (>1) of zero groups compressed, first on ties, dotted tail for mapped. */
function formatV6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const mapped = w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff;
  const hex = (from: number, to: number) =>
    w
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (mapped) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

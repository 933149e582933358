/**
 * The IPv4 header (RFC 791 §3.1) and its options.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    |Version|  IHL  |Type of Service|          Total Length         |
 *    |         Identification        |Flags|      Fragment Offset    |
 *    |  Time to Live |    Protocol   |         Header Checksum       |
 *    |                       Source Address                          |
 *    |                    Destination Address                        |
 *    |                    Options                    |    Padding    |
 */
import { Address } from "../tcpip/address.ts";
import { readU16, readU32, writeU16 } from "./bytes.ts";
import { checksum, finishChecksum } from "./checksum.ts";

export const IPV4_VERSION_IHL_OFFSET = 0;
export const IPV4_TOS_OFFSET = 1;
export const IPV4_TOTAL_LENGTH_OFFSET = 2;
export const IPV4_ID_OFFSET = 4;
export const IPV4_FLAGS_FRAGMENT_OFFSET = 6;
export const IPV4_TTL_OFFSET = 8;
export const IPV4_PROTOCOL_OFFSET = 9;
export const IPV4_CHECKSUM_OFFSET = 10;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPV4_OPTIONS_OFFSET = 20;
export const IPV4_MIN_SIZE = 20;
export const IPV4_MAX_SIZE = 60;
export const IPV4_ADDRESS_SIZE = 4;
export const IPV4_VERSION = 4;
/** RFC 791 §3.1: "Total Length ... up to 65,535 octets". */
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;
/** RFC 791 §3.2: "Every internet module must be able to forward a datagram of 68 octets". */
export const IPV4_MIN_MTU = 68;

/** Flags (RFC 791 §3.1), as the 3-bit field: bit 1 DF, bit 0 MF. */
export const IPV4_FLAG_MORE_FRAGMENTS = 1;
export const IPV4_FLAG_DONT_FRAGMENT = 2;

/** Option types (RFC 791 §3.1, RFC 7126 list). */
export const IPV4_OPTION_EOL = 0;
export const IPV4_OPTION_NOP = 1;
export const IPV4_OPTION_RECORD_ROUTE = 7;
export const IPV4_OPTION_TIMESTAMP = 68;
export const IPV4_OPTION_LSRR = 131;
export const IPV4_OPTION_SSRR = 137;
/** Router Alert (RFC 2113). */
export const IPV4_OPTION_ROUTER_ALERT = 148;

export interface Ipv4Fields {
  tos?: number;
  /** The whole datagram: header (with options) plus payload. */
  totalLength: number;
  id?: number;
  /** `IPV4_FLAG_*` bits. */
  flags?: number;
  /** In bytes; must be a multiple of 8. */
  fragmentOffset?: number;
  ttl: number;
  protocol: number;
  src: Address;
  dst: Address;
  /** Raw option bytes; zero-padded (EOL) to a multiple of 4 (RFC 791 "Padding"). */
  options?: Uint8Array;
}

export class Ipv4Header {
  constructor(
    public b: Uint8Array,
    public off: number,
  ) {}

  /** Points this view at the header at `b[off]`: one object reused on a hot path instead of one per packet. */
  reset(b: Uint8Array, off: number): this {
    this.b = b;
    this.off = off;
    return this;
  }

  /**
   * Whether `len` bytes at `off` hold a well-formed header: version 4, IHL ≥ 5
   * (RFC 791 §3.1 "the minimum value for a correct header is 5"), the header
   * within the total length and the total length within `len` (trailing link
   * padding is allowed). The checksum is checked separately.
   */
  isValid(len: number): boolean {
    const o = this.off;
    if (len < IPV4_MIN_SIZE || o < 0 || o + IPV4_MIN_SIZE > this.b.length) return false;
    const vi = this.b[o]!;
    if (vi >> 4 !== IPV4_VERSION) return false;
    const hlen = (vi & 0x0f) << 2;
    if (hlen < IPV4_MIN_SIZE) return false;
    const tlen = this.totalLength;
    return hlen <= tlen && tlen <= len && o + hlen <= this.b.length;
  }

  get version(): number {
    return this.b[this.off]! >> 4;
  }
  /** IHL in bytes (20..60). */
  get headerLength(): number {
    return (this.b[this.off]! & 0x0f) << 2;
  }
  /** Type of Service / DS field + ECN (RFC 2474, RFC 3168). */
  get tos(): number {
    return this.b[this.off + IPV4_TOS_OFFSET]!;
  }
  get totalLength(): number {
    return readU16(this.b, this.off + IPV4_TOTAL_LENGTH_OFFSET);
  }
  get id(): number {
    return readU16(this.b, this.off + IPV4_ID_OFFSET);
  }
  /** The 3-bit flags field (`IPV4_FLAG_*`). */
  get flags(): number {
    return this.b[this.off + IPV4_FLAGS_FRAGMENT_OFFSET]! >> 5;
  }
  get dontFragment(): boolean {
    return (this.flags & IPV4_FLAG_DONT_FRAGMENT) !== 0;
  }
  get moreFragments(): boolean {
    return (this.flags & IPV4_FLAG_MORE_FRAGMENTS) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-octet units, RFC 791 §3.1). */
  get fragmentOffset(): number {
    const o = this.off + IPV4_FLAGS_FRAGMENT_OFFSET;
    return (((this.b[o]! & 0x1f) << 8) | this.b[o + 1]!) << 3;
  }
  get ttl(): number {
    return this.b[this.off + IPV4_TTL_OFFSET]!;
  }
  get protocol(): number {
    return this.b[this.off + IPV4_PROTOCOL_OFFSET]!;
  }
  get checksum(): number {
    return readU16(this.b, this.off + IPV4_CHECKSUM_OFFSET);
  }
  srcAddress(): Address {
    return Address.fromBytes(this.b, this.off + IPV4_SRC_OFFSET, IPV4_ADDRESS_SIZE);
  }
  dstAddress(): Address {
    return Address.fromBytes(this.b, this.off + IPV4_DST_OFFSET, IPV4_ADDRESS_SIZE);
  }
  /** Source address as an unsigned 32-bit number (no allocation). */
  get srcNumber(): number {
    return readU32(this.b, this.off + IPV4_SRC_OFFSET);
  }
  /** Destination address as an unsigned 32-bit number (no allocation). */
  get dstNumber(): number {
    return readU32(this.b, this.off + IPV4_DST_OFFSET);
  }
  /** Total length minus header length. */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }
  /** Absolute offset of the options in `b`. */
  get optionsOffset(): number {
    return this.off + IPV4_OPTIONS_OFFSET;
  }
  get optionsLength(): number {
    return this.headerLength - IPV4_MIN_SIZE;
  }
  /** The option bytes as a view (allocates a view; use `optionsOffset` on hot paths). */
  options(): Uint8Array {
    return this.b.subarray(this.off + IPV4_OPTIONS_OFFSET, this.off + this.headerLength);
  }
  /** Whether a fragment: MF set or a non-zero offset (RFC 791 §3.2). */
  get isFragment(): boolean {
    return this.moreFragments || this.fragmentOffset !== 0;
  }

  /** RFC 791 §3.1: the one's-complement sum over the header including the checksum is all ones. */
  isChecksumValid(): boolean {
    return checksum(this.b, this.off, this.headerLength) === 0xffff;
  }
  /** Computes the header checksum over the current header bytes (checksum field taken as 0). */
  computeChecksum(): number {
    this.setChecksum(0);
    return finishChecksum(checksum(this.b, this.off, this.headerLength));
  }

  setChecksum(v: number): void {
    writeU16(this.b, this.off + IPV4_CHECKSUM_OFFSET, v);
  }
  setTtl(v: number): void {
    this.b[this.off + IPV4_TTL_OFFSET] = v;
  }
  setTotalLength(v: number): void {
    writeU16(this.b, this.off + IPV4_TOTAL_LENGTH_OFFSET, v);
  }
  setId(v: number): void {
    writeU16(this.b, this.off + IPV4_ID_OFFSET, v);
  }
  setTos(v: number): void {
    this.b[this.off + IPV4_TOS_OFFSET] = v;
  }
  /** Sets the flags (`IPV4_FLAG_*`) and the fragment offset in bytes (a multiple of 8). */
  setFlagsFragmentOffset(flags: number, fragmentOffset: number): void {
    writeU16(
      this.b,
      this.off + IPV4_FLAGS_FRAGMENT_OFFSET,
      ((flags & 7) << 13) | ((fragmentOffset >>> 3) & 0x1fff),
    );
  }
  setSrcAddress(a: Address): void {
    this.b.set(a.bytes, this.off + IPV4_SRC_OFFSET);
  }
  setDstAddress(a: Address): void {
    this.b.set(a.bytes, this.off + IPV4_DST_OFFSET);
  }
}

/** Header length for `options` of this many bytes, padded to 4 (RFC 791 "Padding"). */
export function ipv4HeaderLength(optionsLength = 0): number {
  return IPV4_MIN_SIZE + ((optionsLength + 3) & ~3);
}

/** Writes the header (options padded with EOL) and its checksum at `off`; returns the header length. */
export function encodeIpv4(b: Uint8Array, off: number, f: Ipv4Fields): number {
  const optLen = f.options ? f.options.length : 0;
  const hlen = ipv4HeaderLength(optLen);
  b[off] = (IPV4_VERSION << 4) | (hlen >> 2);
  b[off + IPV4_TOS_OFFSET] = f.tos ?? 0;
  writeU16(b, off + IPV4_TOTAL_LENGTH_OFFSET, f.totalLength);
  writeU16(b, off + IPV4_ID_OFFSET, f.id ?? 0);
  writeU16(
    b,
    off + IPV4_FLAGS_FRAGMENT_OFFSET,
    (((f.flags ?? 0) & 7) << 13) | (((f.fragmentOffset ?? 0) >>> 3) & 0x1fff),
  );
  b[off + IPV4_TTL_OFFSET] = f.ttl;
  b[off + IPV4_PROTOCOL_OFFSET] = f.protocol;
  writeU16(b, off + IPV4_CHECKSUM_OFFSET, 0);
  b.set(f.src.bytes, off + IPV4_SRC_OFFSET);
  b.set(f.dst.bytes, off + IPV4_DST_OFFSET);
  if (f.options) {
    b.set(f.options, off + IPV4_OPTIONS_OFFSET);
    for (let i = IPV4_OPTIONS_OFFSET + optLen; i < hlen; i++) b[off + i] = IPV4_OPTION_EOL;
  }
  writeU16(b, off + IPV4_CHECKSUM_OFFSET, finishChecksum(checksum(b, off, hlen)));
  return hlen;
}

/** Why option parsing stopped early. */
export const IPV4_OPTIONS_OK = 0;
/** A length byte is missing, below 2, or runs past the end of the options. */
export const IPV4_OPTIONS_MALFORMED = 1;

/**
 * Walks IPv4 options (RFC 791 §3.1: "Case 1: a single octet of option-type.
 * Case 2: an option-type octet, an option-length octet, and the actual
 * option-data octets"). Reusable and allocation-free: call `next()` until it
 * returns false; then `error` says whether the list was malformed. EOL ends
 * the walk; NOP is skipped. Never throws, whatever the bytes.
 */
export class Ipv4OptionIterator {
  /** Option type of the current option. */
  type = 0;
  /** Absolute offset of the current option (its type byte). */
  optionOffset = 0;
  /** Total length of the current option (type and length bytes included). */
  length = 0;
  error = IPV4_OPTIONS_OK;
  private pos = 0;
  private end = 0;

  constructor(
    public b: Uint8Array = new Uint8Array(0),
    off = 0,
    len = 0,
  ) {
    this.reset(b, off, len);
  }

  reset(b: Uint8Array, off: number, len: number): this {
    this.b = b;
    this.pos = off;
    this.end = Math.min(off + Math.max(len, 0), b.length);
    this.error = IPV4_OPTIONS_OK;
    return this;
  }

  /** Absolute offset of the current option's data (after type and length). */
  get dataOffset(): number {
    return this.optionOffset + 2;
  }
  get dataLength(): number {
    return this.length - 2;
  }

  next(): boolean {
    const b = this.b;
    while (this.pos < this.end) {
      const t = b[this.pos]!;
      if (t === IPV4_OPTION_EOL) {
        this.pos = this.end;
        return false;
      }
      if (t === IPV4_OPTION_NOP) {
        this.pos++;
        continue;
      }
      if (this.pos + 1 >= this.end) return this.fail();
      const l = b[this.pos + 1]!;
      if (l < 2 || this.pos + l > this.end) return this.fail();
      this.type = t;
      this.optionOffset = this.pos;
      this.length = l;
      this.pos += l;
      return true;
    }
    return false;
  }

  private fail(): false {
    this.error = IPV4_OPTIONS_MALFORMED;
    this.pos = this.end;
    return false;
  }
}

/** An option iterator over `len` option bytes at `off` (see `Ipv4OptionIterator`). */
export function parseIpv4Options(b: Uint8Array, off: number, len: number): Ipv4OptionIterator {
  return new Ipv4OptionIterator(b, off, len);
}

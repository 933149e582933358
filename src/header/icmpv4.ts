/**
 * ICMP for IPv4 (RFC 792), with the Next-Hop MTU of "fragmentation needed"
 * (RFC 1191 §4).
 *
 *     0                   1                   2                   3
 *    |     Type      |     Code      |          Checksum             |
 *    |     Identifier / Pointer / unused / Next-Hop MTU (type dependent)  |
 */
import { readU16, readU32, writeU16 } from "./bytes.ts";
import { checksum, finishChecksum } from "./checksum.ts";

export const ICMPV4_TYPE_OFFSET = 0;
export const ICMPV4_CODE_OFFSET = 1;
export const ICMPV4_CHECKSUM_OFFSET = 2;
export const ICMPV4_IDENT_OFFSET = 4;
export const ICMPV4_SEQUENCE_OFFSET = 6;
export const ICMPV4_POINTER_OFFSET = 4;
export const ICMPV4_MTU_OFFSET = 6;
export const ICMPV4_GATEWAY_OFFSET = 4;
export const ICMPV4_PAYLOAD_OFFSET = 8;
export const ICMPV4_MIN_SIZE = 8;

/** Types (RFC 792). */
export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_DST_UNREACHABLE = 3;
export const ICMPV4_SOURCE_QUENCH = 4;
export const ICMPV4_REDIRECT = 5;
export const ICMPV4_ECHO = 8;
export const ICMPV4_TIME_EXCEEDED = 11;
export const ICMPV4_PARAM_PROBLEM = 12;
export const ICMPV4_TIMESTAMP = 13;
export const ICMPV4_TIMESTAMP_REPLY = 14;

/** Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const ICMPV4_NET_UNREACHABLE = 0;
export const ICMPV4_HOST_UNREACHABLE = 1;
export const ICMPV4_PROTO_UNREACHABLE = 2;
export const ICMPV4_PORT_UNREACHABLE = 3;
export const ICMPV4_FRAG_NEEDED = 4;
export const ICMPV4_SOURCE_ROUTE_FAILED = 5;
export const ICMPV4_DST_NET_UNKNOWN = 6;
export const ICMPV4_DST_HOST_UNKNOWN = 7;
export const ICMPV4_NET_PROHIBITED = 9;
export const ICMPV4_HOST_PROHIBITED = 10;
export const ICMPV4_ADMIN_PROHIBITED = 13;
/** Time Exceeded codes (RFC 792). */
export const ICMPV4_TTL_EXCEEDED = 0;
export const ICMPV4_REASSEMBLY_TIMEOUT = 1;
/** Parameter Problem codes (RFC 792, RFC 1108). */
export const ICMPV4_POINTER_INDICATES_ERROR = 0;
export const ICMPV4_MISSING_OPTION = 1;
export const ICMPV4_BAD_LENGTH = 2;

export interface Icmpv4Fields {
  type: number;
  code: number;
  /** Echo / echo reply / timestamp identifier. */
  ident?: number;
  sequence?: number;
  /** Parameter Problem pointer (byte 4). */
  pointer?: number;
  /** Fragmentation Needed next-hop MTU (bytes 6–7, RFC 1191 §4). */
  mtu?: number;
  /**
   * When undefined, the checksum is computed over the 8 header bytes plus the
   * `payloadLength` bytes already in `b` after the header (RFC 792 "The checksum is ...
   * of the ICMP message starting with the ICMP Type").
   */
  checksum?: number;
  payloadLength?: number;
}

export class Icmpv4Header {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /** Whether `len` bytes hold the 8-byte header. */
  isValid(len: number): boolean {
    return len >= ICMPV4_MIN_SIZE && this.off >= 0 && this.off + ICMPV4_MIN_SIZE <= this.b.length;
  }

  get type(): number {
    return this.b[this.off + ICMPV4_TYPE_OFFSET]!;
  }
  get code(): number {
    return this.b[this.off + ICMPV4_CODE_OFFSET]!;
  }
  get checksum(): number {
    return readU16(this.b, this.off + ICMPV4_CHECKSUM_OFFSET);
  }
  /** Echo identifier (bytes 4–5). */
  get ident(): number {
    return readU16(this.b, this.off + ICMPV4_IDENT_OFFSET);
  }
  /** Echo sequence number (bytes 6–7). */
  get sequence(): number {
    return readU16(this.b, this.off + ICMPV4_SEQUENCE_OFFSET);
  }
  /** Next-Hop MTU of Fragmentation Needed (RFC 1191 §4, bytes 6–7). */
  get mtu(): number {
    return readU16(this.b, this.off + ICMPV4_MTU_OFFSET);
  }
  /** Parameter Problem pointer (RFC 792, byte 4). */
  get pointer(): number {
    return this.b[this.off + ICMPV4_POINTER_OFFSET]!;
  }
  /** Redirect gateway address as a 32-bit number (RFC 792, bytes 4–7). */
  get gateway(): number {
    return readU32(this.b, this.off + ICMPV4_GATEWAY_OFFSET);
  }
  /** Absolute offset of the body (echo data, or the invoking datagram of an error). */
  get payloadOffset(): number {
    return this.off + ICMPV4_PAYLOAD_OFFSET;
  }

  /** Whether the checksum over `len` bytes of message is right. */
  isChecksumValid(len: number): boolean {
    return checksum(this.b, this.off, len) === 0xffff;
  }

  setType(v: number): void {
    this.b[this.off + ICMPV4_TYPE_OFFSET] = v;
  }
  setCode(v: number): void {
    this.b[this.off + ICMPV4_CODE_OFFSET] = v;
  }
  setChecksum(v: number): void {
    writeU16(this.b, this.off + ICMPV4_CHECKSUM_OFFSET, v);
  }
}

/** Writes the 8-byte header at `off` (see `Icmpv4Fields.checksum`); returns 8. */
export function encodeIcmpv4(b: Uint8Array, off: number, f: Icmpv4Fields): number {
  b[off + ICMPV4_TYPE_OFFSET] = f.type;
  b[off + ICMPV4_CODE_OFFSET] = f.code;
  writeU16(b, off + ICMPV4_CHECKSUM_OFFSET, 0);
  if (f.pointer !== undefined) {
    b[off + 4] = f.pointer;
    b[off + 5] = 0;
    writeU16(b, off + 6, 0);
  } else if (f.mtu !== undefined) {
    writeU16(b, off + 4, 0);
    writeU16(b, off + ICMPV4_MTU_OFFSET, f.mtu);
  } else {
    writeU16(b, off + ICMPV4_IDENT_OFFSET, f.ident ?? 0);
    writeU16(b, off + ICMPV4_SEQUENCE_OFFSET, f.sequence ?? 0);
  }
  const sum = f.checksum ?? finishChecksum(checksum(b, off, ICMPV4_MIN_SIZE + (f.payloadLength ?? 0)));
  writeU16(b, off + ICMPV4_CHECKSUM_OFFSET, sum);
  return ICMPV4_MIN_SIZE;
}

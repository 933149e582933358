/**
 * The UDP header (RFC 768).
 *
 *     0      7 8     15 16    23 24    31
 *    |     Source      |   Destination   |
 *    |      Port       |      Port       |
 *    |     Length      |    Checksum     |
 */
import { readU16, writeU16 } from "./bytes.ts";

export const UDP_SRC_PORT_OFFSET = 0;
export const UDP_DST_PORT_OFFSET = 2;
export const UDP_LENGTH_OFFSET = 4;
export const UDP_CHECKSUM_OFFSET = 6;
export const UDP_HEADER_SIZE = 8;
export const UDP_MAX_LENGTH = 0xffff;

export interface UdpFields {
  srcPort: number;
  dstPort: number;
  /** Header plus payload (RFC 768 "Length"). */
  length: number;
  /** Defaults to 0 ("no checksum" for IPv4, RFC 768; not allowed for IPv6, RFC 8200 §8.1). */
  checksum?: number;
}

export class UdpHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /**
   * Whether `len` bytes hold a datagram: 8 header bytes and a Length field of
   * at least 8 that fits in `len` (RFC 768 "the minimum value of the length
   * is eight"). `len` may exceed Length (link padding).
   */
  isValid(len: number): boolean {
    const o = this.off;
    if (len < UDP_HEADER_SIZE || o < 0 || o + UDP_HEADER_SIZE > this.b.length) return false;
    const l = this.length;
    return l >= UDP_HEADER_SIZE && l <= len;
  }

  get srcPort(): number {
    return readU16(this.b, this.off + UDP_SRC_PORT_OFFSET);
  }
  get dstPort(): number {
    return readU16(this.b, this.off + UDP_DST_PORT_OFFSET);
  }
  /** Header plus payload. */
  get length(): number {
    return readU16(this.b, this.off + UDP_LENGTH_OFFSET);
  }
  get checksum(): number {
    return readU16(this.b, this.off + UDP_CHECKSUM_OFFSET);
  }
  get payloadLength(): number {
    return this.length - UDP_HEADER_SIZE;
  }
  /** Absolute offset of the payload in `b`. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_SIZE;
  }

  setChecksum(v: number): void {
    writeU16(this.b, this.off + UDP_CHECKSUM_OFFSET, v);
  }
  setLength(v: number): void {
    writeU16(this.b, this.off + UDP_LENGTH_OFFSET, v);
  }
  setSrcPort(v: number): void {
    writeU16(this.b, this.off + UDP_SRC_PORT_OFFSET, v);
  }
  setDstPort(v: number): void {
    writeU16(this.b, this.off + UDP_DST_PORT_OFFSET, v);
  }
}

/** Writes the 8-byte header at `off`; returns 8. */
export function encodeUdp(b: Uint8Array, off: number, f: UdpFields): number {
  writeU16(b, off + UDP_SRC_PORT_OFFSET, f.srcPort);
  writeU16(b, off + UDP_DST_PORT_OFFSET, f.dstPort);
  writeU16(b, off + UDP_LENGTH_OFFSET, f.length);
  writeU16(b, off + UDP_CHECKSUM_OFFSET, f.checksum ?? 0);
  return UDP_HEADER_SIZE;
}

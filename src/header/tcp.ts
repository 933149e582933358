/**
 * The TCP header (RFC 9293 §3.1) and its options: MSS (RFC 9293 §3.2),
 * Window Scale and Timestamps (RFC 7323), SACK-Permitted and SACK (RFC 2018).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    |          Source Port          |       Destination Port        |
 *    |                        Sequence Number                        |
 *    |                    Acknowledgment Number                      |
 *    |  Data |       |C|E|U|A|P|R|S|F|                               |
 *    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *    |           Checksum            |         Urgent Pointer        |
 *    |                           [Options]                           |
 */
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

export const TCP_SRC_PORT_OFFSET = 0;
export const TCP_DST_PORT_OFFSET = 2;
export const TCP_SEQ_OFFSET = 4;
export const TCP_ACK_OFFSET = 8;
export const TCP_DATA_OFFSET_OFFSET = 12;
export const TCP_FLAGS_OFFSET = 13;
export const TCP_WINDOW_OFFSET = 14;
export const TCP_CHECKSUM_OFFSET = 16;
export const TCP_URGENT_OFFSET = 18;
export const TCP_OPTIONS_OFFSET = 20;
export const TCP_MIN_SIZE = 20;
export const TCP_MAX_SIZE = 60;
/** RFC 9293 §3.1: options fill at most 40 bytes (Data Offset ≤ 15 words). */
export const TCP_MAX_OPTIONS_SIZE = 40;

/** Control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR). */
export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_PSH = 8;
export const TCP_ACK = 16;
export const TCP_URG = 32;
export const TCP_ECE = 64;
export const TCP_CWR = 128;

/** Option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018). */
export const TCP_OPTION_EOL = 0;
export const TCP_OPTION_NOP = 1;
export const TCP_OPTION_MSS = 2;
export const TCP_OPTION_WS = 3;
export const TCP_OPTION_SACK_PERMITTED = 4;
export const TCP_OPTION_SACK = 5;
export const TCP_OPTION_TIMESTAMP = 8;
export const TCP_OPTION_MSS_LENGTH = 4;
export const TCP_OPTION_WS_LENGTH = 3;
export const TCP_OPTION_SACK_PERMITTED_LENGTH = 2;
export const TCP_OPTION_TIMESTAMP_LENGTH = 10;
/** RFC 7323 §2.3: "the shift count ... MUST use 14 instead of the specified value" when larger. */
export const TCP_MAX_WINDOW_SCALE = 14;
/** RFC 2018 §3: a SACK option holds at most 4 blocks (40 bytes of options). */
export const TCP_MAX_SACK_BLOCKS = 4;

/** Parsed TCP options. Reused by `parseTcpOptions`; make one with `newTcpOptions()`. */
export interface TcpOptions {
  /** Maximum Segment Size; 0 = absent. */
  mss: number;
  /** Window scale shift count (clamped to 14); -1 = absent. */
  windowScale: number;
  sackPermitted: boolean;
  timestamp: boolean;
  tsVal: number;
  tsEcr: number;
  /** SACK blocks flat as [left, right, left, right, ...] (RFC 2018 §3). */
  sackBlocks: number[];
}

export function newTcpOptions(): TcpOptions {
  return {
    mss: 0,
    windowScale: -1,
    sackPermitted: false,
    timestamp: false,
    tsVal: 0,
    tsEcr: 0,
    sackBlocks: [],
  };
}

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  /** Encoded option bytes (see `encodeTcpOptions`), zero-padded to a multiple of 4 if needed. */
  options?: Uint8Array;
  /**
   * Addition: options already written in place at `off + 20` (by `encodeTcpOptions`), this many bytes.
   * Ignored when `options` is given.
   */
  optionsLength?: number;
  /** Defaults to 0; the caller fills it with the pseudo-header sum (see checksum.ts). */
  checksum?: number;
}

export class TcpHeader {
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
   * Whether `len` bytes hold a well-formed header: at least 20 bytes and a
   * Data Offset of at least 5 words that fits in `len` (RFC 9293 §3.1
   * "Data Offset: ... the number of 32-bit words in the TCP header").
   */
  isValid(len: number): boolean {
    const o = this.off;
    if (len < TCP_MIN_SIZE || o < 0 || o + TCP_MIN_SIZE > this.b.length) return false;
    const d = this.dataOffset;
    return d >= TCP_MIN_SIZE && d <= len && o + d <= this.b.length;
  }

  get srcPort(): number {
    return readU16(this.b, this.off + TCP_SRC_PORT_OFFSET);
  }
  get dstPort(): number {
    return readU16(this.b, this.off + TCP_DST_PORT_OFFSET);
  }
  /** Unsigned 32-bit. */
  get sequenceNumber(): number {
    return readU32(this.b, this.off + TCP_SEQ_OFFSET);
  }
  /** Unsigned 32-bit. */
  get ackNumber(): number {
    return readU32(this.b, this.off + TCP_ACK_OFFSET);
  }
  /** Header length in bytes (Data Offset × 4). */
  get dataOffset(): number {
    return (this.b[this.off + TCP_DATA_OFFSET_OFFSET]! >> 4) << 2;
  }
  /** The eight control bits (`TCP_FIN` ... `TCP_CWR`). */
  get flags(): number {
    return this.b[this.off + TCP_FLAGS_OFFSET]!;
  }
  /** The unscaled window field. */
  get windowSize(): number {
    return readU16(this.b, this.off + TCP_WINDOW_OFFSET);
  }
  get checksum(): number {
    return readU16(this.b, this.off + TCP_CHECKSUM_OFFSET);
  }
  get urgentPointer(): number {
    return readU16(this.b, this.off + TCP_URGENT_OFFSET);
  }
  /** Absolute offset of the options in `b` (pass to `parseTcpOptions`). */
  get optionsOffset(): number {
    return this.off + TCP_OPTIONS_OFFSET;
  }
  get optionsLength(): number {
    return this.dataOffset - TCP_MIN_SIZE;
  }
  /** Absolute offset of the payload in `b`. */
  get payloadOffset(): number {
    return this.off + this.dataOffset;
  }

  setChecksum(v: number): void {
    writeU16(this.b, this.off + TCP_CHECKSUM_OFFSET, v);
  }
  setSrcPort(v: number): void {
    writeU16(this.b, this.off + TCP_SRC_PORT_OFFSET, v);
  }
  setDstPort(v: number): void {
    writeU16(this.b, this.off + TCP_DST_PORT_OFFSET, v);
  }
  setSequenceNumber(v: number): void {
    writeU32(this.b, this.off + TCP_SEQ_OFFSET, v);
  }
  setAckNumber(v: number): void {
    writeU32(this.b, this.off + TCP_ACK_OFFSET, v);
  }
  setFlags(v: number): void {
    this.b[this.off + TCP_FLAGS_OFFSET] = v;
  }
  setWindowSize(v: number): void {
    writeU16(this.b, this.off + TCP_WINDOW_OFFSET, v);
  }
}

/**
 * Parses `len` option bytes at `off` into `out` (reset first) and returns it.
 *
 * Survives any bytes without throwing, as Linux's tcp_parse_options does:
 * EOL ends the list (RFC 9293 §3.2 "End of Option List"); NOP is skipped; a
 * missing length byte, a length below 2 or one that runs past the end stops
 * parsing (the options seen so far are kept); a known kind with the wrong
 * length is ignored; unknown kinds are skipped by their length (RFC 9293
 * §3.2 "a TCP implementation MUST be prepared to handle an illegal option
 * length ... without crashing"; "MUST ignore ... any TCP option it does not
 * implement", RFC 1122 §4.2.2.5).
 */
export function parseTcpOptions(b: Uint8Array, off: number, len: number, out: TcpOptions): TcpOptions {
  out.mss = 0;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.timestamp = false;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.sackBlocks.length = 0;
  let i = off;
  const end = Math.min(off + Math.max(len, 0), b.length);
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCP_OPTION_EOL) break;
    if (kind === TCP_OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const l = b[i + 1]!;
    if (l < 2 || i + l > end) break;
    switch (kind) {
      case TCP_OPTION_MSS:
        if (l === TCP_OPTION_MSS_LENGTH) out.mss = readU16(b, i + 2);
        break;
      case TCP_OPTION_WS:
        if (l === TCP_OPTION_WS_LENGTH) out.windowScale = Math.min(b[i + 2]!, TCP_MAX_WINDOW_SCALE);
        break;
      case TCP_OPTION_SACK_PERMITTED:
        if (l === TCP_OPTION_SACK_PERMITTED_LENGTH) out.sackPermitted = true;
        break;
      case TCP_OPTION_TIMESTAMP:
        if (l === TCP_OPTION_TIMESTAMP_LENGTH) {
          out.timestamp = true;
          out.tsVal = readU32(b, i + 2);
          out.tsEcr = readU32(b, i + 6);
        }
        break;
      case TCP_OPTION_SACK:
        // RFC 2018 §3: "Length: Variable" = 2 + 8n, n blocks of (left edge, right edge).
        if ((l - 2) % 8 === 0 && l > 2) {
          out.sackBlocks.length = 0;
          for (let j = i + 2; j < i + l; j += 8) out.sackBlocks.push(readU32(b, j), readU32(b, j + 4));
        }
        break;
      default:
        break;
    }
    i += l;
  }
  return out;
}

/** Options to emit; absent fields are not written. Accepts a `TcpOptions` too (mss 0 / windowScale -1 = absent). */
export interface TcpOptionFields {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  timestamp?: boolean;
  tsVal?: number;
  tsEcr?: number;
  sackBlocks?: readonly number[];
}

/**
 * Writes options at `off` in the layout Linux uses (MSS; SACK-Permitted +
 * Timestamps, or NOP-padded; NOP + Window Scale; NOP NOP + SACK), padded with
 * NOP/EOL to a multiple of 4, and returns the bytes written (≤ 40). SACK
 * blocks that would not fit in 40 bytes are left out (RFC 2018 §3: 3 blocks
 * with timestamps, 4 without).
 */
export function encodeTcpOptions(b: Uint8Array, off: number, o: TcpOptionFields): number {
  let i = off;
  if (o.mss !== undefined && o.mss > 0) {
    b[i] = TCP_OPTION_MSS;
    b[i + 1] = TCP_OPTION_MSS_LENGTH;
    writeU16(b, i + 2, o.mss);
    i += 4;
  }
  if (o.sackPermitted) {
    if (o.timestamp) {
      b[i] = TCP_OPTION_SACK_PERMITTED;
      b[i + 1] = TCP_OPTION_SACK_PERMITTED_LENGTH;
      i += 2;
    } else {
      b[i] = TCP_OPTION_NOP;
      b[i + 1] = TCP_OPTION_NOP;
      b[i + 2] = TCP_OPTION_SACK_PERMITTED;
      b[i + 3] = TCP_OPTION_SACK_PERMITTED_LENGTH;
      i += 4;
    }
  }
  if (o.timestamp) {
    if (!o.sackPermitted) {
      b[i] = TCP_OPTION_NOP;
      b[i + 1] = TCP_OPTION_NOP;
      i += 2;
    }
    b[i] = TCP_OPTION_TIMESTAMP;
    b[i + 1] = TCP_OPTION_TIMESTAMP_LENGTH;
    writeU32(b, i + 2, o.tsVal ?? 0);
    writeU32(b, i + 6, o.tsEcr ?? 0);
    i += 10;
  }
  if (o.windowScale !== undefined && o.windowScale >= 0) {
    b[i] = TCP_OPTION_NOP;
    b[i + 1] = TCP_OPTION_WS;
    b[i + 2] = TCP_OPTION_WS_LENGTH;
    b[i + 3] = o.windowScale;
    i += 4;
  }
  const sack = o.sackBlocks;
  if (sack && sack.length >= 2) {
    const room = TCP_MAX_OPTIONS_SIZE - (i - off) - 4;
    const n = Math.min(sack.length >> 1, TCP_MAX_SACK_BLOCKS, Math.max(0, Math.floor(room / 8)));
    if (n > 0) {
      b[i] = TCP_OPTION_NOP;
      b[i + 1] = TCP_OPTION_NOP;
      b[i + 2] = TCP_OPTION_SACK;
      b[i + 3] = 2 + 8 * n;
      i += 4;
      for (let k = 0; k < n; k++) {
        writeU32(b, i, sack[2 * k]!);
        writeU32(b, i + 4, sack[2 * k + 1]!);
        i += 8;
      }
    }
  }
  // RFC 9293 §3.1 "Padding: ... ensure that the TCP header ends ... on a 32-bit boundary. The padding is
  // composed of zeros." Every option above is already word aligned; pad defensively with EOL.
  while ((i - off) & 3) b[i++] = TCP_OPTION_EOL;
  return i - off;
}

/** Writes the header at `off` (options copied or already in place); returns the header length. */
export function encodeTcp(b: Uint8Array, off: number, f: TcpFields): number {
  let optLen = f.optionsLength ?? 0;
  if (f.options) {
    b.set(f.options, off + TCP_OPTIONS_OFFSET);
    optLen = f.options.length;
  }
  const padded = (optLen + 3) & ~3;
  for (let i = optLen; i < padded; i++) b[off + TCP_OPTIONS_OFFSET + i] = TCP_OPTION_EOL;
  const hlen = TCP_MIN_SIZE + padded;
  writeU16(b, off + TCP_SRC_PORT_OFFSET, f.srcPort);
  writeU16(b, off + TCP_DST_PORT_OFFSET, f.dstPort);
  writeU32(b, off + TCP_SEQ_OFFSET, f.seq);
  writeU32(b, off + TCP_ACK_OFFSET, f.ack);
  b[off + TCP_DATA_OFFSET_OFFSET] = (hlen >> 2) << 4;
  b[off + TCP_FLAGS_OFFSET] = f.flags;
  writeU16(b, off + TCP_WINDOW_OFFSET, f.window);
  writeU16(b, off + TCP_CHECKSUM_OFFSET, f.checksum ?? 0);
  writeU16(b, off + TCP_URGENT_OFFSET, f.urgent ?? 0);
  return hlen;
}

/** Decoding and describing segments for tests (packet-trace style). */
import { checksum, pseudoHeaderChecksum } from "../../../header/checksum.ts";
import {
  encodeTcp,
  encodeTcpOptions,
  newTcpOptions,
  parseTcpOptions,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_MIN_SIZE,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpHeader,
  type TcpOptionFields,
  type TcpOptions,
} from "../../../header/tcp.ts";
import type { Address } from "../../../tcpip/address.ts";
import { TCP_PROTOCOL_NUMBER } from "../../../tcpip/protocols.ts";

export interface SegmentFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: TcpOptions;
  /** Option bytes as sent (for layout checks). */
  optionBytes: Uint8Array;
  payload: Uint8Array;
  checksumOk: boolean;
  /** The IP TOS / Traffic Class it was sent with, where the harness knows it (ECN bits: RFC 3168 §5). */
  tos?: number;
}

export function decodeSegment(bytes: Uint8Array, src?: Address, dst?: Address): SegmentFields {
  const h = new TcpHeader(bytes, 0);
  if (!h.isValid(bytes.length)) throw new Error(`not a TCP segment (${bytes.length} bytes)`);
  const options = newTcpOptions();
  parseTcpOptions(bytes, h.optionsOffset, h.optionsLength, options);
  let checksumOk = true;
  if (src && dst) {
    checksumOk =
      checksum(bytes, 0, bytes.length, pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, src, dst, bytes.length)) ===
      0xffff;
  }
  return {
    srcPort: h.srcPort,
    dstPort: h.dstPort,
    seq: h.sequenceNumber,
    ack: h.ackNumber,
    flags: h.flags,
    window: h.windowSize,
    options,
    optionBytes: bytes.slice(h.optionsOffset, h.optionsOffset + h.optionsLength),
    payload: bytes.slice(h.payloadOffset),
    checksumOk,
  };
}

export interface BuildFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: TcpOptionFields;
  payload?: Uint8Array;
}

/** Builds a segment with a correct checksum. */
export function buildSegment(f: BuildFields, src: Address, dst: Address): Uint8Array {
  const opt = new Uint8Array(40);
  const optLen = f.options ? encodeTcpOptions(opt, 0, f.options) : 0;
  const payload = f.payload ?? new Uint8Array(0);
  const b = new Uint8Array(TCP_MIN_SIZE + optLen + payload.length);
  encodeTcp(b, 0, {
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    seq: f.seq >>> 0,
    ack: (f.ack ?? 0) >>> 0,
    flags: f.flags,
    window: f.window ?? 65535,
    options: opt.subarray(0, optLen),
  });
  b.set(payload, TCP_MIN_SIZE + optLen);
  const c = ~checksum(b, 0, b.length, pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, src, dst, b.length)) & 0xffff;
  new TcpHeader(b, 0).setChecksum(c);
  return b;
}

export function flagString(f: number): string {
  let s = "";
  if (f & TCP_SYN) s += "S";
  if (f & TCP_FIN) s += "F";
  if (f & TCP_RST) s += "R";
  if (f & TCP_PSH) s += "P";
  if (f & TCP_ACK) s += ".";
  // tcpdump's letters for RFC 3168's bits: E (ECE), W (CWR).
  if (f & TCP_ECE) s += "E";
  if (f & TCP_CWR) s += "W";
  return s || "none";
}

/** A tcpdump-like line: `S. seq 1 ack 2 win 65535 <mss 1460,sackOK,TS 5 0,wscale 7> len 0`. */
export function describe(s: SegmentFields): string {
  const o = s.options;
  const opts: string[] = [];
  if (o.mss) opts.push(`mss ${o.mss}`);
  if (o.sackPermitted) opts.push("sackOK");
  if (o.timestamp) opts.push(`TS ${o.tsVal} ${o.tsEcr}`);
  if (o.windowScale >= 0) opts.push(`wscale ${o.windowScale}`);
  if (o.sackBlocks.length) {
    const b: string[] = [];
    for (let i = 0; i < o.sackBlocks.length; i += 2) b.push(`${o.sackBlocks[i]}-${o.sackBlocks[i + 1]}`);
    opts.push(`sack ${b.join(" ")}`);
  }
  return `${flagString(s.flags)} seq ${s.seq} ack ${s.ack} win ${s.window}${opts.length ? ` <${opts.join(",")}>` : ""} len ${s.payload.length}`;
}

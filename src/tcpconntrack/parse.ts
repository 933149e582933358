/**
 * Reads what connection tracking needs from a network packet: addresses,
 * ports (or the ICMP echo identifier), TCP segment fields, and builds the
 * flow key. One scratch `FlowPacket` is reused for every packet; nothing
 * here throws on any input.
 */
import { ICMPV4_ECHO, ICMPV4_ECHO_REPLY, ICMPV4_MIN_SIZE, Icmpv4Header } from "../header/icmpv4.ts";
import { IPV4_DST_OFFSET, IPV4_SRC_OFFSET, Ipv4Header } from "../header/ipv4.ts";
import { newTcpOptions, parseTcpOptions, TCP_SYN, TcpHeader } from "../header/tcp.ts";
import { UdpHeader } from "../header/udp.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../tcpip/protocols.ts";
import type { TcpSegment } from "./tcb.ts";

export const PARSE_OK = 0;
/** Broken headers: counted as malformed. */
export const PARSE_MALFORMED = 1;
/** Well formed but not tracked: non-IP, a later fragment, another protocol, ICMP other than echo. */
export const PARSE_UNTRACKED = 2;
export type ParseStatus = 0 | 1 | 2;

// RFC 8200 §3 fixed header and §4 extension headers (offsets named here until src/header/ipv6.ts lands).
const IPV6_HEADER_SIZE = 40;
const IPV6_PAYLOAD_LENGTH_OFFSET = 4;
const IPV6_NEXT_HEADER_OFFSET = 6;
const IPV6_SRC_OFFSET = 8;
const IPV6_DST_OFFSET = 24;
const IPV6_EXT_HOP_BY_HOP = 0;
const IPV6_EXT_ROUTING = 43;
const IPV6_EXT_FRAGMENT = 44;
const IPV6_EXT_AUTH = 51;
const IPV6_EXT_DEST_OPTIONS = 60;
/** Enough to skip any sane chain; a longer one is treated as malformed. */
const IPV6_MAX_EXTENSIONS = 16;

/** ICMPv6 echo (RFC 4443 §4.1, §4.2). */
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;

/** The parsed packet, reused across calls. */
export class FlowPacket {
  ipVersion: 4 | 6 = 4;
  /** IANA transport protocol number. */
  protocol = 0;
  /** Bytes of the IP packet (header included), as Linux's conntrack accounting counts. */
  ipLength = 0;
  srcPort = 0;
  dstPort = 0;
  /** For ICMP: whether an echo request (else an echo reply). */
  icmpRequest = false;
  /** The flow key: the same for both directions (see `flowKey`). */
  key = "";
  /** Whether the packet's source is the key's first endpoint. */
  srcIsFirst = true;
  /** TCP only. */
  readonly segment: TcpSegment = { seq: 0, ack: 0, flags: 0, window: 0, payloadLength: 0, windowScale: -1 };
}

const tcpOptions = newTcpOptions();

/** Fills `out` from the packet of `len` bytes at `off`. */
export function parseFlowPacket(
  netProto: number,
  b: Uint8Array,
  off: number,
  len: number,
  out: FlowPacket,
): ParseStatus {
  if (off < 0 || len < 0 || off + len > b.length) return PARSE_MALFORMED;
  if (netProto === IPV4_PROTOCOL_NUMBER) return parseV4(b, off, len, out);
  if (netProto === IPV6_PROTOCOL_NUMBER) return parseV6(b, off, len, out);
  return PARSE_UNTRACKED;
}

function parseV4(b: Uint8Array, off: number, len: number, out: FlowPacket): ParseStatus {
  const ip = new Ipv4Header(b, off);
  if (!ip.isValid(len)) return PARSE_MALFORMED;
  // RFC 791 §3.2: only the first fragment carries the transport header.
  if (ip.fragmentOffset !== 0) return PARSE_UNTRACKED;
  out.ipVersion = 4;
  out.ipLength = ip.totalLength;
  const hlen = ip.headerLength;
  const proto = ip.protocol;
  const st = parseTransport(proto, b, off + hlen, ip.totalLength - hlen, out, ICMPV4_PROTOCOL_NUMBER);
  if (st !== PARSE_OK) return st;
  out.key = keyV4(proto, b, off + IPV4_SRC_OFFSET, off + IPV4_DST_OFFSET, out);
  return PARSE_OK;
}

function parseV6(b: Uint8Array, off: number, len: number, out: FlowPacket): ParseStatus {
  if (len < IPV6_HEADER_SIZE || b[off]! >> 4 !== 6) return PARSE_MALFORMED;
  const payloadLength =
    (b[off + IPV6_PAYLOAD_LENGTH_OFFSET]! << 8) | b[off + IPV6_PAYLOAD_LENGTH_OFFSET + 1]!;
  // RFC 8200 §4.10 jumbograms (payload length 0) are not supported: treated as malformed.
  const total = IPV6_HEADER_SIZE + payloadLength;
  if (payloadLength === 0 || total > len) return PARSE_MALFORMED;
  let next = b[off + IPV6_NEXT_HEADER_OFFSET]!;
  let p = off + IPV6_HEADER_SIZE;
  const end = off + total;
  for (let i = 0; ; i++) {
    if (i > IPV6_MAX_EXTENSIONS) return PARSE_MALFORMED;
    if (
      next === IPV6_EXT_HOP_BY_HOP ||
      next === IPV6_EXT_ROUTING ||
      next === IPV6_EXT_DEST_OPTIONS ||
      next === IPV6_EXT_AUTH
    ) {
      if (p + 2 > end) return PARSE_MALFORMED;
      // RFC 8200 §4.3: Hdr Ext Len in 8-octet units not counting the first 8; RFC 4302 §2.2: AH in 4-octet units minus 2.
      const extLen = next === IPV6_EXT_AUTH ? (b[p + 1]! + 2) * 4 : (b[p + 1]! + 1) * 8;
      next = b[p]!;
      p += extLen;
      continue;
    }
    if (next === IPV6_EXT_FRAGMENT) {
      if (p + 8 > end) return PARSE_MALFORMED;
      // RFC 8200 §4.5: Fragment Offset in 8-octet units, upper 13 bits of bytes 2-3.
      const fragOff = ((b[p + 2]! << 8) | b[p + 3]!) >> 3;
      if (fragOff !== 0) return PARSE_UNTRACKED;
      next = b[p]!;
      p += 8;
      continue;
    }
    break;
  }
  if (p > end) return PARSE_MALFORMED;
  out.ipVersion = 6;
  out.ipLength = total;
  const st = parseTransport(next, b, p, end - p, out, ICMPV6_PROTOCOL_NUMBER);
  if (st !== PARSE_OK) return st;
  out.key = keyV6(next, b, off + IPV6_SRC_OFFSET, off + IPV6_DST_OFFSET, out);
  return PARSE_OK;
}

function parseTransport(
  proto: number,
  b: Uint8Array,
  off: number,
  len: number,
  out: FlowPacket,
  icmpProto: number,
): ParseStatus {
  out.protocol = proto;
  if (proto === TCP_PROTOCOL_NUMBER) {
    const tcp = new TcpHeader(b, off);
    if (!tcp.isValid(len)) return PARSE_MALFORMED;
    out.srcPort = tcp.srcPort;
    out.dstPort = tcp.dstPort;
    const s = out.segment;
    s.seq = tcp.sequenceNumber;
    s.ack = tcp.ackNumber;
    s.flags = tcp.flags;
    s.window = tcp.windowSize;
    s.payloadLength = len - tcp.dataOffset;
    s.windowScale = -1;
    if (s.flags & TCP_SYN && tcp.optionsLength > 0) {
      s.windowScale = parseTcpOptions(b, tcp.optionsOffset, tcp.optionsLength, tcpOptions).windowScale;
    }
    return PARSE_OK;
  }
  if (proto === UDP_PROTOCOL_NUMBER) {
    const udp = new UdpHeader(b, off);
    if (!udp.isValid(len)) return PARSE_MALFORMED;
    out.srcPort = udp.srcPort;
    out.dstPort = udp.dstPort;
    return PARSE_OK;
  }
  if (proto === icmpProto) {
    // ICMPv4 and ICMPv6 share the echo layout: type, code, checksum, identifier, sequence.
    const icmp = new Icmpv4Header(b, off);
    if (len < ICMPV4_MIN_SIZE || !icmp.isValid(len)) return PARSE_MALFORMED;
    const type = icmp.type;
    const v4 = proto === ICMPV4_PROTOCOL_NUMBER;
    const request = v4 ? ICMPV4_ECHO : ICMPV6_ECHO_REQUEST;
    const reply = v4 ? ICMPV4_ECHO_REPLY : ICMPV6_ECHO_REPLY;
    if (type !== request && type !== reply) return PARSE_UNTRACKED;
    out.icmpRequest = type === request;
    // Both directions of an echo exchange carry the same identifier (RFC 792, RFC 4443 §4.2).
    out.srcPort = icmp.ident;
    out.dstPort = icmp.ident;
    return PARSE_OK;
  }
  return PARSE_UNTRACKED;
}

/**
 * Flow keys: one string per connection, the same in both directions. Code
 * units: protocol, then the two (address, port) endpoints in a fixed order
 * (the smaller first), addresses as 16-bit words. 7 units for IPv4, 19 for
 * IPv6, so the two families never collide.
 */
function keyV4(proto: number, b: Uint8Array, s: number, d: number, out: FlowPacket): string {
  const s0 = (b[s]! << 8) | b[s + 1]!;
  const s1 = (b[s + 2]! << 8) | b[s + 3]!;
  const d0 = (b[d]! << 8) | b[d + 1]!;
  const d1 = (b[d + 2]! << 8) | b[d + 3]!;
  const sp = out.srcPort;
  const dp = out.dstPort;
  const cmp = s0 - d0 || s1 - d1 || sp - dp;
  out.srcIsFirst = cmp <= 0;
  return cmp <= 0
    ? String.fromCharCode(proto, s0, s1, sp, d0, d1, dp)
    : String.fromCharCode(proto, d0, d1, dp, s0, s1, sp);
}

const w6s = new Array<number>(19);
const w6d = new Array<number>(8);

function keyV6(proto: number, b: Uint8Array, s: number, d: number, out: FlowPacket): string {
  let cmp = 0;
  for (let i = 0; i < 8; i++) {
    const sw = (b[s + 2 * i]! << 8) | b[s + 2 * i + 1]!;
    const dw = (b[d + 2 * i]! << 8) | b[d + 2 * i + 1]!;
    w6s[1 + i] = sw;
    w6d[i] = dw;
    if (cmp === 0) cmp = sw - dw;
  }
  const sp = out.srcPort;
  const dp = out.dstPort;
  if (cmp === 0) cmp = sp - dp;
  out.srcIsFirst = cmp <= 0;
  const k = w6s;
  k[0] = proto;
  if (cmp <= 0) {
    k[9] = sp;
    for (let i = 0; i < 8; i++) k[10 + i] = w6d[i]!;
    k[18] = dp;
  } else {
    // Swap: destination endpoint first.
    for (let i = 0; i < 8; i++) {
      const t = k[1 + i]!;
      k[1 + i] = w6d[i]!;
      k[10 + i] = t;
    }
    k[9] = dp;
    k[18] = sp;
  }
  return String.fromCharCode.apply(null, k);
}

/** The endpoints encoded in a key, first endpoint first. */
export interface KeyTuple {
  ipVersion: 4 | 6;
  protocol: number;
  first: { address: Uint8Array; port: number };
  second: { address: Uint8Array; port: number };
}

export function decodeKey(key: string): KeyTuple {
  const v6 = key.length === 19;
  const words = v6 ? 8 : 2;
  const addr = (at: number) => {
    const a = new Uint8Array(words * 2);
    for (let i = 0; i < words; i++) {
      const w = key.charCodeAt(at + i);
      a[2 * i] = w >> 8;
      a[2 * i + 1] = w & 255;
    }
    return a;
  };
  return {
    ipVersion: v6 ? 6 : 4,
    protocol: key.charCodeAt(0),
    first: { address: addr(1), port: key.charCodeAt(1 + words) },
    second: { address: addr(2 + words), port: key.charCodeAt(2 + 2 * words) },
  };
}

/** The key `parseFlowPacket` makes for a packet from `src`:`srcPort` to `dst`:`dstPort` (for lookups). */
export function flowKey(
  protocol: number,
  src: Uint8Array,
  srcPort: number,
  dst: Uint8Array,
  dstPort: number,
): string {
  const scratch = new FlowPacket();
  scratch.srcPort = srcPort;
  scratch.dstPort = dstPort;
  const b = new Uint8Array(src.length * 2);
  b.set(src, 0);
  b.set(dst, src.length);
  return src.length === 4 ? keyV4(protocol, b, 0, 4, scratch) : keyV6(protocol, b, 0, 16, scratch);
}

/**
 * Reads what connection tracking needs from a network packet: addresses,
 * ports (or the ICMP echo identifier), TCP segment fields, and builds the
 * flow key. One scratch `FlowPacket` is reused for every packet; nothing
 * here throws on any input.
 */
import { ICMPV4_ECHO, ICMPV4_ECHO_REPLY, Icmpv4Header } from "../header/icmpv4.ts";
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, Icmpv6Header } from "../header/icmpv6.ts";
import { IPV4_DST_OFFSET, IPV4_SRC_OFFSET, Ipv4Header } from "../header/ipv4.ts";
import { IPV6_DST_OFFSET, IPV6_HEADER_SIZE, IPV6_SRC_OFFSET, Ipv6Header } from "../header/ipv6.ts";
import { IPV6_EXT_OK, Ipv6ExtensionIterator } from "../header/ipv6-extension.ts";
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
const extensions = new Ipv6ExtensionIterator();
/** Header views reused for every packet (parsing is synchronous; issue 10: no object per packet). */
const v4Header = new Ipv4Header(new Uint8Array(0), 0);
const tcpHeader = new TcpHeader(new Uint8Array(0), 0);

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
  const ip = v4Header.reset(b, off);
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
  const ip = new Ipv6Header(b, off);
  // RFC 2675 jumbograms (Payload Length 0) are not supported: treated as malformed.
  if (!ip.isValid(len) || ip.payloadLength === 0) return PARSE_MALFORMED;
  const total = IPV6_HEADER_SIZE + ip.payloadLength;
  const it = extensions.reset(b, ip.payloadOffset, ip.payloadLength, ip.nextHeader);
  while (it.next()) {}
  if (it.error !== IPV6_EXT_OK) return PARSE_MALFORMED;
  // RFC 8200 §4.5: only the first fragment carries the upper-layer header.
  if (it.nonFirstFragment) return PARSE_UNTRACKED;
  out.ipVersion = 6;
  out.ipLength = total;
  const proto = it.upperLayer;
  const st = parseTransport(
    proto,
    b,
    it.upperOffset,
    off + total - it.upperOffset,
    out,
    ICMPV6_PROTOCOL_NUMBER,
  );
  if (st !== PARSE_OK) return st;
  out.key = keyV6(proto, b, off + IPV6_SRC_OFFSET, off + IPV6_DST_OFFSET, out);
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
    const tcp = tcpHeader.reset(b, off);
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
    const v4 = proto === ICMPV4_PROTOCOL_NUMBER;
    let type: number;
    let ident: number;
    if (v4) {
      const icmp = new Icmpv4Header(b, off);
      if (!icmp.isValid(len)) return PARSE_MALFORMED;
      type = icmp.type;
      ident = icmp.ident;
    } else {
      const icmp = new Icmpv6Header(b, off);
      if (!icmp.isValid(len)) return PARSE_MALFORMED;
      type = icmp.type;
      ident = icmp.ident;
    }
    const request = v4 ? ICMPV4_ECHO : ICMPV6_ECHO_REQUEST;
    const reply = v4 ? ICMPV4_ECHO_REPLY : ICMPV6_ECHO_REPLY;
    if (type !== request && type !== reply) return PARSE_UNTRACKED;
    out.icmpRequest = type === request;
    // Both directions of an echo exchange carry the same identifier (RFC 792, RFC 4443 §4.1, §4.2).
    out.srcPort = ident;
    out.dstPort = ident;
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
  return cmp <= 0 ? cachedKeyV4(proto, s0, s1, sp, d0, d1, dp) : cachedKeyV4(proto, d0, d1, dp, s0, s1, sp);
}

/**
 * The last keys built, 4 slots picked by the ports (issue 10): a packet of a flow seen just before
 * reuses its string instead of building a new one, and the Map lookup then hashes nothing (a
 * string's hash is kept with it). Both directions of a flow have the same key, so a bulk transfer
 * and its ACKs hit the same slot. Slot i holds the 7 code units at v4Units[7 * i].
 */
const V4_SLOTS = 4;
const v4Units = new Int32Array(7 * V4_SLOTS).fill(-1);
const v4Keys: string[] = new Array<string>(V4_SLOTS).fill("");

function cachedKeyV4(
  p: number,
  a0: number,
  a1: number,
  ap: number,
  b0: number,
  b1: number,
  bp: number,
): string {
  const slot = (ap ^ bp) & (V4_SLOTS - 1);
  const u = v4Units;
  const i = 7 * slot;
  if (
    u[i] === p &&
    u[i + 1] === a0 &&
    u[i + 2] === a1 &&
    u[i + 3] === ap &&
    u[i + 4] === b0 &&
    u[i + 5] === b1 &&
    u[i + 6] === bp
  ) {
    return v4Keys[slot]!;
  }
  const k = String.fromCharCode(p, a0, a1, ap, b0, b1, bp);
  u[i] = p;
  u[i + 1] = a0;
  u[i + 2] = a1;
  u[i + 3] = ap;
  u[i + 4] = b0;
  u[i + 5] = b1;
  u[i + 6] = bp;
  v4Keys[slot] = k;
  return k;
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

/**
 * Composable packet assertions for tests, after the seed's `checker` package:
 *
 *     checkIpv4(pkt, src(a), dst(b), ttl(64),
 *       tcp(srcPort(1), flags(TCP_SYN | TCP_ACK), ackNum(irs + 1), mss(1460)))
 *
 * A checker is a function over a `CheckContext`. `checkIpv4`/`checkIpv6`
 * validate the network header (and its checksum), then run their checkers;
 * `tcp`/`udp`/`icmpv4`/`icmpv6` validate the transport header (and its
 * checksum, unless `checksumOffloaded()` is among their checkers) and run
 * theirs. A failure is an `expect` failure whose diff names the field:
 * `{ ttl: 63 }` vs `{ ttl: 64 }`.
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import { ArpHeader } from "../header/arp.ts";
import { checksum, pseudoHeaderChecksum } from "../header/checksum.ts";
import { ETHERNET_HEADER_SIZE, EthernetHeader } from "../header/ethernet.ts";
import { Icmpv4Header } from "../header/icmpv4.ts";
import {
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_PROTOCOL,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  Icmpv6Header,
  NDP_NA_SIZE,
  NDP_NS_SIZE,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_SOURCE_LINK_ADDRESS,
  NDP_OPT_TARGET_LINK_ADDRESS,
  NDP_OPTIONS_OK,
  NDP_RA_SIZE,
  NDP_REDIRECT_SIZE,
  NDP_RS_SIZE,
  NdpNeighborAdvert,
  NdpOptionIterator,
  NdpRouterAdvert,
} from "../header/icmpv6.ts";
import { Ipv4Header } from "../header/ipv4.ts";
import { Ipv6Header } from "../header/ipv6.ts";
import { IPV6_FRAGMENT, Ipv6ExtensionIterator, Ipv6FragmentHeader } from "../header/ipv6-extension.ts";
import { newTcpOptions, parseTcpOptions, TcpHeader, type TcpOptions } from "../header/tcp.ts";
import { UdpHeader } from "../header/udp.ts";
import { Address } from "../tcpip/address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import { expect } from "./testing/expect.ts";

const TCP = 6;
const UDP = 17;
const ICMPV4 = 1;

/** What a checker sees: the network header, and the transport header once `tcp()`/`udp()`/... parsed it. */
export interface CheckContext {
  b: Uint8Array;
  /** 4 or 6. */
  version: number;
  ipv4?: Ipv4Header;
  ipv6?: Ipv6Header;
  /** The Fragment header of an IPv6 packet, if it has one. */
  ipv6Fragment?: Ipv6FragmentHeader;
  /** Protocol after the IPv4 header or the IPv6 extension chain. */
  protocol: number;
  /** Absolute offset and length of what follows the network headers (extension headers included). */
  payloadOffset: number;
  payloadLength: number;
  transport?: TransportContext;
}

export interface TransportContext {
  protocol: number;
  off: number;
  len: number;
  tcp?: TcpHeader;
  tcpOptions?: TcpOptions;
  udp?: UdpHeader;
  icmpv4?: Icmpv4Header;
  icmpv6?: Icmpv6Header;
  /** Absolute offset of the transport payload (after the TCP/UDP header, or the 8-byte ICMP header). */
  payloadOffset: number;
}

export type Checker = ((c: CheckContext) => void) & { readonly [OFFLOAD]?: true };
const OFFLOAD = Symbol("checksumOffloaded");

function eq(field: string, actual: unknown, want: unknown): void {
  if (actual !== want) expect({ [field]: actual }).toEqual({ [field]: want });
}

function fail(message: string): never {
  expect(message).toBe("");
  throw new Error(message);
}

function bytesOf(pkt: Uint8Array | PacketBuffer): Uint8Array {
  return pkt instanceof Uint8Array ? pkt : pkt.bytes();
}

function asAddress(a: Address | string): Address {
  return typeof a === "string" ? Address.parse(a) : a;
}

function transportOf(c: CheckContext, what: string): TransportContext {
  if (!c.transport)
    fail(`${what}: no transport header parsed; wrap it in tcp(...), udp(...), icmpv4(...) or icmpv6(...)`);
  return c.transport;
}

// ---------------------------------------------------------------------------
// Network layer.

/** Asserts `pkt` is a valid IPv4 datagram (header and checksum, RFC 791) and runs `checkers`. */
export function checkIpv4(pkt: Uint8Array | PacketBuffer, ...checkers: Checker[]): void {
  const b = bytesOf(pkt);
  const h = new Ipv4Header(b, 0);
  if (!h.isValid(b.length))
    fail(`checkIpv4: not a valid IPv4 header (${b.length} bytes, first byte ${b[0]})`);
  eq("ipv4HeaderChecksumValid", h.isChecksumValid(), true);
  eq("ipv4TotalLength", h.totalLength, b.length);
  const c: CheckContext = {
    b,
    version: 4,
    ipv4: h,
    protocol: h.protocol,
    payloadOffset: h.headerLength,
    payloadLength: h.payloadLength,
  };
  for (const ch of checkers) ch(c);
}

/** Asserts `pkt` is a valid IPv6 packet (RFC 8200 §3, well-formed extension chain) and runs `checkers`. */
export function checkIpv6(pkt: Uint8Array | PacketBuffer, ...checkers: Checker[]): void {
  const b = bytesOf(pkt);
  const h = new Ipv6Header(b, 0);
  if (!h.isValid(b.length))
    fail(`checkIpv6: not a valid IPv6 header (${b.length} bytes, first byte ${b[0]})`);
  eq("ipv6PayloadLength", h.payloadLength + 40, b.length);
  const it = new Ipv6ExtensionIterator().reset(b, 40, h.payloadLength, h.nextHeader);
  let frag: Ipv6FragmentHeader | undefined;
  while (it.next()) if (it.type === IPV6_FRAGMENT) frag = new Ipv6FragmentHeader(b, it.headerOffset);
  eq("ipv6ExtensionError", it.error, 0);
  const c: CheckContext = {
    b,
    version: 6,
    ipv6: h,
    protocol: it.upperLayer,
    payloadOffset: it.upperOffset,
    payloadLength: 40 + h.payloadLength - it.upperOffset,
  };
  if (frag) c.ipv6Fragment = frag;
  for (const ch of checkers) ch(c);
}

/** Source address (IPv4 or IPv6). */
export function src(a: Address | string): Checker {
  const want = asAddress(a);
  return (c) => eq("src", (c.ipv4 ?? c.ipv6)!.srcAddress().toString(), want.toString());
}

/** Destination address (IPv4 or IPv6). */
export function dst(a: Address | string): Checker {
  const want = asAddress(a);
  return (c) => eq("dst", (c.ipv4 ?? c.ipv6)!.dstAddress().toString(), want.toString());
}

/** IPv4 TTL or IPv6 Hop Limit. */
export function ttl(n: number): Checker {
  return (c) => eq("ttl", c.ipv4 ? c.ipv4.ttl : c.ipv6!.hopLimit, n);
}

/** IPv4 TOS or IPv6 Traffic Class. */
export function tos(n: number): Checker {
  return (c) => eq("tos", c.ipv4 ? c.ipv4.tos : c.ipv6!.trafficClass, n);
}

/** IPv6 Flow Label. */
export function flowLabel(n: number): Checker {
  return (c) => eq("flowLabel", c.ipv6?.flowLabel, n);
}

/** The upper-layer protocol (after the IPv6 extension chain). */
export function protocol(n: number): Checker {
  return (c) => eq("protocol", c.protocol, n);
}

/** Bytes after the IPv4 header, or after the IPv6 fixed header (extensions included). */
export function payloadLength(n: number): Checker {
  return (c) => eq("payloadLength", c.ipv4 ? c.ipv4.payloadLength : c.ipv6!.payloadLength, n);
}

/** IPv4 Identification or the IPv6 Fragment header's Identification. */
export function fragmentId(n: number): Checker {
  return (c) => eq("fragmentId", c.ipv4 ? c.ipv4.id : c.ipv6Fragment?.id, n);
}

/** IPv4 Identification. */
export function ipv4Id(n: number): Checker {
  return (c) => eq("ipv4Id", c.ipv4?.id, n);
}

/** Fragment offset in bytes (IPv4, or the IPv6 Fragment header; 0 for an unfragmented IPv6 packet). */
export function fragmentOffset(n: number): Checker {
  return (c) =>
    eq("fragmentOffset", c.ipv4 ? c.ipv4.fragmentOffset : (c.ipv6Fragment?.fragmentOffset ?? 0), n);
}

/** The MF flag (IPv4) or M flag (IPv6 Fragment header; false when there is none). */
export function moreFragments(more: boolean): Checker {
  return (c) => eq("moreFragments", c.ipv4 ? c.ipv4.moreFragments : (c.ipv6Fragment?.more ?? false), more);
}

/** IPv4 DF flag. */
export function dontFragment(df: boolean): Checker {
  return (c) => eq("dontFragment", c.ipv4?.dontFragment, df);
}

/** Whether an IPv6 packet carries a Fragment header. */
export function hasFragmentHeader(has: boolean): Checker {
  return (c) => eq("hasFragmentHeader", c.ipv6Fragment !== undefined, has);
}

/**
 * The payload: after the transport header inside `tcp()`/`udp()`/`icmpv4()`/`icmpv6()`
 * (after the 8-byte ICMP header), otherwise after the network headers.
 */
export function payload(bytes: Uint8Array | string): Checker {
  const want = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return (c) => {
    const end = c.payloadOffset + c.payloadLength;
    const from = c.transport ? c.transport.payloadOffset : c.payloadOffset;
    const got = c.b.subarray(from, c.transport ? c.transport.off + c.transport.len : end);
    expect({ payload: Array.from(got) }).toEqual({ payload: Array.from(want) });
  };
}

/** Only the payload length. */
export function payloadSize(n: number): Checker {
  return (c) => {
    const t = transportOf(c, "payloadSize");
    eq("payloadSize", t.off + t.len - t.payloadOffset, n);
  };
}

/** Turns off the transport checksum verification of the enclosing `tcp()`/`udp()`/`icmpv6()` (checksum offload). */
export function checksumOffloaded(): Checker {
  const f = (() => undefined) as unknown as Checker;
  Object.defineProperty(f, OFFLOAD, { value: true });
  return f;
}

function verifyTransportChecksum(c: CheckContext, proto: number, what: string, checkers: Checker[]): void {
  if (checkers.some((ch) => ch[OFFLOAD])) return;
  const ip = c.ipv4 ?? c.ipv6!;
  const sum = checksum(
    c.b,
    c.payloadOffset,
    c.payloadLength,
    pseudoHeaderChecksum(proto, ip.srcAddress(), ip.dstAddress(), c.payloadLength),
  );
  eq(`${what}ChecksumValid`, sum === 0xffff, true);
}

function withTransport(c: CheckContext, t: TransportContext, checkers: Checker[]): void {
  const inner: CheckContext = { ...c, transport: t };
  for (const ch of checkers) ch(inner);
}

// ---------------------------------------------------------------------------
// TCP (RFC 9293 §3.1).

/** Asserts the transport is a valid TCP segment with a correct checksum, then runs `checkers` on it. */
export function tcp(...checkers: Checker[]): Checker {
  return (c) => {
    eq("protocol", c.protocol, TCP);
    const h = new TcpHeader(c.b, c.payloadOffset);
    if (!h.isValid(c.payloadLength)) fail(`tcp: not a valid TCP header (${c.payloadLength} bytes)`);
    verifyTransportChecksum(c, TCP, "tcp", checkers);
    const tcpOptions = parseTcpOptions(c.b, h.optionsOffset, h.optionsLength, newTcpOptions());
    withTransport(
      c,
      {
        protocol: TCP,
        off: c.payloadOffset,
        len: c.payloadLength,
        tcp: h,
        tcpOptions,
        payloadOffset: h.payloadOffset,
      },
      checkers,
    );
  };
}

function tcpOf(c: CheckContext, what: string): TcpHeader {
  const t = transportOf(c, what);
  if (!t.tcp) fail(`${what}: not a TCP segment`);
  return t.tcp;
}

function optionsOf(c: CheckContext, what: string): TcpOptions {
  tcpOf(c, what);
  return c.transport!.tcpOptions!;
}

/** Source port (TCP or UDP). */
export function srcPort(n: number): Checker {
  return (c) => {
    const t = transportOf(c, "srcPort");
    eq("srcPort", (t.tcp ?? t.udp)?.srcPort, n);
  };
}

/** Destination port (TCP or UDP). */
export function dstPort(n: number): Checker {
  return (c) => {
    const t = transportOf(c, "dstPort");
    eq("dstPort", (t.tcp ?? t.udp)?.dstPort, n);
  };
}

export function seqNum(n: number): Checker {
  return (c) => eq("seqNum", tcpOf(c, "seqNum").sequenceNumber, n >>> 0);
}

export function ackNum(n: number): Checker {
  return (c) => eq("ackNum", tcpOf(c, "ackNum").ackNumber, n >>> 0);
}

/** All eight control bits, exactly (`TCP_SYN | TCP_ACK`). */
export function flags(n: number): Checker {
  return (c) => eq("flags", flagNames(tcpOf(c, "flags").flags), flagNames(n));
}

/** The control bits under `mask` equal `n` (e.g. `flagsMatch(TCP_ACK, TCP_ACK)` = ACK set, others free). */
export function flagsMatch(n: number, mask: number): Checker {
  return (c) => eq("flags", flagNames(tcpOf(c, "flags").flags & mask), flagNames(n & mask));
}

const FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
function flagNames(f: number): string {
  const out: string[] = [];
  for (let i = 0; i < 8; i++) if (f & (1 << i)) out.push(FLAG_NAMES[i]!);
  return out.join("|") || "none";
}

/** The unscaled window field. */
export function window(n: number): Checker {
  return (c) => eq("window", tcpOf(c, "window").windowSize, n);
}

export function urgentPointer(n: number): Checker {
  return (c) => eq("urgentPointer", tcpOf(c, "urgentPointer").urgentPointer, n);
}

/** TCP header length in bytes. */
export function dataOffset(n: number): Checker {
  return (c) => eq("dataOffset", tcpOf(c, "dataOffset").dataOffset, n);
}

/** MSS option value (0 = absent). */
export function mss(n: number): Checker {
  return (c) => eq("mss", optionsOf(c, "mss").mss, n);
}

/** Window scale shift (-1 = absent). */
export function windowScale(n: number): Checker {
  return (c) => eq("windowScale", optionsOf(c, "windowScale").windowScale, n);
}

export function sackPermitted(p: boolean): Checker {
  return (c) => eq("sackPermitted", optionsOf(c, "sackPermitted").sackPermitted, p);
}

/** The Timestamps option is present (RFC 7323 §3), with these values where given. */
export function timestamp(tsVal?: number, tsEcr?: number): Checker {
  return (c) => {
    const o = optionsOf(c, "timestamp");
    eq("timestamp", o.timestamp, true);
    if (tsVal !== undefined) eq("tsVal", o.tsVal, tsVal >>> 0);
    if (tsEcr !== undefined) eq("tsEcr", o.tsEcr, tsEcr >>> 0);
  };
}

/** No Timestamps option. */
export function noTimestamp(): Checker {
  return (c) => eq("timestamp", optionsOf(c, "noTimestamp").timestamp, false);
}

/** SACK blocks exactly, flat as [left, right, ...] (none = no SACK option). */
export function sackBlocks(...blocks: number[]): Checker {
  return (c) =>
    expect({ sackBlocks: optionsOf(c, "sackBlocks").sackBlocks }).toEqual({
      sackBlocks: blocks.map((x) => x >>> 0),
    });
}

// ---------------------------------------------------------------------------
// UDP (RFC 768).

/** Asserts the transport is a valid UDP datagram (checksum verified when non-zero over IPv4, always over IPv6). */
export function udp(...checkers: Checker[]): Checker {
  return (c) => {
    eq("protocol", c.protocol, UDP);
    const h = new UdpHeader(c.b, c.payloadOffset);
    if (!h.isValid(c.payloadLength)) fail(`udp: not a valid UDP header (${c.payloadLength} bytes)`);
    eq("udpLength", h.length, c.payloadLength);
    // RFC 768: zero means no checksum over IPv4; RFC 8200 §8.1: mandatory over IPv6.
    if (c.version === 6 || h.checksum !== 0) verifyTransportChecksum(c, UDP, "udp", checkers);
    withTransport(
      c,
      { protocol: UDP, off: c.payloadOffset, len: c.payloadLength, udp: h, payloadOffset: h.payloadOffset },
      checkers,
    );
  };
}

export function udpLength(n: number): Checker {
  return (c) => eq("udpLength", transportOf(c, "udpLength").udp?.length, n);
}

/** The UDP checksum field (0 = none, IPv4 only). */
export function udpChecksum(n: number): Checker {
  return (c) => eq("udpChecksum", transportOf(c, "udpChecksum").udp?.checksum, n);
}

// ---------------------------------------------------------------------------
// ICMPv4 (RFC 792) and ICMPv6 (RFC 4443).

/** Asserts the transport is ICMPv4 with a correct checksum, then runs `checkers`. */
export function icmpv4(...checkers: Checker[]): Checker {
  return (c) => {
    eq("protocol", c.protocol, ICMPV4);
    const h = new Icmpv4Header(c.b, c.payloadOffset);
    if (!h.isValid(c.payloadLength)) fail(`icmpv4: not a valid ICMPv4 header (${c.payloadLength} bytes)`);
    if (!checkers.some((ch) => ch[OFFLOAD]))
      eq("icmpv4ChecksumValid", h.isChecksumValid(c.payloadLength), true);
    withTransport(
      c,
      {
        protocol: ICMPV4,
        off: c.payloadOffset,
        len: c.payloadLength,
        icmpv4: h,
        payloadOffset: h.payloadOffset,
      },
      checkers,
    );
  };
}

/** Asserts the transport is ICMPv6 with a correct checksum (RFC 4443 §2.3), then runs `checkers`. */
export function icmpv6(...checkers: Checker[]): Checker {
  return (c) => {
    eq("protocol", c.protocol, ICMPV6_PROTOCOL);
    const h = new Icmpv6Header(c.b, c.payloadOffset);
    if (!h.isValid(c.payloadLength)) fail(`icmpv6: not a valid ICMPv6 header (${c.payloadLength} bytes)`);
    verifyTransportChecksum(c, ICMPV6_PROTOCOL, "icmpv6", checkers);
    withTransport(
      c,
      {
        protocol: ICMPV6_PROTOCOL,
        off: c.payloadOffset,
        len: c.payloadLength,
        icmpv6: h,
        payloadOffset: h.payloadOffset,
      },
      checkers,
    );
  };
}

function icmpOf(c: CheckContext, what: string): Icmpv4Header | Icmpv6Header {
  const t = transportOf(c, what);
  const h = t.icmpv4 ?? t.icmpv6;
  if (!h) fail(`${what}: not an ICMP message`);
  return h;
}

export function icmpType(n: number): Checker {
  return (c) => eq("icmpType", icmpOf(c, "icmpType").type, n);
}

export function icmpCode(n: number): Checker {
  return (c) => eq("icmpCode", icmpOf(c, "icmpCode").code, n);
}

/** Echo identifier. */
export function icmpIdent(n: number): Checker {
  return (c) => eq("icmpIdent", icmpOf(c, "icmpIdent").ident, n);
}

/** Echo sequence number. */
export function icmpSequence(n: number): Checker {
  return (c) => eq("icmpSequence", icmpOf(c, "icmpSequence").sequence, n);
}

/** Next-hop MTU (ICMPv4 fragmentation needed, RFC 1191) or Packet Too Big MTU (ICMPv6). */
export function icmpMtu(n: number): Checker {
  return (c) => eq("icmpMtu", icmpOf(c, "icmpMtu").mtu, n);
}

/** Parameter Problem pointer. */
export function icmpPointer(n: number): Checker {
  return (c) => eq("icmpPointer", icmpOf(c, "icmpPointer").pointer, n);
}

// NDP (RFC 4861).

function ndpBodySize(type: number): number {
  switch (type) {
    case ICMPV6_ROUTER_SOLICIT:
      return NDP_RS_SIZE;
    case ICMPV6_ROUTER_ADVERT:
      return NDP_RA_SIZE;
    case ICMPV6_NEIGHBOR_SOLICIT:
      return NDP_NS_SIZE;
    case ICMPV6_NEIGHBOR_ADVERT:
      return NDP_NA_SIZE;
    case ICMPV6_REDIRECT:
      return NDP_REDIRECT_SIZE;
    default:
      return -1;
  }
}

function ndpOf(c: CheckContext, what: string): { h: Icmpv6Header; size: number } {
  const t = transportOf(c, what);
  if (!t.icmpv6) fail(`${what}: not an ICMPv6 message`);
  const size = ndpBodySize(t.icmpv6.type);
  if (size < 0) fail(`${what}: ICMPv6 type ${t.icmpv6.type} is not an NDP message`);
  if (t.len < size) fail(`${what}: NDP message of ${t.len} bytes is shorter than ${size}`);
  return { h: t.icmpv6, size };
}

/** Target Address of an NS, NA or Redirect. */
export function ndpTarget(a: Address | string): Checker {
  const want = asAddress(a).toString();
  return (c) => {
    const { h } = ndpOf(c, "ndpTarget");
    eq("ndpTarget", Address.fromBytes(c.b, h.off + 8, 16).toString(), want);
  };
}

/** Neighbor Advertisement flags (RFC 4861 §4.4); unspecified flags are not checked. */
export function ndpNaFlags(f: { router?: boolean; solicited?: boolean; override?: boolean }): Checker {
  return (c) => {
    const { h } = ndpOf(c, "ndpNaFlags");
    eq("icmpType", h.type, ICMPV6_NEIGHBOR_ADVERT);
    const na = new NdpNeighborAdvert(c.b, h.off);
    if (f.router !== undefined) eq("router", na.router, f.router);
    if (f.solicited !== undefined) eq("solicited", na.solicited, f.solicited);
    if (f.override !== undefined) eq("override", na.override, f.override);
  };
}

/** Router Advertisement fields (RFC 4861 §4.2); unspecified fields are not checked. */
export function ndpRouterAdvert(f: {
  curHopLimit?: number;
  managed?: boolean;
  other?: boolean;
  routerLifetime?: number;
  reachableTime?: number;
  retransTimer?: number;
}): Checker {
  return (c) => {
    const { h } = ndpOf(c, "ndpRouterAdvert");
    eq("icmpType", h.type, ICMPV6_ROUTER_ADVERT);
    const ra = new NdpRouterAdvert(c.b, h.off);
    for (const k of Object.keys(f) as (keyof typeof f)[]) eq(k, ra[k], f[k]);
  };
}

/** NDP option types in order, all well-formed (RFC 4861 §4.6). */
export function ndpOptions(...types: number[]): Checker {
  return (c) => {
    const { h, size } = ndpOf(c, "ndpOptions");
    const t = c.transport!;
    const it = new NdpOptionIterator().reset(c.b, h.off + size, t.len - size);
    const got: number[] = [];
    while (it.next()) got.push(it.type);
    eq("ndpOptionsError", it.error, NDP_OPTIONS_OK);
    expect({ ndpOptions: got }).toEqual({ ndpOptions: types });
  };
}

function ndpOption(c: CheckContext, what: string, type: number): NdpOptionIterator {
  const { h, size } = ndpOf(c, what);
  const it = new NdpOptionIterator().reset(c.b, h.off + size, c.transport!.len - size);
  while (it.next()) if (it.type === type) return it;
  return fail(`${what}: no option of type ${type}`);
}

/** The Source Link-Layer Address option (RFC 4861 §4.6.1). */
export function ndpSourceLinkAddress(mac: LinkAddress): Checker {
  return (c) =>
    eq(
      "ndpSourceLinkAddress",
      ndpOption(c, "ndpSourceLinkAddress", NDP_OPT_SOURCE_LINK_ADDRESS).linkAddress(mac.length)?.toString(),
      mac.toString(),
    );
}

/** The Target Link-Layer Address option (RFC 4861 §4.6.1). */
export function ndpTargetLinkAddress(mac: LinkAddress): Checker {
  return (c) =>
    eq(
      "ndpTargetLinkAddress",
      ndpOption(c, "ndpTargetLinkAddress", NDP_OPT_TARGET_LINK_ADDRESS).linkAddress(mac.length)?.toString(),
      mac.toString(),
    );
}

/** The MTU option (RFC 4861 §4.6.4). */
export function ndpMtu(n: number): Checker {
  return (c) => eq("ndpMtu", ndpOption(c, "ndpMtu", NDP_OPT_MTU).mtu(), n);
}

/** A Prefix Information option with this prefix (RFC 4861 §4.6.2); other given fields are checked too. */
export function ndpPrefix(
  prefix: Address | string,
  f: {
    prefixLength?: number;
    onLink?: boolean;
    autonomous?: boolean;
    validLifetime?: number;
    preferredLifetime?: number;
  } = {},
): Checker {
  const want = asAddress(prefix).toString();
  return (c) => {
    const { h, size } = ndpOf(c, "ndpPrefix");
    const it = new NdpOptionIterator().reset(c.b, h.off + size, c.transport!.len - size);
    while (it.next()) {
      if (it.type !== NDP_OPT_PREFIX_INFO) continue;
      const p = it.prefixInformation();
      if (!p.isValid(it.length) || p.prefix().toString() !== want) continue;
      for (const k of Object.keys(f) as (keyof typeof f)[]) eq(k, p[k], f[k]);
      return;
    }
    fail(`ndpPrefix: no Prefix Information option for ${want}`);
  };
}

/** The whole ICMP message length (header plus body). */
export function icmpLength(n: number): Checker {
  return (c) => eq("icmpLength", transportOf(c, "icmpLength").len, n);
}

// ---------------------------------------------------------------------------
// Link layer.

/** Asserts an Ethernet frame's fields (unspecified ones are not checked) and returns its payload view. */
export function checkEthernet(
  frame: Uint8Array | PacketBuffer,
  f: { src?: LinkAddress; dst?: LinkAddress; type?: number },
): Uint8Array {
  const b = bytesOf(frame);
  const h = new EthernetHeader(b, 0);
  if (!h.isValid(b.length)) fail(`checkEthernet: ${b.length} bytes is not an Ethernet frame`);
  if (f.src) eq("ethernetSrc", h.srcAddress().toString(), f.src.toString());
  if (f.dst) eq("ethernetDst", h.dstAddress().toString(), f.dst.toString());
  if (f.type !== undefined) eq("ethernetType", h.type, f.type);
  return b.subarray(ETHERNET_HEADER_SIZE);
}

/** Asserts a valid Ethernet/IPv4 ARP packet (RFC 826) with these fields (unspecified ones are not checked). */
export function checkArp(
  pkt: Uint8Array | PacketBuffer,
  f: {
    op?: number;
    senderHw?: LinkAddress;
    senderIp?: Address | string;
    targetHw?: LinkAddress;
    targetIp?: Address | string;
  },
): void {
  const b = bytesOf(pkt);
  const h = new ArpHeader(b, 0);
  if (!h.isValid(b.length)) fail(`checkArp: not a valid Ethernet/IPv4 ARP packet (${b.length} bytes)`);
  if (f.op !== undefined) eq("arpOp", h.op, f.op);
  if (f.senderHw) eq("arpSenderHw", h.senderHardwareAddress().toString(), f.senderHw.toString());
  if (f.senderIp) eq("arpSenderIp", h.senderProtocolAddress().toString(), asAddress(f.senderIp).toString());
  if (f.targetHw) eq("arpTargetHw", h.targetHardwareAddress().toString(), f.targetHw.toString());
  if (f.targetIp) eq("arpTargetIp", h.targetProtocolAddress().toString(), asAddress(f.targetIp).toString());
}

import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../buffer/packet-buffer.ts";
import { ARP_REPLY, ARP_REQUEST } from "../header/arp.ts";
import { ETHERTYPE_ARP, ETHERTYPE_IPV6 } from "../header/ethernet.ts";
import {
  encodeIcmpv4,
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_ECHO,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_PORT_UNREACHABLE,
} from "../header/icmpv4.ts";
import {
  encodeIcmpv6,
  encodeNdpRouterAdvert,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_ROUTER_SOLICIT,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_SOURCE_LINK_ADDRESS,
  NDP_OPT_TARGET_LINK_ADDRESS,
  setIcmpv6Checksum,
} from "../header/icmpv6.ts";
import { encodeIpv4 } from "../header/ipv4.ts";
import { encodeIpv6 } from "../header/ipv6.ts";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from "../header/tcp.ts";
import { findFrame, icmpv6TypeOf, loadFrame, loadFrames } from "../header/testing/fixtures.ts";
import { Address } from "../tcpip/address.ts";
import { LinkAddress, parseMACAddress } from "../tcpip/link-address.ts";
import {
  ackNum,
  checkArp,
  checkEthernet,
  checkIpv4,
  checkIpv6,
  checksumOffloaded,
  dataOffset,
  dontFragment,
  dst,
  dstPort,
  flags,
  flagsMatch,
  flowLabel,
  fragmentId,
  fragmentOffset,
  hasFragmentHeader,
  icmpCode,
  icmpIdent,
  icmpLength,
  icmpMtu,
  icmpPointer,
  icmpSequence,
  icmpType,
  icmpv4,
  icmpv6,
  ipv4Id,
  moreFragments,
  mss,
  ndpMtu,
  ndpNaFlags,
  ndpOptions,
  ndpPrefix,
  ndpRouterAdvert,
  ndpSourceLinkAddress,
  ndpTarget,
  ndpTargetLinkAddress,
  noTimestamp,
  payload,
  payloadLength,
  payloadSize,
  protocol,
  sackBlocks,
  sackPermitted,
  seqNum,
  src,
  srcPort,
  tcp,
  timestamp,
  tos,
  ttl,
  udp,
  udpChecksum,
  udpLength,
  urgentPointer,
  window,
  windowScale,
} from "./checker.ts";

const ip = (name: string, i: number) => loadFrame(name, i).subarray(14);
const A4 = "198.18.0.1";
const B4 = "198.18.0.2";
const A6 = "fd00::1";
const B6 = "fd00::2";
const MAC_A = parseMACAddress("02:00:00:00:00:01");
const MAC_B = parseMACAddress("02:00:00:00:00:02");

describe("checkIpv4", () => {
  test("a captured SYN passes every field checker", () => {
    checkIpv4(
      ip("tcp4", 0),
      src(A4),
      dst(Address.parse(B4)),
      ttl(64),
      tos(0),
      protocol(6),
      payloadLength(40),
      ipv4Id(30005),
      dontFragment(true),
      moreFragments(false),
      fragmentOffset(0),
      tcp(
        srcPort(44902),
        dstPort(7000),
        seqNum(2440400729),
        ackNum(0),
        flags(TCP_SYN),
        flagsMatch(TCP_SYN, TCP_SYN | TCP_ACK),
        window(64240),
        urgentPointer(0),
        dataOffset(40),
        mss(1460),
        windowScale(10),
        sackPermitted(true),
        timestamp(4076352251, 0),
        sackBlocks(),
        payloadSize(0),
      ),
    );
  });

  test("a captured SYN-ACK and data segment", () => {
    checkIpv4(
      ip("tcp4", 1),
      src(B4),
      tcp(flags(TCP_SYN | TCP_ACK), ackNum(2440400730), mss(1460), timestamp()),
    );
    checkIpv4(
      ip("tcp4", 3),
      tcp(
        flags(TCP_PSH | TCP_ACK),
        mss(0),
        windowScale(-1),
        sackPermitted(false),
        payload("hello, netstack\n"),
      ),
    );
  });

  test("captured SACK blocks", () => {
    checkIpv4(ip("tcp4-sack", 0), tcp(flags(TCP_ACK), sackBlocks(0x0b64b51d, 0x0b64b8d5), timestamp()));
  });

  test("captured fragments", () => {
    const [f0, f1, f2] = loadFrames("ipv4-frag").map((f) => f.subarray(14));
    const id = (f0![4]! << 8) | f0![5]!;
    checkIpv4(f0!, fragmentId(id), fragmentOffset(0), moreFragments(true), dontFragment(false));
    checkIpv4(f1!, fragmentId(id), fragmentOffset(1480), moreFragments(true), payloadLength(1480));
    checkIpv4(f2!, fragmentOffset(2960), moreFragments(false), payloadLength(48));
  });

  test("captured ICMPv4 echo and port unreachable", () => {
    checkIpv4(ip("arp", 2), icmpv4(icmpType(ICMPV4_ECHO), icmpCode(0), icmpSequence(1), icmpLength(64)));
    const f = ip("arp", 2);
    checkIpv4(f, icmpv4(icmpIdent((f[24]! << 8) | f[25]!)));
    checkIpv4(
      ip("icmpv4-unreach", 1),
      tos(0xc0),
      icmpv4(icmpType(ICMPV4_DST_UNREACHABLE), icmpCode(ICMPV4_PORT_UNREACHABLE)),
    );
  });

  test("captured UDP with its payload", () => {
    checkIpv4(
      ip("udp4", 0),
      udp(srcPort(47719), dstPort(7002), udpLength(21), udpChecksum(0x544f), payload("netstack udp\n")),
    );
  });

  test("network payload without a transport checker", () => {
    const b = new Uint8Array(24);
    encodeIpv4(b, 0, {
      totalLength: 24,
      ttl: 1,
      protocol: 253,
      src: Address.parse(A4),
      dst: Address.parse(B4),
    });
    b.set([1, 2, 3, 4], 20);
    checkIpv4(b, payload(Uint8Array.of(1, 2, 3, 4)), protocol(253));
  });

  test("ICMPv4 MTU and pointer", () => {
    const b = new Uint8Array(28);
    encodeIcmpv4(b, 20, { type: ICMPV4_DST_UNREACHABLE, code: ICMPV4_FRAG_NEEDED, mtu: 1400 });
    encodeIpv4(b, 0, {
      totalLength: 28,
      ttl: 64,
      protocol: 1,
      src: Address.parse(A4),
      dst: Address.parse(B4),
    });
    checkIpv4(b, icmpv4(icmpMtu(1400), payload(new Uint8Array(0))));
    encodeIcmpv4(b, 20, { type: 12, code: 0, pointer: 8 });
    checkIpv4(b, icmpv4(icmpPointer(8)));
  });

  test("accepts a PacketBuffer", () => {
    checkIpv4(PacketBuffer.wrap(ip("tcp4", 0).slice()), tcp(flags(TCP_SYN)));
  });

  test("mismatches fail and name the field", () => {
    const f = ip("tcp4", 0);
    expect(() => checkIpv4(f, ttl(63))).toThrow(/ttl/);
    expect(() => checkIpv4(f, src(B4))).toThrow(/src/);
    expect(() => checkIpv4(f, tcp(flags(TCP_SYN | TCP_ACK)))).toThrow(/SYN\|ACK/);
    expect(() => checkIpv4(f, tcp(mss(536)))).toThrow(/mss/);
    expect(() => checkIpv4(f, tcp(timestamp(1)))).toThrow(/tsVal/);
    expect(() => checkIpv4(f, tcp(noTimestamp()))).toThrow(/timestamp/);
    expect(() => checkIpv4(f, tcp(sackBlocks(1, 2)))).toThrow(/sackBlocks/);
    expect(() => checkIpv4(f, tcp(payload("x")))).toThrow(/payload/);
    expect(() => checkIpv4(f, udp())).toThrow(/protocol/);
    expect(() => checkIpv4(f, icmpv4())).toThrow(/protocol/);
    expect(() => checkIpv4(f, srcPort(1))).toThrow(/no transport header/);
    expect(() => checkIpv4(ip("udp4", 0), udp(seqNum(1)))).toThrow(/not a TCP segment/);
    expect(() => checkIpv4(ip("udp4", 0), udp(icmpType(1)))).toThrow(/not an ICMP message/);
    expect(() => checkIpv4(ip("tcp6", 0))).toThrow(/not a valid IPv4/);
    expect(() => checkIpv4(f.subarray(0, 30))).toThrow();
  });

  test("a corrupted transport checksum fails unless offloaded", () => {
    const f = ip("tcp4", 0).slice();
    f[36] = f[36]! ^ 0xff;
    expect(() => checkIpv4(f, tcp())).toThrow(/tcpChecksumValid/);
    checkIpv4(f, tcp(checksumOffloaded(), flags(TCP_SYN)));
    const g = ip("tcp4", 0).slice();
    g[10] = g[10]! ^ 0xff;
    expect(() => checkIpv4(g)).toThrow(/ipv4HeaderChecksumValid/);
    const u = ip("udp4", 0).slice();
    u[26] = 0;
    u[27] = 0;
    checkIpv4(u, udp(udpChecksum(0))); // RFC 768: zero = no checksum
    const e = ip("arp", 2).slice();
    e[22] = e[22]! ^ 1;
    expect(() => checkIpv4(e, icmpv4())).toThrow(/icmpv4ChecksumValid/);
    checkIpv4(e, icmpv4(checksumOffloaded()));
  });

  test("invalid transport headers fail", () => {
    const b = new Uint8Array(30);
    encodeIpv4(b, 0, {
      totalLength: 30,
      ttl: 64,
      protocol: 6,
      src: Address.parse(A4),
      dst: Address.parse(B4),
    });
    expect(() => checkIpv4(b, tcp())).toThrow(/not a valid TCP/);
    encodeIpv4(b, 0, {
      totalLength: 24,
      ttl: 64,
      protocol: 17,
      src: Address.parse(A4),
      dst: Address.parse(B4),
    });
    expect(() => checkIpv4(b.subarray(0, 24), udp())).toThrow(/not a valid UDP/);
    encodeIpv4(b, 0, {
      totalLength: 24,
      ttl: 64,
      protocol: 1,
      src: Address.parse(A4),
      dst: Address.parse(B4),
    });
    expect(() => checkIpv4(b.subarray(0, 24), icmpv4())).toThrow(/not a valid ICMPv4/);
  });
});

describe("checkIpv6", () => {
  test("a captured SYN", () => {
    checkIpv6(
      ip("tcp6", 0),
      src(A6),
      dst(B6),
      ttl(64),
      tos(0),
      hasFragmentHeader(false),
      fragmentOffset(0),
      moreFragments(false),
      tcp(flags(TCP_SYN), mss(1440), windowScale(10), sackPermitted(true), timestamp()),
    );
    const f = ip("tcp6", 0);
    checkIpv6(f, flowLabel(((f[1]! & 0x0f) << 16) | (f[2]! << 8) | f[3]!));
    checkIpv6(ip("tcp6", 5), tcp(flagsMatch(TCP_FIN, TCP_FIN)));
  });

  test("captured UDP and ICMPv6 echo and port unreachable", () => {
    checkIpv6(ip("udp6", 0), udp(dstPort(7003), payload("netstack udp6\n")));
    const echo = findFrame("icmpv6-echo-ndp", (f) => icmpv6TypeOf(f) === ICMPV6_ECHO_REQUEST).subarray(14);
    checkIpv6(echo, icmpv6(icmpType(ICMPV6_ECHO_REQUEST), icmpCode(0), icmpSequence(1)));
    const un = findFrame("icmpv6-unreach", (f) => icmpv6TypeOf(f) === 1).subarray(14);
    checkIpv6(un, icmpv6(icmpType(1), icmpCode(4)));
  });

  test("captured fragments with a Fragment header (RFC 8200 §4.5)", () => {
    const fs = loadFrames("ipv6-frag")
      .filter((f) => f[20] === 44)
      .map((f) => f.subarray(14));
    const id = ((fs[0]![44]! << 24) | (fs[0]![45]! << 16) | (fs[0]![46]! << 8) | fs[0]![47]!) >>> 0;
    checkIpv6(
      fs[0]!,
      hasFragmentHeader(true),
      fragmentId(id),
      fragmentOffset(0),
      moreFragments(true),
      protocol(58),
    );
    checkIpv6(fs[1]!, fragmentOffset(1448), moreFragments(true));
    checkIpv6(fs[2]!, fragmentOffset(2896), moreFragments(false), payloadLength(120));
  });

  test("captured NDP: NS, NA, RS with their options", () => {
    const ns = findFrame("icmpv6-echo-ndp", (f) => icmpv6TypeOf(f) === ICMPV6_NEIGHBOR_SOLICIT).subarray(14);
    checkIpv6(
      ns,
      ttl(255),
      dst("ff02::1:ff00:2"),
      icmpv6(
        icmpType(ICMPV6_NEIGHBOR_SOLICIT),
        ndpTarget(B6),
        ndpOptions(NDP_OPT_SOURCE_LINK_ADDRESS),
        ndpSourceLinkAddress(MAC_A),
      ),
    );
    const na = findFrame("icmpv6-echo-ndp", (f) => icmpv6TypeOf(f) === ICMPV6_NEIGHBOR_ADVERT).subarray(14);
    checkIpv6(
      na,
      icmpv6(
        ndpTarget(Address.parse(B6)),
        ndpNaFlags({ router: false, solicited: true, override: true }),
        ndpTargetLinkAddress(MAC_B),
        ndpOptions(NDP_OPT_TARGET_LINK_ADDRESS),
      ),
    );
    checkIpv6(
      ip("ipv6-rs", 0),
      dst("ff02::2"),
      icmpv6(icmpType(ICMPV6_ROUTER_SOLICIT), ndpOptions(NDP_OPT_SOURCE_LINK_ADDRESS)),
    );
    expect(() => checkIpv6(na, icmpv6(ndpNaFlags({ router: true })))).toThrow(/router/);
    expect(() => checkIpv6(na, icmpv6(ndpSourceLinkAddress(MAC_B)))).toThrow(/no option of type 1/);
    expect(() => checkIpv6(na, icmpv6(ndpTarget(A6)))).toThrow(/ndpTarget/);
    expect(() => checkIpv6(na, icmpv6(ndpOptions()))).toThrow(/ndpOptions/);
  });

  test("a built router advertisement", () => {
    const a = Address.parse("fe80::2");
    const b = new Uint8Array(40 + 64);
    const n = encodeNdpRouterAdvert(b, 40, {
      curHopLimit: 64,
      other: true,
      routerLifetime: 1800,
      sourceLinkAddress: MAC_B,
      mtu: 1500,
      prefixes: [
        {
          prefixLength: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 86400,
          preferredLifetime: 14400,
          prefix: Address.parse("fd00:1::"),
        },
      ],
    });
    encodeIpv6(b, 0, { payloadLength: n, nextHeader: 58, hopLimit: 255, src: a, dst: Address.ALL_NODES_V6 });
    setIcmpv6Checksum(b, 40, n, a, Address.ALL_NODES_V6);
    checkIpv6(
      b,
      icmpv6(
        ndpRouterAdvert({
          curHopLimit: 64,
          managed: false,
          other: true,
          routerLifetime: 1800,
          reachableTime: 0,
        }),
        ndpOptions(NDP_OPT_SOURCE_LINK_ADDRESS, NDP_OPT_MTU, NDP_OPT_PREFIX_INFO),
        ndpMtu(1500),
        ndpPrefix("fd00:1::", { prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400 }),
        ndpPrefix("fd00:1::"),
      ),
    );
    expect(() => checkIpv6(b, icmpv6(ndpPrefix("fd00:2::")))).toThrow(/no Prefix Information/);
    expect(() => checkIpv6(b, icmpv6(ndpRouterAdvert({ routerLifetime: 0 })))).toThrow(/routerLifetime/);
    expect(() => checkIpv6(b, icmpv6(ndpNaFlags({})))).toThrow(/icmpType/);
  });

  test("packet too big MTU; non-NDP and short NDP messages are reported", () => {
    const a = Address.parse(A6);
    const d = Address.parse(B6);
    const b = new Uint8Array(48);
    encodeIcmpv6(b, 40, { type: ICMPV6_PACKET_TOO_BIG, code: 0, mtu: 1280, src: a, dst: d });
    encodeIpv6(b, 0, { payloadLength: 8, nextHeader: 58, hopLimit: 64, src: a, dst: d });
    checkIpv6(b, icmpv6(icmpMtu(1280)));
    expect(() => checkIpv6(b, icmpv6(ndpTarget(a)))).toThrow(/not an NDP message/);
    encodeIcmpv6(b, 40, { type: ICMPV6_NEIGHBOR_SOLICIT, code: 0, src: a, dst: d });
    expect(() => checkIpv6(b, icmpv6(ndpTarget(a)))).toThrow(/shorter than 24/);
    expect(() => checkIpv6(ip("udp6", 0), udp(ndpTarget(a)))).toThrow(/not an ICMPv6 message/);
  });

  test("mismatches and malformed packets fail", () => {
    const f = ip("tcp6", 0);
    expect(() => checkIpv6(f, ttl(1))).toThrow(/ttl/);
    expect(() => checkIpv6(f, dst(A6))).toThrow(/dst/);
    expect(() => checkIpv6(f, hasFragmentHeader(true))).toThrow(/hasFragmentHeader/);
    expect(() => checkIpv6(ip("tcp4", 0))).toThrow(/not a valid IPv6/);
    expect(() => checkIpv6(f.subarray(0, 70))).toThrow();
    expect(() => checkIpv6(f, icmpv6())).toThrow(/protocol/);
    const bad = new Uint8Array(44);
    encodeIpv6(bad, 0, {
      payloadLength: 4,
      nextHeader: 58,
      hopLimit: 1,
      src: Address.parse(A6),
      dst: Address.parse(B6),
    });
    expect(() => checkIpv6(bad, icmpv6())).toThrow(/not a valid ICMPv6/);
    const chain = new Uint8Array(44);
    encodeIpv6(chain, 0, {
      payloadLength: 4,
      nextHeader: 60,
      hopLimit: 1,
      src: Address.parse(A6),
      dst: Address.parse(B6),
    });
    expect(() => checkIpv6(chain)).toThrow(/ipv6ExtensionError/);
  });
});

describe("checkEthernet and checkArp", () => {
  test("captured ARP request and reply", () => {
    const req = loadFrame("arp", 0);
    const body = checkEthernet(req, { src: MAC_A, dst: LinkAddress.BROADCAST, type: ETHERTYPE_ARP });
    checkArp(body, { op: ARP_REQUEST, senderHw: MAC_A, senderIp: A4, targetIp: Address.parse(B4) });
    const rep = loadFrame("arp", 1);
    checkArp(checkEthernet(rep, { dst: MAC_A }), {
      op: ARP_REPLY,
      senderHw: MAC_B,
      targetHw: MAC_A,
      targetIp: A4,
    });
    expect(() => checkEthernet(req, { type: ETHERTYPE_IPV6 })).toThrow(/ethernetType/);
    expect(() => checkEthernet(req, { src: MAC_B })).toThrow(/ethernetSrc/);
    expect(() => checkEthernet(req.subarray(0, 10), {})).toThrow(/not an Ethernet frame/);
    expect(() => checkArp(body, { op: ARP_REPLY })).toThrow(/arpOp/);
    expect(() => checkArp(body.subarray(0, 20), {})).toThrow(/not a valid/);
  });
});

/** The fixtures the table tests feed in are well-formed packets (checked with src/checker). */
import { describe, test } from "bun:test";
import {
  ackNum,
  checkIpv4,
  checkIpv6,
  dst,
  dstPort,
  flags,
  icmpIdent,
  icmpSequence,
  icmpType,
  icmpv4,
  icmpv6,
  mss,
  payloadSize,
  seqNum,
  src,
  srcPort,
  tcp,
  udp,
  window,
  windowScale,
} from "../../checker/checker.ts";
import { TCP_ACK, TCP_SYN } from "../../header/tcp.ts";
import { Address } from "../../tcpip/address.ts";
import { echoPacket, tcpPacket, udpPacket } from "./packets.ts";

const A4 = Address.parse("198.18.0.1");
const B4 = Address.parse("198.18.0.2");
const A6 = Address.parse("fd00::1");
const B6 = Address.parse("fd00::2");

describe("test packets", () => {
  test("TCP over IPv4 and IPv6, with options and payload", () => {
    const spec = {
      sport: 40000,
      dport: 80,
      flags: TCP_SYN | TCP_ACK,
      seq: 7,
      ack: 9,
      win: 1000,
      ws: 7,
      mss: 1460,
      len: 5,
    };
    const fields = [
      srcPort(40000),
      dstPort(80),
      seqNum(7),
      ackNum(9),
      flags(TCP_SYN | TCP_ACK),
      window(1000),
      windowScale(7),
      mss(1460),
      payloadSize(5),
    ];
    checkIpv4(tcpPacket(A4, B4, spec), src(A4), dst(B4), tcp(...fields));
    checkIpv6(tcpPacket(A6, B6, spec), src(A6), dst(B6), tcp(...fields));
  });

  test("UDP over IPv4 and IPv6", () => {
    checkIpv4(
      udpPacket(A4, B4, 5000, 53, 20),
      src(A4),
      dst(B4),
      udp(srcPort(5000), dstPort(53), payloadSize(20)),
    );
    checkIpv6(
      udpPacket(A6, B6, 5000, 53, 20),
      src(A6),
      dst(B6),
      udp(srcPort(5000), dstPort(53), payloadSize(20)),
    );
  });

  test("ICMPv4 and ICMPv6 echo request and reply", () => {
    checkIpv4(echoPacket(A4, B4, 0x1234, 3), icmpv4(icmpType(8), icmpIdent(0x1234), icmpSequence(3)));
    checkIpv4(echoPacket(B4, A4, 0x1234, 3, true), icmpv4(icmpType(0), icmpIdent(0x1234)));
    checkIpv6(echoPacket(A6, B6, 0x1234, 3), icmpv6(icmpType(128), icmpIdent(0x1234), icmpSequence(3)));
    checkIpv6(echoPacket(B6, A6, 0x1234, 3, true), icmpv6(icmpType(129), icmpIdent(0x1234)));
  });
});

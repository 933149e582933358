import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { readU32, writeU32 } from "../../header/bytes.ts";
import {
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
} from "../../header/icmpv6.ts";
import {
  encodeIpv6Fragment,
  IPV6_DESTINATION_OPTIONS,
  IPV6_FRAGMENT,
  IPV6_HOP_BY_HOP,
  IPV6_ROUTING,
} from "../../header/ipv6-extension.ts";
import { connectChannels } from "../../link/channel/pipe.ts";
import { newEthernetChannel } from "../../link/ethernet/ethernet-channel.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { parseMACAddress } from "../../tcpip/link-address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import {
  a6,
  addGlobal,
  buildIpv6,
  decodeIpv6,
  type Frame,
  icmpv6,
  inject,
  type Lan,
  MAC_A,
  MAC_B,
  makeHost,
  sendUdp,
  twoHosts,
  UDP,
  udpPayload,
} from "./_harness.ts";

const A = a6("fd00::a");
const B = a6("fd00::b");

/** Two hosts with fd00::a and fd00::b, DAD done, B listening on port 7. */
function ready(opts: Parameters<typeof twoHosts>[0] = {}) {
  const lan = twoHosts(opts);
  addGlobal(lan.a, A);
  addGlobal(lan.b, B);
  lan.run(3000);
  const seenB = lan.b.listen(7);
  const seenA = lan.a.listen(1000);
  lan.frames.length = 0;
  return { lan, seenA, seenB };
}

/** An options header (hop-by-hop or destination) holding `opts` bytes, padded to 8n. */
function optionsHeader(opts: number[]): Uint8Array {
  const len = Math.ceil((2 + opts.length) / 8) * 8;
  const h = new Uint8Array(len);
  h[1] = len / 8 - 1;
  h.set(opts, 2);
  // PadN for the rest.
  const rest = len - 2 - opts.length;
  if (rest === 1) h[2 + opts.length] = 0;
  else if (rest >= 2) {
    h[2 + opts.length] = 1;
    h[3 + opts.length] = rest - 2;
  }
  return h;
}

function paramProblems(lan: Lan): { code: number; pointer: number }[] {
  return lan
    .icmp(ICMPV6_PARAM_PROBLEM, "b")
    .map((f: Frame) => ({ code: f.icmpCode!, pointer: readU32(f.bytes, f.upper + 4) }));
}

const toB = (ext: [number, Uint8Array][], dst = B, port = 7) =>
  buildIpv6({ src: A, dst, ext, proto: UDP, payload: udpPayload(port, Uint8Array.of(1, 2, 3)) });

describe("extension headers (RFC 8200 §4)", () => {
  test("hop-by-hop and destination options with known options are delivered", () => {
    const { lan, seenB } = ready();
    inject(
      lan.b,
      toB([
        [IPV6_HOP_BY_HOP, optionsHeader([5, 2, 0, 0])],
        [IPV6_DESTINATION_OPTIONS, optionsHeader([])],
      ]),
    );
    expect(seenB.packets.length).toBe(1);
    expect(Array.from(seenB.packets[0]!.data)).toEqual([1, 2, 3]);
  });

  test("unknown option action 00: skipped", () => {
    const { lan, seenB } = ready();
    inject(lan.b, toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([0x1e, 2, 0, 0])]]));
    expect(seenB.packets.length).toBe(1);
  });

  test("unknown option action 01: discarded silently", () => {
    const { lan, seenB } = ready();
    inject(lan.b, toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([0x5e, 2, 0, 0])]]));
    expect(seenB.packets.length).toBe(0);
    expect(paramProblems(lan)).toEqual([]);
  });

  test("unknown option action 10: Parameter Problem code 2, even for multicast", () => {
    const { lan, seenB } = ready();
    inject(lan.b, toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([0x9e, 2, 0, 0])]]));
    inject(lan.b, toB([[IPV6_HOP_BY_HOP, optionsHeader([1, 0, 0x9e, 0])]], Address.ALL_NODES_V6));
    expect(seenB.packets.length).toBe(0);
    // Pointer: 40 (IPv6 header) + 2 (option after Next Header and Hdr Ext Len); then after a PadN of 2.
    expect(paramProblems(lan)).toEqual([
      { code: 2, pointer: 42 },
      { code: 2, pointer: 44 },
    ]);
  });

  test("unknown option action 11: Parameter Problem code 2 only for unicast", () => {
    const { lan, seenB } = ready();
    inject(lan.b, toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([0xde, 2, 0, 0])]]));
    inject(lan.b, toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([0xde, 2, 0, 0])]], Address.ALL_NODES_V6));
    expect(seenB.packets.length).toBe(0);
    expect(paramProblems(lan)).toEqual([{ code: 2, pointer: 42 }]);
  });

  test("hop-by-hop not right after the IPv6 header: Parameter Problem code 1 at the Next Header byte", () => {
    const { lan, seenB } = ready();
    inject(
      lan.b,
      toB([
        [IPV6_DESTINATION_OPTIONS, optionsHeader([])],
        [IPV6_HOP_BY_HOP, optionsHeader([])],
      ]),
    );
    expect(seenB.packets.length).toBe(0);
    expect(paramProblems(lan)).toEqual([{ code: 1, pointer: 40 }]);
  });

  test("routing header type 0 with segments left: Parameter Problem code 0 at the routing type (RFC 5095)", () => {
    const { lan, seenB } = ready();
    const rh0 = new Uint8Array(24);
    rh0[1] = 2;
    rh0[2] = 0;
    rh0[3] = 1;
    inject(lan.b, toB([[IPV6_ROUTING, rh0]]));
    expect(seenB.packets.length).toBe(0);
    expect(paramProblems(lan)).toEqual([{ code: 0, pointer: 42 }]);
  });

  test("routing header with segments left 0 is ignored", () => {
    const { lan, seenB } = ready();
    const rh = new Uint8Array(8);
    rh[2] = 0;
    rh[3] = 0;
    inject(lan.b, toB([[IPV6_ROUTING, rh]]));
    expect(seenB.packets.length).toBe(1);
  });

  test("unknown next header: Parameter Problem code 1 pointing at it", () => {
    const { lan } = ready();
    inject(lan.b, buildIpv6({ src: A, dst: B, proto: 253, payload: new Uint8Array(8) }));
    inject(
      lan.b,
      buildIpv6({
        src: A,
        dst: B,
        ext: [[IPV6_DESTINATION_OPTIONS, optionsHeader([])]],
        proto: 253,
        payload: new Uint8Array(8),
      }),
    );
    expect(paramProblems(lan)).toEqual([
      { code: 1, pointer: 6 },
      { code: 1, pointer: 40 },
    ]);
    expect(lan.b.stack.stats.ip.unknownProtocol).toBe(2);
  });

  test("no next header (59): consumed silently", () => {
    const { lan } = ready();
    inject(lan.b, buildIpv6({ src: A, dst: B, proto: 59, payload: new Uint8Array(8) }));
    expect(lan.frames.filter((f) => f.from === "b")).toEqual([]);
  });

  test("malformed: truncated header, bad version, payload length past the end, multicast source", () => {
    const { lan } = ready();
    const st = lan.b.stack.stats.ip;
    const good = toB([]);
    const v4 = good.slice();
    v4[0] = 0x45;
    const long = good.slice();
    long[5] = long[5]! + 1;
    const msrc = buildIpv6({
      src: a6("ff02::1"),
      dst: B,
      proto: UDP,
      payload: udpPayload(7, new Uint8Array(1)),
    });
    const truncExt = toB([[IPV6_DESTINATION_OPTIONS, optionsHeader([])]]).slice(0, 44);
    truncExt[5] = 4;
    for (const p of [good.slice(0, 30), v4, long, truncExt]) inject(lan.b, p);
    expect(st.malformedPacketsReceived).toBe(4);
    inject(lan.b, msrc);
    expect(st.invalidSourceAddressesReceived).toBe(1);
    expect(lan.frames.filter((f) => f.from === "b")).toEqual([]);
  });

  test("no error about an ICMPv6 error message (RFC 4443 §2.4(e.1))", () => {
    const { lan } = ready();
    const rh0 = new Uint8Array(8);
    rh0[3] = 1;
    const err = icmpv6(A, B, ICMPV6_DST_UNREACHABLE, 4, new Uint8Array(44));
    inject(
      lan.b,
      buildIpv6({ src: A, dst: B, ext: [[IPV6_ROUTING, rh0]], proto: ICMPV6_PROTOCOL_NUMBER, payload: err }),
    );
    expect(paramProblems(lan)).toEqual([]);
    // An echo request in the same position does get one.
    const echo = icmpv6(A, B, 128, 0, new Uint8Array(4));
    inject(
      lan.b,
      buildIpv6({ src: A, dst: B, ext: [[IPV6_ROUTING, rh0]], proto: ICMPV6_PROTOCOL_NUMBER, payload: echo }),
    );
    expect(paramProblems(lan).length).toBe(1);
  });

  test("no error to an unspecified source (RFC 4443 §2.4(e.6))", () => {
    const { lan } = ready();
    inject(
      lan.b,
      buildIpv6({ src: Address.ANY_V6, dst: B, proto: UDP, payload: udpPayload(9, new Uint8Array(4)) }),
    );
    expect(lan.frames.filter((f) => f.from === "b")).toEqual([]);
  });

  test("bad ICMPv6 checksum is counted and dropped", () => {
    const { lan } = ready();
    const echo = icmpv6(A, B, 128, 0, new Uint8Array(4));
    echo[2] = echo[2]! ^ 0xff;
    inject(lan.b, buildIpv6({ src: A, dst: B, proto: ICMPV6_PROTOCOL_NUMBER, payload: echo }));
    expect(lan.b.stack.stats.icmp.v6.checksumErrors).toBe(1);
    expect(lan.icmp(ICMPV6_ECHO_REPLY)).toEqual([]);
  });

  test("random bytes never throw and the stack keeps answering", () => {
    const { lan, seenB } = ready();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (bytes, asV6) => {
        const p = bytes.slice();
        if (asV6 && p.length > 0) p[0] = (p[0]! & 0x0f) | 0x60;
        if (p.length >= 40) {
          p.set(A.bytes, 8);
          p.set(B.bytes, 24);
        }
        lan.b.wire.injectInbound(
          0,
          PacketBuffer.wrap(Uint8Array.from([...lan.b.mac.bytes, 2, 0, 0, 0, 0, 0xa, 0x86, 0xdd, ...p])),
        );
      }),
      { numRuns: 500 },
    );
    sendUdp(lan.a, B, 7, Uint8Array.of(9));
    expect(seenB.packets.at(-1)!.data).toEqual(Uint8Array.of(9));
  });
});

function fragment(
  src: Address,
  dst: Address,
  id: number,
  offset: number,
  more: boolean,
  data: Uint8Array,
  proto = UDP,
): Uint8Array {
  const fh = new Uint8Array(8);
  encodeIpv6Fragment(fh, 0, { nextHeader: proto, fragmentOffset: offset, more, id });
  return buildIpv6({ src, dst, ext: [[IPV6_FRAGMENT, fh]], proto, payload: data });
}

describe("inbound fragments (RFC 8200 §4.5)", () => {
  const datagram = udpPayload(
    7,
    Uint8Array.from({ length: 40 }, (_, i) => i),
  );

  test("out of order and duplicated fragments reassemble", () => {
    const { lan, seenB } = ready();
    inject(lan.b, fragment(A, B, 1, 32, false, datagram.subarray(32)));
    inject(lan.b, fragment(A, B, 1, 16, true, datagram.subarray(16, 32)));
    inject(lan.b, fragment(A, B, 1, 16, true, datagram.subarray(16, 32)));
    expect(seenB.packets.length).toBe(0);
    inject(lan.b, fragment(A, B, 1, 0, true, datagram.subarray(0, 16)));
    expect(seenB.packets.length).toBe(1);
    expect(seenB.packets[0]!.data).toEqual(datagram.subarray(8));
    expect(lan.b.stack.stats.fragments.reassembled).toBe(1);
  });

  test("an atomic fragment is delivered alone (RFC 6946)", () => {
    const { lan, seenB } = ready();
    inject(lan.b, fragment(A, B, 2, 0, false, datagram));
    expect(seenB.packets.length).toBe(1);
  });

  test("overlapping fragments discard the datagram (RFC 5722)", () => {
    const { lan, seenB } = ready();
    inject(lan.b, fragment(A, B, 3, 0, true, datagram.subarray(0, 24)));
    inject(lan.b, fragment(A, B, 3, 16, true, datagram.subarray(16, 32)));
    inject(lan.b, fragment(A, B, 3, 32, false, datagram.subarray(32)));
    inject(lan.b, fragment(A, B, 3, 24, true, datagram.subarray(24, 32)));
    expect(seenB.packets.length).toBe(0);
    expect(lan.b.stack.stats.fragments.overlapsDiscarded).toBe(1);
    // No time exceeded for an abandoned datagram (RFC 8200 §4.5: no ICMP for overlaps).
    lan.clock.advance(60_000);
    expect(lan.icmp(ICMPV6_TIME_EXCEEDED)).toEqual([]);
  });

  test("timeout with the first fragment: Time Exceeded code 1 quoting it; without it: nothing", () => {
    const { lan } = ready();
    inject(lan.b, fragment(A, B, 4, 0, true, datagram.subarray(0, 16)));
    inject(lan.b, fragment(A, B, 5, 16, true, datagram.subarray(16, 32)));
    lan.clock.advance(59_999);
    expect(lan.icmp(ICMPV6_TIME_EXCEEDED)).toEqual([]);
    lan.clock.advance(1);
    const te = lan.icmp(ICMPV6_TIME_EXCEEDED, "b");
    expect(te.length).toBe(1);
    expect(te[0]!.icmpCode).toBe(1);
    expect(te[0]!.dst.equals(A)).toBe(true);
    // The quote is the first fragment: its Fragment header says id 4.
    const q = te[0]!.bytes.subarray(te[0]!.upper + 8);
    expect(decodeIpv6(q.slice())!.fragment).toEqual({ offset: 0, more: true, id: 4 });
    expect(lan.b.stack.stats.fragments.timedOut).toBe(2);
  });

  test("a non-last fragment whose length is not a multiple of 8: Parameter Problem at Payload Length", () => {
    const { lan } = ready();
    inject(lan.b, fragment(A, B, 6, 0, true, datagram.subarray(0, 12)));
    expect(paramProblems(lan)).toEqual([{ code: 0, pointer: 4 }]);
  });

  test("a fragment past 65535 bytes: Parameter Problem at its Fragment Offset", () => {
    const { lan } = ready();
    inject(lan.b, fragment(A, B, 7, 65528, true, new Uint8Array(16)));
    expect(paramProblems(lan)).toEqual([{ code: 0, pointer: 42 }]);
  });

  test("a first fragment with an incomplete header chain: Parameter Problem code 3 (RFC 7112)", () => {
    const { lan, seenB } = ready();
    // The fragmentable part starts with a 16-byte destination options header, cut after 8 bytes.
    const dest = new Uint8Array(16);
    dest[0] = UDP;
    dest[1] = 1;
    dest[2] = 1;
    dest[3] = 12;
    inject(lan.b, fragment(A, B, 9, 0, true, dest.subarray(0, 8), IPV6_DESTINATION_OPTIONS));
    expect(paramProblems(lan)).toEqual([{ code: 3, pointer: 0 }]);
    // A complete chain in the first fragment is fine.
    const whole = new Uint8Array(16 + datagram.length);
    whole.set(dest, 0);
    whole.set(datagram, 16);
    inject(lan.b, fragment(A, B, 10, 24, false, whole.subarray(24), IPV6_DESTINATION_OPTIONS));
    inject(lan.b, fragment(A, B, 10, 0, true, whole.subarray(0, 24), IPV6_DESTINATION_OPTIONS));
    expect(seenB.packets.length).toBe(1);
  });

  test("fragments of an ICMPv6 echo reassemble and are answered", () => {
    const { lan } = ready();
    const echo = icmpv6(A, B, 128, 0, new Uint8Array(60));
    inject(lan.b, fragment(A, B, 8, 32, false, echo.subarray(32), ICMPV6_PROTOCOL_NUMBER));
    inject(lan.b, fragment(A, B, 8, 0, true, echo.subarray(0, 32), ICMPV6_PROTOCOL_NUMBER));
    expect(lan.icmp(ICMPV6_ECHO_REPLY, "b").length).toBe(1);
  });

  test("a 3000-byte echo request is answered with a fragmented reply that A reassembles", () => {
    const { lan } = ready();
    const echo = icmpv6(A, B, 128, 0, new Uint8Array(3000).fill(0x5a));
    for (let o = 0; o < echo.length; o += 1024) {
      const n = Math.min(1024, echo.length - o);
      inject(
        lan.b,
        fragment(A, B, 11, o, o + n < echo.length, echo.subarray(o, o + n), ICMPV6_PROTOCOL_NUMBER),
        MAC_A,
      );
    }
    const replyFrags = lan.frames.filter((f) => f.from === "b" && f.fragment);
    expect(replyFrags.length).toBe(3);
    expect(replyFrags.every((f) => f.bytes.length <= 1500)).toBe(true);
    expect(lan.a.stack.stats.fragments.reassembled).toBe(1);
    expect(lan.a.stack.stats.icmp.v6.echoReply.received).toBe(1);
  });
});

describe("outbound fragmentation (RFC 8200 §4.5)", () => {
  for (const mtu of [1280, 1500]) {
    test(`a 4000-byte datagram at MTU ${mtu} is fragmented and reassembled by the peer`, () => {
      const { lan, seenB } = ready({ mtu });
      const data = Uint8Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff);
      sendUdp(lan.a, B, 7, data);
      const frags = lan.frames.filter((f) => f.from === "a" && f.fragment);
      expect(frags.length).toBe(Math.ceil(4008 / (Math.floor((mtu - 48) / 8) * 8)));
      for (const f of frags) expect(f.bytes.length).toBeLessThanOrEqual(mtu);
      expect(frags.slice(0, -1).every((f) => (f.bytes.length - 48) % 8 === 0 && f.fragment!.more)).toBe(true);
      expect(new Set(frags.map((f) => f.fragment!.id)).size).toBe(1);
      expect(seenB.packets.length).toBe(1);
      expect(seenB.packets[0]!.data).toEqual(data);
      expect(lan.a.stack.stats.fragments.fragmentsSent).toBe(frags.length);
    });
  }
});

describe("Packet Too Big (RFC 4443 §3.2, RFC 8201)", () => {
  function ptb(lan: Lan, mtu: number, quoted: Uint8Array) {
    const body = new Uint8Array(4 + quoted.length);
    writeU32(body, 0, mtu);
    body.set(quoted, 4);
    inject(
      lan.a,
      buildIpv6({
        src: B,
        dst: A,
        proto: ICMPV6_PROTOCOL_NUMBER,
        payload: icmpv6(B, A, ICMPV6_PACKET_TOO_BIG, 0, body),
      }),
      MAC_B,
    );
  }

  test("lowers the path MTU (never below 1280) and tells the sending endpoint", () => {
    const { lan, seenA, seenB } = ready();
    sendUdp(lan.a, B, 7, new Uint8Array(1400));
    const sent = lan.frames.find((f) => f.from === "a" && f.proto === UDP)!;
    expect(sent.fragment).toBeUndefined();
    ptb(lan, 1000, sent.bytes.subarray(0, 200));
    expect(seenA.controls).toEqual([{ type: "packetTooBig", extra: 1280, remote: B }]);
    expect(lan.a.ep.mtuTo(B)).toBe(1280);
    lan.frames.length = 0;
    sendUdp(lan.a, B, 7, new Uint8Array(1400));
    const frags = lan.frames.filter((f) => f.from === "a" && f.fragment);
    expect(frags.length).toBe(2);
    expect(seenB.packets.length).toBe(2);
    // The estimate ages out (RFC 8201 §5.3: 10 minutes).
    lan.clock.advance(10 * 60_000);
    expect(lan.a.ep.mtuTo(B)).toBe(1500);
  });

  test("a Packet Too Big about a packet we did not send is ignored", () => {
    const { lan, seenA } = ready();
    const other = buildIpv6({
      src: a6("fd00::77"),
      dst: B,
      proto: UDP,
      payload: udpPayload(7, new Uint8Array(8)),
    });
    ptb(lan, 1300, other);
    expect(seenA.controls).toEqual([]);
    expect(lan.a.ep.mtuTo(B)).toBe(1500);
  });
});

describe("forwarding (RFC 8200 §3 hop limit, RFC 4443 §3.3)", () => {
  /** A — R — C: R forwards between fd00:1::/64 and fd00:2::/64. */
  function routed() {
    const clock = new ManualClock();
    const a = makeHost(clock, parseMACAddress("02:00:00:00:01:0a"), 1);
    const c = makeHost(clock, parseMACAddress("02:00:00:00:02:0c"), 3);
    const r = makeHost(clock, parseMACAddress("02:00:00:00:01:01"), 2);
    const r2 = newEthernetChannel({ mtu: 1500, linkAddress: parseMACAddress("02:00:00:00:02:01") });
    r.stack.createNIC(2, r2.link);
    r.stack.setForwarding(IPV6_PROTOCOL_NUMBER, true);
    const frames: Frame[] = [];
    const cap = (side: string) => (_from: unknown, info: { pkt: PacketBuffer }) => {
      const d = decodeIpv6(info.pkt.bytes().subarray(14).slice());
      if (d) frames.push({ ...d, from: side as "a", linkSrc: undefined, linkDst: undefined });
      return true;
    };
    connectChannels(a.wire, r.wire, { auto: true, filter: cap("a-r") });
    connectChannels(c.wire, r2.wire, { auto: true, filter: cap("c-r") });
    a.stack.addAddress(1, IPV6_PROTOCOL_NUMBER, a6("fd00:1::a"), 64);
    r.stack.addAddress(1, IPV6_PROTOCOL_NUMBER, a6("fd00:1::1"), 64);
    r.stack.addAddress(2, IPV6_PROTOCOL_NUMBER, a6("fd00:2::1"), 64);
    c.stack.addAddress(1, IPV6_PROTOCOL_NUMBER, a6("fd00:2::c"), 64);
    a.stack.setRouteTable([
      { destination: Subnet.parse("fd00:1::/64"), nic: 1 },
      { destination: Subnet.parse("::/0"), gateway: a6("fd00:1::1"), nic: 1 },
    ]);
    c.stack.setRouteTable([
      { destination: Subnet.parse("fd00:2::/64"), nic: 1 },
      { destination: Subnet.parse("::/0"), gateway: a6("fd00:2::1"), nic: 1 },
    ]);
    r.stack.setRouteTable([
      { destination: Subnet.parse("fd00:1::/64"), nic: 1 },
      { destination: Subnet.parse("fd00:2::/64"), nic: 2 },
    ]);
    for (let t = 0; t < 3000; t += 10) clock.advance(10);
    frames.length = 0;
    return { clock, a, c, r, frames };
  }

  test("forwards with the hop limit decremented", () => {
    const { a, c, frames } = routed();
    const seen = c.listen(7);
    sendUdp(a, a6("fd00:2::c"), 7, Uint8Array.of(5), 64);
    expect(seen.packets.length).toBe(1);
    expect(seen.packets[0]!.info.ttl).toBe(63);
    expect(frames.filter((f) => f.proto === UDP).map((f) => f.hopLimit)).toEqual([64, 63]);
  });

  test("hop limit 1: Time Exceeded code 0 from the router", () => {
    const { a, c, r, frames } = routed();
    const seen = c.listen(7);
    const seenA = a.listen(1000);
    sendUdp(a, a6("fd00:2::c"), 7, Uint8Array.of(5), 1);
    expect(seen.packets.length).toBe(0);
    const te = frames.filter((f) => f.icmpType === ICMPV6_TIME_EXCEEDED);
    expect(te.length).toBe(1);
    expect(te[0]!.icmpCode).toBe(0);
    expect(te[0]!.src.toString()).toBe("fd00:1::1");
    expect(seenA.controls).toEqual([{ type: "timeExceeded", extra: 0, remote: a6("fd00:2::c") }]);
    expect(r.stack.stats.ip.ttlExceeded).toBe(1);
  });

  test("no route: Destination Unreachable code 0", () => {
    const { a, frames } = routed();
    sendUdp(a, a6("fd00:3::1"), 7, Uint8Array.of(5));
    const du = frames.filter((f) => f.icmpType === ICMPV6_DST_UNREACHABLE);
    expect(du.map((f) => f.icmpCode)).toEqual([0]);
  });
});

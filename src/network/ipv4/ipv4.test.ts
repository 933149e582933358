import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import { encodeIcmpv4 } from "../../header/icmpv4.ts";
import {
  encodeIpv4,
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_FLAG_MORE_FRAGMENTS,
  Ipv4Header,
} from "../../header/ipv4.ts";
import { encodeUdp } from "../../header/udp.ts";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import type { TransportPacketInfo, TransportProtocol } from "../../stack/registration.ts";
import { Stack } from "../../stack/stack.ts";
import type { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrMessageTooLong, ErrNoLinkAddress, ErrNoRoute, ErrWouldBlock } from "../../tcpip/errors.ts";
import { ICMPV4_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import {
  addr,
  addV4,
  echoRequest,
  endpoint,
  ethernetWire,
  newTestStack,
  twoHosts,
} from "../../transport/udp/testing.ts";
import { fragmentIpv4 } from "./fragment.ts";
import { newIpv4Protocol } from "./ipv4.ts";

/** An IPv4 packet as raw bytes (for injection through an IP-mode channel). */
function ipPacket(opts: {
  src: Address;
  dst: Address;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  flags?: number;
  fragmentOffset?: number;
  options?: Uint8Array;
}): Uint8Array {
  const optLen = opts.options ? (opts.options.length + 3) & ~3 : 0;
  const hlen = 20 + optLen;
  const b = new Uint8Array(hlen + opts.payload.length);
  const fields: Parameters<typeof encodeIpv4>[2] = {
    totalLength: b.length,
    ttl: opts.ttl ?? 64,
    protocol: opts.protocol,
    src: opts.src,
    dst: opts.dst,
    id: opts.id ?? 1,
    flags: opts.flags ?? 0,
    fragmentOffset: opts.fragmentOffset ?? 0,
  };
  if (opts.options) fields.options = opts.options;
  encodeIpv4(b, 0, fields);
  b.set(opts.payload, hlen);
  return b;
}

function udpDatagram(
  src: Address,
  dst: Address,
  srcPort: number,
  dstPort: number,
  data: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  encodeUdp(b, 0, { srcPort, dstPort, length: b.length });
  b.set(data, 8);
  const c = finishChecksum(
    checksum(b, 0, b.length, pseudoHeaderChecksum(UDP_PROTOCOL_NUMBER, src, dst, b.length)),
  );
  b[6] = c >> 8;
  b[7] = c & 0xff;
  return b;
}

function echo(ident: number, seq: number): Uint8Array {
  const b = new Uint8Array(16);
  encodeIcmpv4(b, 0, { type: 8, code: 0, ident, sequence: seq, payloadLength: 8 });
  return b;
}

/** A stack on an IP-mode channel (no Ethernet, no ARP): A = 198.18.0.1/24, peer 198.18.0.2. */
function ipHost(mtu = 1500) {
  const clock = new ManualClock();
  const s = newTestStack(clock, 3);
  const ch = new ChannelEndpoint({ mtu });
  s.createNIC(1, ch);
  const local = addV4(s, 1, "198.18.0.1/24");
  const peer = addr("198.18.0.2");
  const inject = (b: Uint8Array) => ch.injectInbound(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(b));
  const sent = () => ch.readAll().map((p) => p.pkt.bytes().slice());
  return { clock, s, ch, local, peer, inject, sent };
}

describe("IPv4 inbound validation (RFC 1122 §3.2.1)", () => {
  test("a well-formed echo request is answered", () => {
    const h = ipHost();
    h.inject(ipPacket({ src: h.peer, dst: h.local, protocol: 1, payload: echo(5, 9) }));
    const out = h.sent();
    expect(out.length).toBe(1);
    const ip = new Ipv4Header(out[0]!, 0);
    expect(ip.srcAddress().equals(h.local)).toBe(true);
    expect(ip.dstAddress().equals(h.peer)).toBe(true);
    expect(ip.isChecksumValid()).toBe(true);
    expect(out[0]![20]).toBe(0);
    expect(checksum(out[0]!, 20, out[0]!.length - 20)).toBe(0xffff);
  });

  const set = (pairs: [number, number][]) => (b: Uint8Array) => {
    for (const [i, v] of pairs) b[i] = v;
    return b;
  };
  const bad: [string, (b: Uint8Array) => Uint8Array][] = [
    ["version 6", set([[0, 0x65]])],
    ["IHL below 5", set([[0, 0x44]])],
    ["total length beyond the link", set([[2, 0x10]])],
    [
      "total length below the header",
      set([
        [2, 0],
        [3, 10],
      ]),
    ],
    ["bad checksum", (b) => set([[10, b[10]! ^ 0xff]])(b)],
    ["truncated header", (b) => b.slice(0, 12)],
  ];
  for (const [name, mutate] of bad) {
    test(`${name} is counted and dropped`, () => {
      const h = ipHost();
      h.inject(mutate(ipPacket({ src: h.peer, dst: h.local, protocol: 1, payload: echo(1, 1) })));
      expect(h.sent().length).toBe(0);
      expect(h.s.stats.ip.malformedPacketsReceived).toBe(1);
    });
  }

  test("broadcast and multicast sources are dropped", () => {
    const h = ipHost();
    for (const src of ["255.255.255.255", "224.0.0.5", "240.0.0.1"]) {
      h.inject(ipPacket({ src: addr(src), dst: h.local, protocol: 1, payload: echo(1, 1) }));
    }
    expect(h.sent().length).toBe(0);
    expect(h.s.stats.ip.invalidSourceAddressesReceived).toBe(3);
  });

  test("link padding past Total Length is ignored", () => {
    const h = ipHost();
    const p = ipPacket({ src: h.peer, dst: h.local, protocol: 1, payload: echo(1, 1) });
    const padded = new Uint8Array(p.length + 10);
    padded.set(p);
    padded.fill(0xee, p.length);
    h.inject(padded);
    const out = h.sent();
    expect(out.length).toBe(1);
    expect(out[0]!.length).toBe(p.length);
  });

  test("unknown options are skipped, malformed ones get Parameter Problem, source routes are dropped", () => {
    const h = ipHost();
    // An unknown option (type 0x1e, length 4) then padding.
    h.inject(
      ipPacket({
        src: h.peer,
        dst: h.local,
        protocol: 1,
        payload: echo(1, 1),
        options: Uint8Array.of(0x1e, 4, 0, 0),
      }),
    );
    expect(h.sent().length).toBe(1);
    // A length running past the header.
    h.inject(
      ipPacket({
        src: h.peer,
        dst: h.local,
        protocol: 1,
        payload: echo(1, 2),
        options: Uint8Array.of(0x1e, 9, 0, 0),
      }),
    );
    const pp = h.sent();
    expect(pp.length).toBe(1);
    expect(pp[0]![20]).toBe(12);
    expect(pp[0]![24]).toBe(20);
    // Loose source route.
    h.inject(
      ipPacket({
        src: h.peer,
        dst: h.local,
        protocol: 1,
        payload: echo(1, 3),
        options: Uint8Array.of(131, 7, 4, 198, 18, 0, 9, 0),
      }),
    );
    expect(h.sent().length).toBe(0);
    expect(h.s.stats.ip.optionsReceived).toBe(3);
  });

  test("packets for another host are dropped when not forwarding", () => {
    const h = ipHost();
    h.inject(ipPacket({ src: h.peer, dst: addr("198.18.0.77"), protocol: 1, payload: echo(1, 1) }));
    expect(h.sent().length).toBe(0);
    expect(h.s.stats.ip.invalidAddressesReceived).toBe(1);
  });
});

describe("ICMP errors we send", () => {
  test("unknown protocol gets Protocol Unreachable quoting the datagram", () => {
    const h = ipHost();
    h.inject(ipPacket({ src: h.peer, dst: h.local, protocol: 253, payload: new Uint8Array(12) }));
    const out = h.sent();
    expect(out.length).toBe(1);
    expect([out[0]![20], out[0]![21]]).toEqual([3, 2]);
    const quoted = new Ipv4Header(out[0]!, 28);
    expect(quoted.protocol).toBe(253);
  });

  test("no ICMP error about broadcasts, ICMP errors or non-initial fragments (RFC 1122 §3.2.2)", () => {
    const h = ipHost();
    const udp = (dst: Address) => udpDatagram(h.peer, dst, 1000, 4000, Uint8Array.of(1));
    h.inject(
      ipPacket({
        src: h.peer,
        dst: addr("255.255.255.255"),
        protocol: 17,
        payload: udp(addr("255.255.255.255")),
      }),
    );
    h.inject(
      ipPacket({ src: h.peer, dst: addr("198.18.0.255"), protocol: 17, payload: udp(addr("198.18.0.255")) }),
    );
    h.inject(
      ipPacket({ src: h.peer, dst: h.local, protocol: 250, payload: new Uint8Array(8), fragmentOffset: 8 }),
    );
    expect(h.sent().length).toBe(0);
    expect(h.s.stats.udp.unknownPortErrors).toBe(2);
  });

  test("errors are rate limited by a token bucket", () => {
    const h = ipHost();
    h.s.setNetworkProtocolOption(IPV4_PROTOCOL_NUMBER, "icmpBurst", 5);
    h.s.setNetworkProtocolOption(IPV4_PROTOCOL_NUMBER, "icmpRatePerSecond", 10);
    for (let i = 0; i < 20; i++) {
      h.inject(
        ipPacket({
          src: h.peer,
          dst: h.local,
          protocol: 17,
          payload: udpDatagram(h.peer, h.local, 1, 2, new Uint8Array(1)),
        }),
      );
    }
    expect(h.sent().length).toBe(5);
    expect(h.s.stats.icmp.v4.rateLimited).toBe(15);
    h.clock.advance(1000);
    for (let i = 0; i < 20; i++) {
      h.inject(
        ipPacket({
          src: h.peer,
          dst: h.local,
          protocol: 17,
          payload: udpDatagram(h.peer, h.local, 1, 2, new Uint8Array(1)),
        }),
      );
    }
    expect(h.sent().length).toBe(5);
  });
});

describe("fragmentation", () => {
  for (const mtu of [68, 576, 1280, 1500, 9000]) {
    test(`a 4000-byte UDP datagram crosses both ways at MTU ${mtu}`, () => {
      const { a, b, aAddr, bAddr, wire } = twoHosts({ mtu });
      const server = endpoint(b, UDP_PROTOCOL_NUMBER);
      server.ep.bind({ port: 7 });
      const client = endpoint(a, UDP_PROTOCOL_NUMBER);
      const data = new Uint8Array(4000).map((_, i) => (i * 7) & 0xff);
      client.ep.write(data, { to: { addr: bAddr, port: 7 } });
      const got = server.ep.read();
      expect(got.data.length).toBe(4000);
      expect(Buffer.compare(got.data, data)).toBe(0);
      const frags = Math.ceil(4008 / (Math.floor((mtu - 20) / 8) * 8));
      expect(a.stats.fragments.fragmentsSent).toBe(frags > 1 ? frags : 0);
      expect(b.stats.fragments.reassembled).toBe(frags > 1 ? 1 : 0);
      expect(wire.a.wire.stats.oversize).toBe(0);
      server.ep.write(data, { to: got.from! });
      expect(Buffer.compare(client.ep.read().data, data)).toBe(0);
      expect(got.from?.addr?.equals(aAddr)).toBe(true);
    });
  }

  test("fragments arriving out of order are reassembled; a lost one times out with Time Exceeded", () => {
    const h = ipHost();
    const sock = endpoint(h.s, UDP_PROTOCOL_NUMBER);
    sock.ep.bind({ port: 9 });
    const udp = udpDatagram(h.peer, h.local, 5, 9, new Uint8Array(40).fill(3));
    const whole = (id: number, part: 0 | 1 | 2) =>
      ipPacket({
        src: h.peer,
        dst: h.local,
        protocol: 17,
        id,
        payload: part === 0 ? udp.subarray(0, 16) : part === 1 ? udp.subarray(16, 32) : udp.subarray(32),
        fragmentOffset: part * 16,
        flags: part === 2 ? 0 : IPV4_FLAG_MORE_FRAGMENTS,
      });
    h.inject(whole(1, 2));
    h.inject(whole(1, 0));
    expect(() => sock.ep.read()).toThrow(ErrWouldBlock);
    h.inject(whole(1, 1));
    expect(sock.ep.read().data.length).toBe(40);
    // Second datagram: the middle fragment never comes.
    h.inject(whole(2, 0));
    h.inject(whole(2, 2));
    h.clock.advance(31_000);
    const out = h.sent();
    expect(out.length).toBe(1);
    expect([out[0]![20], out[0]![21]]).toEqual([11, 1]);
    expect(h.s.stats.fragments.timedOut).toBe(1);
  });

  test("a DF datagram larger than the MTU fails at once with ErrMessageTooLong", () => {
    const { a, bAddr } = twoHosts({ mtu: 576 });
    const route = a.findRoute(0, undefined, bAddr, IPV4_PROTOCOL_NUMBER);
    const pkt = PacketBuffer.withPayload(route.maxHeaderLength, new Uint8Array(1000));
    expect(() => route.writePacket(pkt, { protocol: 17, ttl: 64, tos: 0, dontFragment: true })).toThrow(
      ErrMessageTooLong,
    );
  });
});

/** A — R — C: two Ethernet segments, R forwards. */
function chain(mtu2 = 1500) {
  const clock = new ManualClock();
  const A = newTestStack(clock, 11);
  const R = newTestStack(clock, 12);
  const C = newTestStack(clock, 13);
  const w1 = ethernetWire(1500);
  const w2 = ethernetWire(mtu2);
  A.createNIC(1, w1.a.link);
  R.createNIC(1, w1.b.link);
  R.createNIC(2, w2.a.link);
  C.createNIC(1, w2.b.link);
  const aAddr = addV4(A, 1, "198.18.0.1/24");
  addV4(R, 1, "198.18.0.254/24");
  addV4(R, 2, "198.18.1.254/24");
  const cAddr = addV4(C, 1, "198.18.1.2/24");
  A.addRoute({ destination: Subnet.parse("0.0.0.0/0"), gateway: addr("198.18.0.254"), nic: 1 });
  C.addRoute({ destination: Subnet.parse("0.0.0.0/0"), gateway: addr("198.18.1.254"), nic: 1 });
  R.setForwarding(IPV4_PROTOCOL_NUMBER, true);
  return { clock, A, R, C, aAddr, cAddr };
}

describe("forwarding (RFC 1812)", () => {
  test("UDP crosses a router both ways, TTL decremented", () => {
    const { A, R, C, aAddr, cAddr } = chain();
    const seen: number[] = [];
    C.addHook("inbound", (proto, bytes) => {
      if (proto === IPV4_PROTOCOL_NUMBER) seen.push(bytes[8]!);
    });
    const server = endpoint(C, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 53 });
    const client = endpoint(A, UDP_PROTOCOL_NUMBER);
    client.ep.write(Uint8Array.of(1, 2, 3), { to: { addr: cAddr, port: 53 } });
    const got = server.ep.read();
    expect(got.from?.addr?.equals(aAddr)).toBe(true);
    expect(seen).toEqual([63]);
    server.ep.write(Uint8Array.of(4), { to: got.from! });
    expect([...client.ep.read().data]).toEqual([4]);
    expect(R.stats.ip.packetsForwarded).toBe(2);
  });

  test("TTL 1 at the router yields ICMP Time Exceeded to the sender", () => {
    const { A, R, cAddr } = chain();
    const icmp: number[][] = [];
    A.addHook("inbound", (proto, bytes) => {
      if (proto === IPV4_PROTOCOL_NUMBER && bytes[9] === 1) icmp.push([bytes[20]!, bytes[21]!]);
    });
    const client = endpoint(A, UDP_PROTOCOL_NUMBER);
    client.ep.setSockOpt("TTL", 1);
    client.ep.write(Uint8Array.of(1), { to: { addr: cAddr, port: 53 } });
    expect(R.stats.ip.ttlExceeded).toBe(1);
    expect(R.stats.icmp.v4.timeExceeded.sent).toBe(1);
    expect(icmp).toEqual([[11, 0]]);
    expect(A.stats.icmp.v4.timeExceeded.received).toBe(1);
  });

  test("ping through the router; a host with no route gets Network Unreachable", () => {
    const { A, R, cAddr } = chain();
    const p = endpoint(A, ICMPV4_PROTOCOL_NUMBER);
    p.ep.bind({ port: 77 });
    p.ep.write(echoRequest(1), { to: { addr: cAddr, port: 0 } });
    expect(p.ep.read().data[0]).toBe(0);
    const icmp: number[][] = [];
    A.addHook("inbound", (_proto, bytes) => {
      if (bytes[9] === 1) icmp.push([bytes[20]!, bytes[21]!]);
    });
    p.ep.write(echoRequest(2), { to: { addr: addr("198.19.9.9"), port: 0 } });
    expect(icmp).toEqual([[3, 0]]);
    expect(R.stats.ip.noRoute).toBe(1);
  });

  test("the router fragments for a smaller next-hop MTU, or sends Fragmentation Needed for DF", () => {
    const { A, C, cAddr, aAddr } = chain(576);
    const server = endpoint(C, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 53 });
    const client = endpoint(A, UDP_PROTOCOL_NUMBER);
    const data = new Uint8Array(1400).fill(9);
    client.ep.write(data, { to: { addr: cAddr, port: 53 } });
    expect(server.ep.read().data.length).toBe(1400);
    // DF set: the router answers with the next-hop MTU (RFC 1191 §4).
    const icmp: number[][] = [];
    A.addHook("inbound", (_proto, bytes) => {
      if (bytes[9] === 1) icmp.push([bytes[20]!, bytes[21]!, (bytes[26]! << 8) | bytes[27]!]);
    });
    const route = A.findRoute(0, aAddr, cAddr, IPV4_PROTOCOL_NUMBER);
    const pkt = PacketBuffer.withPayload(
      route.maxHeaderLength,
      udpDatagram(aAddr, cAddr, 1, 53, new Uint8Array(1000)),
    );
    route.writePacket(pkt, { protocol: 17, ttl: 64, tos: 0, dontFragment: true });
    expect(icmp).toEqual([[3, 4, 576]]);
    expect(IPV4_FLAG_DONT_FRAGMENT).toBe(2);
  });
});

describe("forwarding hooks and failures", () => {
  test("forwarded hooks see routed packets and can drop them", () => {
    const { A, R, C, cAddr } = chain();
    const seen: number[] = [];
    const remove = R.addHook("forwarded", (_proto, bytes) => {
      seen.push(bytes[8]!);
      return "drop";
    });
    const out: number[] = [];
    R.addHook("outbound", (proto) => {
      if (proto === IPV4_PROTOCOL_NUMBER) out.push(proto);
    });
    const server = endpoint(C, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 53 });
    const client = endpoint(A, UDP_PROTOCOL_NUMBER);
    client.ep.write(Uint8Array.of(1), { to: { addr: cAddr, port: 53 } });
    expect(seen).toEqual([63]);
    expect(out).toEqual([]);
    expect(() => server.ep.read()).toThrow(ErrWouldBlock);
    remove();
    client.ep.write(Uint8Array.of(2), { to: { addr: cAddr, port: 53 } });
    expect(server.ep.read().data[0]).toBe(2);
  });

  test("a next hop that does not answer ARP yields Host Unreachable from the router", () => {
    const { A, R, clock } = chain();
    const icmp: number[][] = [];
    A.addHook("inbound", (_proto, bytes) => {
      if (bytes[9] === 1) icmp.push([bytes[20]!, bytes[21]!]);
    });
    const client = endpoint(A, UDP_PROTOCOL_NUMBER);
    client.ep.write(Uint8Array.of(1), { to: { addr: addr("198.18.1.77"), port: 53 } });
    clock.advance(3_000);
    expect(R.stats.arp.resolutionFailures).toBe(1);
    expect(icmp).toEqual([[3, 1]]);
  });

  test("no Time Exceeded about an ICMP error (RFC 1122 §3.2.2)", () => {
    const { A, R, aAddr, cAddr } = chain();
    const route = A.findRoute(0, aAddr, cAddr, IPV4_PROTOCOL_NUMBER);
    const quoted = ipPacket({ src: cAddr, dst: aAddr, protocol: 17, payload: new Uint8Array(8) });
    const err = new Uint8Array(8 + quoted.length);
    err.set(quoted, 8);
    encodeIcmpv4(err, 0, { type: 3, code: 3, payloadLength: quoted.length });
    const pkt = PacketBuffer.withPayload(route.maxHeaderLength, err);
    route.writePacket(pkt, { protocol: 1, ttl: 1, tos: 0 });
    expect(R.stats.ip.ttlExceeded).toBe(1);
    expect(R.stats.icmp.v4.timeExceeded.sent).toBe(0);
    // An echo request with TTL 1 does get one.
    const echoPkt = PacketBuffer.withPayload(route.maxHeaderLength, echo(1, 1));
    route.writePacket(echoPkt, { protocol: 1, ttl: 1, tos: 0 });
    expect(R.stats.icmp.v4.timeExceeded.sent).toBe(1);
  });
});

describe("fragment edge cases", () => {
  test("a fragment with MF whose length is not a multiple of 8 is dropped", () => {
    const h = ipHost();
    h.inject(
      ipPacket({
        src: h.peer,
        dst: h.local,
        protocol: 17,
        payload: new Uint8Array(13),
        flags: IPV4_FLAG_MORE_FRAGMENTS,
      }),
    );
    expect(h.s.stats.ip.malformedFragmentsReceived).toBe(1);
  });

  test("a datagram that would reassemble to more than 65535 octets is dropped (RFC 791 §3.1 Total Length)", () => {
    const h = ipHost();
    const sock = endpoint(h.s, UDP_PROTOCOL_NUMBER);
    sock.ep.bind({ port: 9 });
    // A 65515-byte UDP datagram fits a 20-byte header exactly; with 4 bytes of options in the first
    // fragment the datagram would be 65539 octets, which Total Length cannot express.
    const udp = udpDatagram(h.peer, h.local, 5, 9, new Uint8Array(65535 - 20 - 8).fill(7));
    const chunk = 32_768;
    for (let o = 0; o < udp.length; o += chunk) {
      const last = o + chunk >= udp.length;
      h.inject(
        ipPacket({
          src: h.peer,
          dst: h.local,
          protocol: 17,
          id: 9,
          payload: udp.subarray(o, Math.min(o + chunk, udp.length)),
          fragmentOffset: o,
          flags: last ? 0 : IPV4_FLAG_MORE_FRAGMENTS,
          ...(o === 0 ? { options: Uint8Array.of(1, 1, 1, 1) } : {}),
        }),
      );
    }
    expect(() => sock.ep.read()).toThrow(ErrWouldBlock);
    expect(h.s.stats.ip.malformedFragmentsReceived).toBe(1);
    expect(h.s.stats.fragments.dropped).toBe(1);
  });

  test("later fragments carry only the options with the copied flag (RFC 791 §3.1)", () => {
    const b = ipPacket({
      src: addr("198.18.0.1"),
      dst: addr("198.18.0.2"),
      protocol: 17,
      payload: new Uint8Array(100).fill(1),
      // Router Alert (copied, 148) and Record Route (not copied, 7).
      options: Uint8Array.of(148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0),
    });
    const frags = fragmentIpv4(PacketBuffer.wrap(b), 68, 14)!;
    expect(frags.length).toBeGreaterThan(2);
    const first = new Ipv4Header(frags[0]!.data, frags[0]!.head);
    const second = new Ipv4Header(frags[1]!.data, frags[1]!.head);
    expect(first.headerLength).toBe(32);
    expect(second.headerLength).toBe(24);
    expect(frags[1]!.data[frags[1]!.head + 20]).toBe(148);
    expect(second.isChecksumValid()).toBe(true);
    let total = 0;
    for (const f of frags) {
      const h = new Ipv4Header(f.data, f.head);
      expect(h.totalLength).toBeLessThanOrEqual(68);
      total += h.payloadLength;
    }
    expect(total).toBe(100);
    expect(new Ipv4Header(frags[frags.length - 1]!.data, frags[frags.length - 1]!.head).moreFragments).toBe(
      false,
    );
  });
});

describe("NIC removal", () => {
  test("a removed NIC's routes go; connected endpoints get ErrNoRoute", () => {
    const { a, bAddr } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.connect({ addr: bAddr, port: 7 });
    a.removeNIC(1);
    expect(a.getRouteTable()).toEqual([]);
    // The endpoint notices its route went stale and finds no other.
    expect(() => c.ep.write(Uint8Array.of(1))).toThrow(ErrNoRoute);
  });
});

describe("ARP resolution", () => {
  test("an unanswered neighbour fails after 3 requests with ErrNoLinkAddress", () => {
    const { a, clock } = twoHosts();
    const before = a.stats.arp.requestsSent;
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.connect({ addr: addr("198.18.0.99"), port: 7 });
    c.ep.write(Uint8Array.of(1));
    c.ep.write(Uint8Array.of(2));
    expect(a.stats.arp.requestsSent - before).toBe(1);
    clock.advance(1000);
    clock.advance(1000);
    expect(a.stats.arp.requestsSent - before).toBe(3);
    expect(
      a.neighbors(1, IPV4_PROTOCOL_NUMBER).find((n) => n.address.equals(addr("198.18.0.99")))?.state,
    ).toBe("incomplete");
    clock.advance(1000);
    expect(a.stats.arp.resolutionFailures).toBe(1);
    expect(
      a.neighbors(1, IPV4_PROTOCOL_NUMBER).find((n) => n.address.equals(addr("198.18.0.99")))?.state,
    ).toBe("failed");
    expect(() => c.ep.write(Uint8Array.of(3))).toThrow(ErrNoLinkAddress);
  });

  test("resolved entries go REACHABLE, then STALE; a send in STALE goes DELAY then PROBE", () => {
    const { a, b, bAddr, clock } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    const s = endpoint(b, UDP_PROTOCOL_NUMBER);
    s.ep.bind({ port: 7 });
    c.ep.write(Uint8Array.of(1), { to: { addr: bAddr, port: 7 } });
    const state = () => a.neighbors(1, IPV4_PROTOCOL_NUMBER).find((n) => n.address.equals(bAddr))?.state;
    expect(state()).toBe("reachable");
    clock.advance(46_000);
    expect(state()).toBe("stale");
    c.ep.write(Uint8Array.of(2), { to: { addr: bAddr, port: 7 } });
    expect(state()).toBe("delay");
    const reqs = a.stats.arp.requestsSent;
    clock.advance(5_000);
    // PROBE sends a unicast request; B answers and the entry is REACHABLE again.
    expect(a.stats.arp.requestsSent).toBe(reqs + 1);
    expect(state()).toBe("reachable");
    expect(s.ep.read().data[0]).toBe(1);
  });

  test("a route's confirmReachable (upper-layer progress) refreshes a STALE entry", () => {
    const { a, bAddr, clock } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.write(Uint8Array.of(1), { to: { addr: bAddr, port: 7 } });
    clock.advance(46_000);
    const state = () => a.neighbors(1, IPV4_PROTOCOL_NUMBER).find((n) => n.address.equals(bAddr))?.state;
    expect(state()).toBe("stale");
    a.findRoute(0, undefined, bAddr, IPV4_PROTOCOL_NUMBER).confirmReachable?.();
    expect(state()).toBe("reachable");
  });

  test("requests for other hosts are not answered; gratuitous ARP on address add", () => {
    const { a, b } = twoHosts();
    const before = b.stats.arp.repliesSent;
    const p = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    p.ep.bind({ port: 1 });
    p.ep.write(echoRequest(1), { to: { addr: addr("198.18.0.50"), port: 0 } });
    expect(b.stats.arp.requestsReceivedUnknownTargetAddress).toBeGreaterThanOrEqual(1);
    expect(b.stats.arp.repliesSent).toBe(before);
    expect(() => p.ep.read()).toThrow(ErrWouldBlock);
    // B's announcement (RFC 5227 §3) updates A's pending entry, so the queued echo request goes out.
    const announcements: string[] = [];
    a.addHook("inbound", (proto, bytes) => {
      if (proto === 0x0806 && bytes[7] === 1)
        announcements.push(`${bytes.subarray(14, 18).join(".")}>${bytes.subarray(24, 28).join(".")}`);
    });
    b.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.50"), 24);
    expect(announcements[0]).toBe("198.18.0.50>198.18.0.50");
    expect(p.ep.read().from?.addr?.equals(addr("198.18.0.50"))).toBe(true);
  });
});

describe("stack wiring", () => {
  test("handleLocal delivers to our own address without the link", () => {
    const h = ipHost();
    const s = endpoint(h.s, UDP_PROTOCOL_NUMBER);
    s.ep.bind({ port: 5 });
    const c = endpoint(h.s, UDP_PROTOCOL_NUMBER);
    c.ep.write(Uint8Array.of(42), { to: { addr: h.local, port: 5 } });
    expect([...s.ep.read().data]).toEqual([42]);
    expect(h.sent().length).toBe(0);
  });

  test("stack close stops timers", () => {
    const { a, b, clock } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.write(Uint8Array.of(1), { to: { addr: addr("198.18.0.99"), port: 7 } });
    a.close();
    b.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("loopback addresses (RFC 1122 §3.2.1.3(g))", () => {
  test("127/8 from a link is dropped; to ourselves it works", () => {
    const h = ipHost();
    h.inject(ipPacket({ src: addr("127.0.0.1"), dst: h.local, protocol: 1, payload: echo(1, 1) }));
    h.inject(ipPacket({ src: h.peer, dst: addr("127.0.0.1"), protocol: 1, payload: echo(1, 2) }));
    expect(h.sent().length).toBe(0);
    expect(h.s.stats.ip.invalidSourceAddressesReceived).toBe(2);
    h.s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("127.0.0.1"), 8);
    const p = endpoint(h.s, ICMPV4_PROTOCOL_NUMBER);
    p.ep.bind({ port: 8 });
    p.ep.write(echoRequest(1), { to: { addr: addr("127.0.0.1"), port: 0 } });
    expect(p.ep.read().data[0]).toBe(0);
  });
});

describe("echo reply options (RFC 1122 §3.2.2.6)", () => {
  test("Record Route and Timestamp come back updated with our address and time", () => {
    const h = ipHost();
    h.clock.advance(5_000);
    const rr = Uint8Array.of(7, 11, 4, 198, 18, 0, 2, 0, 0, 0, 0);
    const ts = Uint8Array.of(68, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    const opts = new Uint8Array(24);
    opts.set(rr, 0);
    opts.set(ts, 11);
    // The sender already recorded itself: point past its entry.
    opts[2] = 8;
    h.inject(ipPacket({ src: h.peer, dst: h.local, protocol: 1, payload: echo(1, 1), options: opts }));
    const out = h.sent();
    expect(out.length).toBe(1);
    const ip = new Ipv4Header(out[0]!, 0);
    expect(ip.headerLength).toBe(44);
    const o = out[0]!.subarray(20, 44);
    expect([...o.subarray(0, 3)]).toEqual([7, 11, 12]);
    expect([...o.subarray(7, 11)]).toEqual([198, 18, 0, 1]);
    expect([...o.subarray(11, 14)]).toEqual([68, 12, 13]);
    expect([...o.subarray(15, 19)]).toEqual([198, 18, 0, 1]);
    const ms = ((o[19]! << 24) | (o[20]! << 16) | (o[21]! << 8) | o[22]!) >>> 0;
    expect(ms).toBe(h.clock.wallNow() % 86_400_000);
    expect(ip.isChecksumValid()).toBe(true);
    expect(out[0]![44]).toBe(0);
  });

  test("a full Timestamp option counts an overflow instead", () => {
    const h = ipHost();
    const ts = Uint8Array.of(68, 8, 13, 0x00, 0, 0, 0, 0);
    h.inject(ipPacket({ src: h.peer, dst: h.local, protocol: 1, payload: echo(1, 1), options: ts }));
    const out = h.sent();
    expect(out[0]![23]).toBe(0x10);
  });
});

describe("ICMP redirect (RFC 1122 §3.2.2.2)", () => {
  function redirect(h: ReturnType<typeof ipHost>, from: string, gateway: string, target: string) {
    const quoted = ipPacket({ src: h.local, dst: addr(target), protocol: 17, payload: new Uint8Array(8) });
    const m = new Uint8Array(8 + quoted.length);
    m.set(quoted, 8);
    encodeIcmpv4(m, 0, { type: 5, code: 1, payloadLength: quoted.length, ident: 0, sequence: 0 });
    m.set(addr(gateway).bytes, 4);
    m[2] = 0;
    m[3] = 0;
    const c = finishChecksum(checksum(m, 0, m.length));
    m[2] = c >> 8;
    m[3] = c & 0xff;
    h.inject(ipPacket({ src: addr(from), dst: h.local, protocol: 1, payload: m }));
  }

  test("a redirect from our gateway adds a host route via the new on-link gateway", () => {
    const h = ipHost();
    h.s.addRoute({ destination: Subnet.parse("0.0.0.0/0"), gateway: addr("198.18.0.254"), nic: 1 });
    const nextHop = () =>
      h.s.findRoute(0, undefined, addr("198.19.5.5"), IPV4_PROTOCOL_NUMBER).nextHop.toString();
    // Not from the current gateway: ignored.
    redirect(h, "198.18.0.9", "198.18.0.253", "198.19.5.5");
    expect(nextHop()).toBe("198.18.0.254");
    // A gateway that is not on a connected subnet: ignored.
    redirect(h, "198.18.0.254", "198.20.0.1", "198.19.5.5");
    expect(nextHop()).toBe("198.18.0.254");
    redirect(h, "198.18.0.254", "198.18.0.253", "198.19.5.5");
    expect(nextHop()).toBe("198.18.0.253");
    expect(h.s.findRoute(0, undefined, addr("198.19.5.6"), IPV4_PROTOCOL_NUMBER).nextHop.toString()).toBe(
      "198.18.0.254",
    );
  });
});

describe("redirects we send as a router (RFC 1812 §5.2.7.2)", () => {
  test("a packet that leaves by the NIC it came in on toward the sender's subnet gets a Redirect", () => {
    const h = ipHost();
    h.s.setForwarding(IPV4_PROTOCOL_NUMBER, true);
    h.s.addRoute({ destination: Subnet.parse("198.19.0.0/16"), gateway: addr("198.18.0.253"), nic: 1 });
    h.inject(ipPacket({ src: h.peer, dst: addr("198.19.1.1"), protocol: 17, payload: new Uint8Array(8) }));
    const out = h.sent();
    expect(out.length).toBe(2);
    const icmp = out.find((p) => p[9] === 1)!;
    expect([icmp[20], icmp[21]]).toEqual([5, 1]);
    expect([...icmp.subarray(24, 28)]).toEqual([198, 18, 0, 253]);
    expect(new Ipv4Header(icmp, 0).dstAddress().equals(h.peer)).toBe(true);
    expect(h.s.stats.ip.packetsForwarded).toBe(1);
  });
});

describe("IPv4 local delivery's TransportPacketInfo (issue 10)", () => {
  test("one object reused packet after packet; a delivery nested in another gets its own, and the outer one's stays intact", () => {
    const ch = new ChannelEndpoint({ mtu: 1500 });
    const seen: { info: TransportPacketInfo; src: string; srcAfter?: string }[] = [];
    const EXPERIMENTAL = 253; // RFC 3692
    const proto: TransportProtocol = {
      number: EXPERIMENTAL,
      name: "test",
      minimumPacketSize: 4,
      parsePorts: () => ({ src: 1, dst: 2 }),
      handleUnknownDestinationPacket(_id, _pkt, info) {
        const rec: (typeof seen)[number] = { info, src: info.src.toString() };
        seen.push(rec);
        // The first packet's handler receives a second packet at once (as a looped-back reply would).
        if (seen.length === 1) {
          ch.injectInbound(
            IPV4_PROTOCOL_NUMBER,
            ipPacket({ src: other, dst: local, protocol: EXPERIMENTAL, payload: new Uint8Array(4) }),
          );
        }
        rec.srcAfter = info.src.toString();
        return true;
      },
    };
    const s = new Stack({ networkProtocols: [newIpv4Protocol()], transportProtocols: [() => proto] });
    s.createNIC(1, ch);
    const local = addV4(s, 1, "198.18.0.2/24");
    const peer = addr("198.18.0.1");
    const other = addr("198.18.0.3");
    const send = (src: Address) =>
      ch.injectInbound(
        IPV4_PROTOCOL_NUMBER,
        ipPacket({ src, dst: local, protocol: EXPERIMENTAL, payload: new Uint8Array(4) }),
      );
    send(peer);
    send(peer);
    expect(seen.map((r) => r.src)).toEqual(["198.18.0.1", "198.18.0.3", "198.18.0.1"]);
    // The outer handler read its own source again after the nested delivery.
    expect(seen[0]!.srcAfter).toBe("198.18.0.1");
    expect(seen[1]!.info).not.toBe(seen[0]!.info);
    expect(seen[2]!.info).toBe(seen[0]!.info);
  });
});

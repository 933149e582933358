import { describe, expect, test } from "bun:test";
import { encodeIpv4 } from "../../header/ipv4.ts";
import { encodeIpv6 } from "../../header/ipv6.ts";
import { encodeUdp } from "../../header/udp.ts";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import {
  ErrBadLocalAddress,
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionRefused,
  ErrDestinationRequired,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrNetworkUnreachable,
  ErrNoRoute,
  ErrNotConnected,
  ErrPortInUse,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
} from "../../tcpip/errors.ts";
import {
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ShutdownFlags,
  UDP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { EventIn, EventOut } from "../../waiter/waiter.ts";
import { ErrBroadcastDisabled } from "./datagram-endpoint.ts";
import {
  addr,
  addV4,
  addV6,
  echoRequest,
  endpoint,
  newDualStack,
  twoDualHosts,
  twoHosts,
} from "./testing.ts";

const text = (s: string) => new TextEncoder().encode(s);

describe("UDP between two stacks", () => {
  test("datagrams both ways with sender addresses", () => {
    const { a, b, aAddr, bAddr } = twoHosts();
    const server = endpoint(b, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 7 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER);
    expect(client.ep.write(text("hello"), { to: { addr: bAddr, port: 7 } })).toBe(5);
    const got = server.ep.read();
    expect(new TextDecoder().decode(got.data)).toBe("hello");
    expect(got.from?.addr?.equals(aAddr)).toBe(true);
    const clientPort = client.ep.getLocalAddress().port;
    expect(got.from?.port).toBe(clientPort);
    server.ep.write(text("world"), { to: got.from! });
    const back = client.ep.read();
    expect(new TextDecoder().decode(back.data)).toBe("world");
    expect(back.from?.port).toBe(7);
    expect(b.stats.udp.packetsReceived).toBe(1);
    expect(a.stats.udp.packetsReceived).toBe(1);
  });

  test("an unconnected endpoint needs a destination", () => {
    const { a } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    expect(() => c.ep.write(text("x"))).toThrow(ErrDestinationRequired);
  });

  test("ICMP port unreachable reaches a connected sender as ErrConnectionRefused", () => {
    const { a, b, bAddr } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.connect({ addr: bAddr, port: 9999 });
    c.ep.write(text("anyone?"));
    expect(b.stats.udp.unknownPortErrors).toBe(1);
    expect(b.stats.icmp.v4.dstUnreachable.sent).toBe(1);
    expect(a.stats.icmp.v4.dstUnreachable.received).toBe(1);
    expect(() => c.ep.write(text("again"))).toThrow(ErrConnectionRefused);
    // The error is reported once.
    expect(() => c.ep.read()).toThrow(ErrWouldBlock);
  });
});

describe("UDP over IPv6 and dual-stack", () => {
  test("datagrams both ways over IPv6 with NDP", () => {
    const { a, b, a6, b6 } = twoDualHosts();
    const server = endpoint(b, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    server.ep.setSockOpt("V6Only", true);
    server.ep.bind({ port: 7 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    client.ep.write(text("six"), { to: { addr: b6, port: 7 } });
    const got = server.ep.read();
    expect(new TextDecoder().decode(got.data)).toBe("six");
    expect(got.from?.addr?.equals(a6)).toBe(true);
    server.ep.write(text("back"), { to: got.from! });
    expect(new TextDecoder().decode(client.ep.read().data)).toBe("back");
  });

  test("an IPv6 endpoint on :: talks to IPv4 peers through mapped addresses", () => {
    const { a, b, a4, b4 } = twoDualHosts();
    const server = endpoint(b, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    server.ep.bind({ port: 7 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER);
    client.ep.write(text("four"), { to: { addr: b4, port: 7 } });
    const got = server.ep.read();
    expect(got.from?.addr?.toString()).toBe(`::ffff:${a4}`);
    server.ep.write(text("mapped"), { to: got.from! });
    expect(new TextDecoder().decode(client.ep.read().data)).toBe("mapped");
    // A V6Only endpoint cannot reach a mapped address.
    const only = endpoint(a, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    only.ep.setSockOpt("V6Only", true);
    expect(() => only.ep.write(text("x"), { to: { addr: b4.toV4Mapped(), port: 7 } })).toThrow(
      ErrNetworkUnreachable,
    );
  });

  test("a zero checksum is accepted over IPv4 and dropped over IPv6 (RFC 8200 §8.1)", () => {
    const clock = new ManualClock();
    const s = newDualStack(clock, 5);
    const ch = new ChannelEndpoint({ mtu: 1500 });
    s.createNIC(1, ch);
    addV4(s, 1, "198.18.0.1/24");
    addV6(s, clock, 1, "fd00::1/64");
    const e6 = endpoint(s, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    e6.ep.bind({ port: 9 });
    const v6 = new Uint8Array(40 + 9);
    encodeIpv6(v6, 0, {
      payloadLength: 9,
      nextHeader: 17,
      hopLimit: 64,
      src: addr("fd00::9"),
      dst: addr("fd00::1"),
    });
    encodeUdp(v6, 40, { srcPort: 1, dstPort: 9, length: 9, checksum: 0 });
    ch.injectInbound(IPV6_PROTOCOL_NUMBER, v6);
    expect(() => e6.ep.read()).toThrow(ErrWouldBlock);
    expect(s.stats.udp.checksumErrors).toBe(1);
    const v4 = new Uint8Array(20 + 9);
    encodeIpv4(v4, 0, {
      totalLength: 29,
      ttl: 64,
      protocol: 17,
      src: addr("198.18.0.9"),
      dst: addr("198.18.0.1"),
    });
    encodeUdp(v4, 20, { srcPort: 1, dstPort: 9, length: 9, checksum: 0 });
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, v4);
    expect(e6.ep.read().data.length).toBe(1);
    // A wrong non-zero checksum is dropped either way.
    v4[20 + 6] = 0x12;
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, v4);
    expect(() => e6.ep.read()).toThrow(ErrWouldBlock);
    expect(s.stats.udp.checksumErrors).toBe(2);
  });

  test("ping6 echo with the ident as port", () => {
    const { a, b6 } = twoDualHosts();
    const p = endpoint(a, ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    p.ep.bind({ port: 0x4242 });
    p.ep.write(echoRequest(3, Uint8Array.of(9, 9), 128), { to: { addr: b6, port: 0 } });
    const r = p.ep.read();
    expect(r.data[0]).toBe(129);
    expect((r.data[4]! << 8) | r.data[5]!).toBe(0x4242);
    expect([...r.data.subarray(8)]).toEqual([9, 9]);
  });
});

describe("UDP endpoint API", () => {
  function pair() {
    const h = twoHosts();
    const server = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 7 });
    const client = endpoint(h.a, UDP_PROTOCOL_NUMBER);
    client.ep.connect({ addr: h.bAddr, port: 7 });
    return { ...h, server, client };
  }

  test("peek leaves the datagram; a short read truncates it; ReceiveQueueSize is the next datagram", () => {
    const { server, client } = pair();
    client.ep.write(text("abcdef"));
    client.ep.write(text("xy"));
    expect(server.ep.getSockOpt("ReceiveQueueSize")).toBe(6);
    expect(new TextDecoder().decode(server.ep.peek().data)).toBe("abcdef");
    const r = server.ep.read(3);
    expect(new TextDecoder().decode(r.data)).toBe("abc");
    expect(r.control.truncated).toBe(true);
    expect(new TextDecoder().decode(server.ep.read().data)).toBe("xy");
    expect(server.ep.getSockOpt("ReceiveQueueSize")).toBe(0);
    expect(server.ep.getSockOpt("SendQueueSize")).toBe(0);
  });

  test("the receive buffer bounds what is queued; drops are counted", () => {
    const { b, server, client } = pair();
    server.ep.setSockOpt("ReceiveBufferSize", 5000);
    expect(server.ep.getSockOpt("ReceiveBufferSize")).toBe(5000);
    for (let i = 0; i < 10; i++) client.ep.write(new Uint8Array(1000));
    expect(b.stats.udp.receiveBufferErrors).toBe(5);
    expect(() => server.ep.setSockOpt("ReceiveBufferSize", -1)).toThrow(ErrInvalidOptionValue);
  });

  test("Timestamp adds the receive time", () => {
    const { server, client, clock } = pair();
    server.ep.setSockOpt("Timestamp", true);
    clock.advance(1234);
    client.ep.write(text("t"));
    expect(server.ep.read().control.timestamp).toBe(clock.wallNow());
  });

  test("readiness and waiter notifications", () => {
    const { server, client } = pair();
    expect(server.ep.readiness(EventIn | EventOut)).toBe(EventOut);
    client.ep.write(text("r"));
    expect(server.events).toContain(EventIn);
    expect(server.ep.readiness(EventIn | EventOut)).toBe(EventIn | EventOut);
  });

  test("shutdown: write is refused, read ends when the queue is empty", () => {
    const { server, client, bAddr } = pair();
    expect(() => server.ep.shutdown(ShutdownFlags.Read)).toThrow(ErrNotConnected);
    client.ep.shutdown(ShutdownFlags.Write);
    expect(() => client.ep.write(text("no"))).toThrow(ErrClosedForSend);
    client.ep.shutdown(ShutdownFlags.Read);
    expect(() => client.ep.read()).toThrow(ErrClosedForReceive);
    expect(client.ep.getRemoteAddress().addr?.equals(bAddr)).toBe(true);
    client.ep.close();
    expect(() => client.ep.write(text("no"))).toThrow(ErrClosedForSend);
  });

  test("broadcast needs the Broadcast option", () => {
    const { a, b } = twoHosts();
    const rx = endpoint(b, UDP_PROTOCOL_NUMBER);
    rx.ep.bind({ port: 67 });
    const tx = endpoint(a, UDP_PROTOCOL_NUMBER);
    const to = { addr: addr("255.255.255.255"), port: 67, nic: 1 };
    expect(() => tx.ep.write(text("b"), { to })).toThrow(ErrBroadcastDisabled);
    tx.ep.setSockOpt("Broadcast", true);
    tx.ep.write(text("b"), { to });
    expect(rx.ep.read().data[0]).toBe(98);
    // A directed broadcast of the subnet reaches it too.
    tx.ep.write(text("d"), { to: { addr: addr("198.18.0.255"), port: 67 } });
    expect(rx.ep.read().data[0]).toBe(100);
  });

  test("multicast: a joined group is received, a left group is not", () => {
    const { a, b } = twoHosts();
    const group = addr("224.0.0.251");
    const rx = endpoint(b, UDP_PROTOCOL_NUMBER);
    rx.ep.bind({ port: 5353 });
    const tx = endpoint(a, UDP_PROTOCOL_NUMBER);
    const to = { addr: group, port: 5353, nic: 1 };
    tx.ep.write(text("m"), { to });
    expect(() => rx.ep.read()).toThrow(ErrWouldBlock);
    rx.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: group });
    tx.ep.write(text("m"), { to });
    expect(rx.ep.read().data[0]).toBe(109);
    rx.ep.setSockOpt("RemoveMembership", { nic: 1, multicastAddress: group });
    tx.ep.write(text("m"), { to });
    expect(() => rx.ep.read()).toThrow(ErrWouldBlock);
    expect(tx.ep.getSockOpt("MulticastTTL")).toBe(1);
  });

  test("binding: address in use, ReuseAddress, bad local address, sending to port 0", () => {
    const { a, aAddr } = twoHosts();
    const one = endpoint(a, UDP_PROTOCOL_NUMBER);
    one.ep.bind({ port: 100 });
    const two = endpoint(a, UDP_PROTOCOL_NUMBER);
    expect(() => two.ep.bind({ port: 100 })).toThrow(ErrPortInUse);
    expect(() => two.ep.bind({ addr: addr("198.18.9.9"), port: 101 })).toThrow(ErrBadLocalAddress);
    two.ep.bind({ addr: aAddr, port: 101 });
    expect(two.ep.getLocalAddress()).toEqual({ addr: aAddr, port: 101 });
    expect(() => two.ep.write(text("z"), { to: { addr: aAddr, port: 0 } })).toThrow(ErrInvalidEndpointState);
    one.ep.close();
    const three = endpoint(a, UDP_PROTOCOL_NUMBER);
    three.ep.bind({ port: 100 });
    expect(() => three.ep.setSockOpt("NoDelay", true)).toThrow(ErrUnknownProtocolOption);
  });
});

describe("route changes", () => {
  test("a connected endpoint follows a route change and fails when no route is left", () => {
    const clock = new ManualClock();
    const s = newDualStack(clock, 31);
    const one = new ChannelEndpoint({ mtu: 1500 });
    const two = new ChannelEndpoint({ mtu: 1500 });
    s.createNIC(1, one);
    s.createNIC(2, two);
    s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.1.1"), 24);
    s.addAddress(2, IPV4_PROTOCOL_NUMBER, addr("198.18.2.1"), 24);
    s.addRoute({ destination: Subnet.parse("198.19.0.0/16"), nic: 1 });
    const c = endpoint(s, UDP_PROTOCOL_NUMBER);
    c.ep.bind({ port: 4000 });
    c.ep.connect({ addr: addr("198.19.0.5"), port: 53 });
    c.ep.write(Uint8Array.of(1));
    expect(one.readAll().length).toBe(1);
    s.setRouteTable([{ destination: Subnet.parse("198.19.0.0/16"), nic: 2 }]);
    c.ep.write(Uint8Array.of(2));
    expect(one.readAll().length).toBe(0);
    expect(two.readAll().length).toBe(1);
    s.setRouteTable([]);
    expect(() => c.ep.write(Uint8Array.of(3))).toThrow(ErrNoRoute);
  });
});

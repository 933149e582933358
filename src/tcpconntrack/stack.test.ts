/**
 * Connection tables attached to real stacks over channel links: flows made by
 * the stacks' own UDP and ping endpoints show up, in both directions, on both
 * ends, and on a router in between as forwarded; a real TCP connection goes
 * through every state.
 */
import { describe, expect, test } from "bun:test";
import { checkIpv4, dst, dstPort, flags, src, srcPort, tcp } from "../checker/checker.ts";
import { TCP_SYN } from "../header/tcp.ts";
import { ChannelEndpoint } from "../link/channel/channel.ts";
import { connectChannels } from "../link/channel/pipe.ts";
import { newEthernetChannel } from "../link/ethernet/ethernet-channel.ts";
import { ipv6 } from "../network/ipv6/protocol.ts";
import { Stack } from "../stack/stack.ts";
import { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { ErrConnectStarted } from "../tcpip/errors.ts";
import { parseMACAddress } from "../tcpip/link-address.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ShutdownFlags,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../tcpip/protocols.ts";
import { SeededRandom } from "../tcpip/random.ts";
import { Subnet } from "../tcpip/subnet.ts";
import { newPingProtocol4, newPingProtocol6 } from "../transport/ping/ping.ts";
import { TcpProtocol } from "../transport/tcp/protocol.ts";
import {
  addV4,
  echoRequest,
  endpoint,
  ethernetWire,
  newTestStack,
  twoHosts,
} from "../transport/udp/testing.ts";
import { newUdpProtocol } from "../transport/udp/udp.ts";
import { attachConnTable } from "./attach.ts";
import { ConnTable, type ConntrackEvent } from "./table.ts";
import { udpPacket } from "./testing/packets.ts";

const text = (s: string) => new TextEncoder().encode(s);

/**
 * Two IPv4 stacks with TCP, a table on each, and a connection from A to B's port 80 that has
 * exchanged a request and a response.
 */
function tcpConversation() {
  const clock = new ManualClock();
  const aAddr = Address.parse("198.18.0.1");
  const bAddr = Address.parse("198.18.0.2");
  const extra = { transportProtocols: [newUdpProtocol(), newPingProtocol4(), TcpProtocol.factory()] };
  const ha = newTestStack(clock, 31, extra);
  const hb = newTestStack(clock, 32, extra);
  const w = ethernetWire();
  ha.createNIC(1, w.a.link);
  hb.createNIC(1, w.b.link);
  addV4(ha, 1, "198.18.0.1/24");
  addV4(hb, 1, "198.18.0.2/24");
  const ta = new ConnTable({ clock });
  const tb = new ConnTable({ clock });
  attachConnTable(ha, ta);
  attachConnTable(hb, tb);
  const states: string[] = [];
  ta.onChange((e) => states.push(e.type === "destroy" ? `destroy:${e.reason}` : e.flow.state));

  // What A sends, as the hooks see it.
  const sent: Uint8Array[] = [];
  ha.addHook("outbound", (_np, bytes) => {
    sent.push(bytes.slice());
  });

  const listener = endpoint(hb, TCP_PROTOCOL_NUMBER);
  listener.ep.bind({ port: 80 });
  listener.ep.listen!(10);
  const client = endpoint(ha, TCP_PROTOCOL_NUMBER);
  expect(() => client.ep.connect({ addr: bAddr, port: 80 })).toThrow(ErrConnectStarted);
  clock.advance(10);
  const port = client.ep.getLocalAddress().port;
  const flow = (t: ConnTable) => t.lookup("tcp", aAddr, port, bAddr, 80);
  expect(flow(ta)?.state).toBe("established");
  expect(flow(tb)?.state).toBe("established");
  const { endpoint: server } = listener.ep.accept!();

  expect(client.ep.write(text("GET / HTTP/1.0\r\n\r\n"))).toBe(18);
  clock.advance(50);
  expect(new TextDecoder().decode(server.read().data)).toBe("GET / HTTP/1.0\r\n\r\n");
  server.write(text("HTTP/1.0 200 OK\r\n\r\nhello"));
  clock.advance(50);
  expect(new TextDecoder().decode(client.ep.read().data)).toBe("HTTP/1.0 200 OK\r\n\r\nhello");

  return { clock, ta, tb, states, flow, client: client.ep, server, sent, port };
}

describe("conntrack on two stacks over a channel link", () => {
  test("a UDP exchange is one entry on each side, original direction from the client", () => {
    const { clock, a, b, aAddr, bAddr } = twoHosts();
    const ta = new ConnTable({ clock });
    const tb = new ConnTable({ clock });
    attachConnTable(a, ta);
    attachConnTable(b, tb);
    const events: ConntrackEvent[] = [];
    tb.onChange((e) => events.push(e));

    const server = endpoint(b, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 7 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER);
    client.ep.write(text("hello"), { to: { addr: bAddr, port: 7 } });
    const got = server.ep.read();
    server.ep.write(text("world!"), { to: got.from! });
    client.ep.read();
    const port = client.ep.getLocalAddress().port;

    for (const t of [ta, tb]) {
      expect(t.counts()).toEqual({ total: 1, tcp: 0, udp: 1, icmp: 0 });
      expect(t.lookup("udp", aAddr, port, bAddr, 7)).toMatchObject({
        protocol: "udp",
        ipVersion: 4,
        origSrc: "198.18.0.1",
        origSrcPort: port,
        origDst: "198.18.0.2",
        origDstPort: 7,
        state: "assured",
        origPackets: 1,
        origBytes: 20 + 8 + 5,
        replyPackets: 1,
        replyBytes: 20 + 8 + 6,
        forwarded: false,
      });
    }
    // ARP went through the hooks too, and was left alone.
    expect(ta.stats.untracked).toBeGreaterThan(0);
    expect(ta.stats.malformed).toBe(0);
    expect(events.map((e) => e.type)).toEqual(["new", "update"]);

    clock.advance(120_000);
    expect(ta.size).toBe(0);
    expect(tb.size).toBe(0);
  });

  test("ping: an ICMP echo entry per identifier", () => {
    const { a, b, aAddr, bAddr, clock } = twoHosts();
    const ta = new ConnTable({ clock });
    attachConnTable(a, ta);
    const { ep } = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    ep.bind({ port: 0x4242 });
    for (let seq = 1; seq <= 3; seq++) {
      ep.write(echoRequest(seq, text("ping")), { to: { addr: bAddr, port: 0 } });
      ep.read();
    }
    expect(b.stats.icmp.v4.echoReply.sent).toBe(3);
    expect(ta.lookup("icmp", aAddr, 0x4242, bAddr, 0x4242)).toMatchObject({
      state: "replied",
      origPackets: 3,
      replyPackets: 3,
      origSrcPort: 0x4242,
    });
  });

  test("a datagram the stack sends to itself is counted once", () => {
    const { a, aAddr, clock } = twoHosts();
    const ta = new ConnTable({ clock });
    attachConnTable(a, ta);
    const server = endpoint(a, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 9 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER);
    client.ep.write(text("me"), { to: { addr: aAddr, port: 9 } });
    expect(new TextDecoder().decode(server.ep.read().data)).toBe("me");
    const port = client.ep.getLocalAddress().port;
    expect(ta.lookup("udp", aAddr, port, aAddr, 9)).toMatchObject({ origPackets: 1, replyPackets: 0 });
  });

  test("a router between two hosts tracks the routed flow once, marked forwarded", () => {
    const { clock } = twoHosts();
    const h1 = newTestStack(clock, 11);
    const router = newTestStack(clock, 12);
    const h2 = newTestStack(clock, 13);
    const w1 = ethernetWire();
    const w2 = ethernetWire();
    h1.createNIC(1, w1.a.link);
    router.createNIC(1, w1.b.link);
    router.createNIC(2, w2.a.link);
    h2.createNIC(1, w2.b.link);
    const h1Addr = addV4(h1, 1, "198.18.1.2/24");
    const r1 = addV4(router, 1, "198.18.1.1/24");
    const r2 = addV4(router, 2, "198.18.2.1/24");
    const h2Addr = addV4(h2, 1, "198.18.2.2/24");
    h1.addRoute({ destination: Subnet.parse("198.18.2.0/24"), gateway: r1, nic: 1 });
    h2.addRoute({ destination: Subnet.parse("198.18.1.0/24"), gateway: r2, nic: 1 });
    router.setForwarding(IPV4_PROTOCOL_NUMBER, true);
    const tr = new ConnTable({ clock });
    attachConnTable(router, tr);

    const server = endpoint(h2, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 53 });
    const client = endpoint(h1, UDP_PROTOCOL_NUMBER);
    client.ep.write(text("query"), { to: { addr: h2Addr, port: 53 } });
    const q = server.ep.read();
    server.ep.write(text("answer"), { to: q.from! });
    expect(new TextDecoder().decode(client.ep.read().data)).toBe("answer");

    const port = client.ep.getLocalAddress().port;
    expect(router.stats.ip.packetsForwarded).toBe(2);
    expect(tr.lookup("udp", h1Addr, port, h2Addr, 53)).toMatchObject({
      origSrc: "198.18.1.2",
      origDst: "198.18.2.2",
      state: "assured",
      forwarded: true,
      origPackets: 1,
      replyPackets: 1,
    });
    expect(tr.counts().udp).toBe(1);
  });

  test("a real TCP connection: handshake, data both ways, reset, expiry", () => {
    const { clock, ta, tb, states, flow, client, server } = tcpConversation();
    // Closing with unread data aborts with a reset (RFC 9293 §3.10.4, as Linux does).
    client.write(text("unread"));
    clock.advance(50);
    server.close();
    clock.advance(50);
    for (const t of [ta, tb]) {
      expect(flow(t)).toMatchObject({
        state: "close",
        assured: true,
        origSrc: "198.18.0.1",
        origDst: "198.18.0.2",
        origDstPort: 80,
        replyPackets: flow(ta)!.replyPackets,
      });
      expect(flow(t)!.origBytes).toBeGreaterThan(18 + 6);
      expect(flow(t)!.replyBytes).toBeGreaterThan(24);
    }
    clock.advance(10_000);
    expect(ta.size).toBe(0);
    expect(tb.size).toBe(0);
    expect(states).toEqual(["syn_sent", "syn_recv", "established", "close", "destroy:timeout"]);
  });

  test("a real TCP connection closed gracefully: every closing state, then TIME-WAIT expiry", () => {
    const { clock, ta, tb, states, flow, client, server, sent, port } = tcpConversation();
    // The entry's original direction is A's SYN.
    checkIpv4(
      sent.find((p) => p[9] === TCP_PROTOCOL_NUMBER)!,
      src("198.18.0.1"),
      dst("198.18.0.2"),
      tcp(srcPort(port), dstPort(80), flags(TCP_SYN)),
    );
    client.shutdown(ShutdownFlags.Write);
    clock.advance(50);
    expect(flow(ta)?.state).toBe("close_wait");
    expect(flow(tb)?.state).toBe("close_wait");
    server.close();
    clock.advance(50);
    for (const t of [ta, tb]) {
      expect(flow(t)).toMatchObject({ state: "time_wait", assured: true });
      expect(t.stats.invalid).toBe(0);
    }
    expect(flow(tb)).toMatchObject({
      origPackets: flow(ta)!.origPackets,
      replyPackets: flow(ta)!.replyPackets,
      origBytes: flow(ta)!.origBytes,
      replyBytes: flow(ta)!.replyBytes,
    });
    client.close();
    clock.advance(120_000);
    expect(ta.size).toBe(0);
    expect(tb.size).toBe(0);
    expect(states).toEqual([
      "syn_sent",
      "syn_recv",
      "established",
      "fin_wait",
      "close_wait",
      "last_ack",
      "time_wait",
      "destroy:timeout",
    ]);
  });

  test("IPv6: UDP, ping6 and TCP between two stacks", () => {
    const clock = new ManualClock();
    const mk = (mac: string, seed: number) => {
      const st = new Stack({
        networkProtocols: [ipv6()],
        transportProtocols: [newUdpProtocol(), newPingProtocol6(), TcpProtocol.factory()],
        clock,
        random: new SeededRandom(seed),
      });
      const ch = newEthernetChannel({ mtu: 1500, linkAddress: parseMACAddress(mac) });
      st.createNIC(1, ch.link);
      return { st, wire: ch.wire };
    };
    const ha = mk("02:00:00:00:01:0a", 41);
    const hb = mk("02:00:00:00:01:0b", 42);
    connectChannels(ha.wire, hb.wire, { auto: true });
    const a = ha.st;
    const b = hb.st;
    const aAddr = Address.parse("fd00::a");
    const bAddr = Address.parse("fd00::b");
    for (const [h, addr] of [
      [a, aAddr],
      [b, bAddr],
    ] as const) {
      h.addAddress(1, IPV6_PROTOCOL_NUMBER, addr, 64);
      h.addRoute({ destination: Subnet.parse("fd00::/64"), nic: 1 });
    }
    // Let duplicate address detection finish.
    for (let t = 0; t < 3000; t += 10) clock.advance(10);
    const ta = new ConnTable({ clock });
    attachConnTable(a, ta);
    const ep = (s: Stack, proto: number) => endpoint(s, proto, IPV6_PROTOCOL_NUMBER).ep;

    const server = ep(b, UDP_PROTOCOL_NUMBER);
    server.bind({ port: 7 });
    const client = ep(a, UDP_PROTOCOL_NUMBER);
    client.write(text("six"), { to: { addr: bAddr, port: 7 } });
    const got = server.read();
    server.write(text("back"), { to: got.from! });
    client.read();
    expect(ta.lookup("udp", aAddr, client.getLocalAddress().port, bAddr, 7)).toMatchObject({
      ipVersion: 6,
      origSrc: "fd00::a",
      origDst: "fd00::b",
      state: "assured",
      origBytes: 40 + 8 + 3,
      replyBytes: 40 + 8 + 4,
    });

    const pinger = ep(a, ICMPV6_PROTOCOL_NUMBER);
    pinger.bind({ port: 0x66 });
    pinger.write(echoRequest(1, text("v6"), 128), { to: { addr: bAddr, port: 0 } });
    expect(pinger.read().data[0]).toBe(129);
    expect(ta.lookup("icmpv6", aAddr, 0x66, bAddr, 0)).toMatchObject({
      state: "replied",
      protocol: "icmpv6",
    });

    const listener = ep(b, TCP_PROTOCOL_NUMBER);
    listener.bind({ port: 443 });
    listener.listen!(5);
    const tcpClient = ep(a, TCP_PROTOCOL_NUMBER);
    expect(() => tcpClient.connect({ addr: bAddr, port: 443 })).toThrow(ErrConnectStarted);
    clock.advance(10);
    const port = tcpClient.getLocalAddress().port;
    expect(ta.lookup("tcp", bAddr, 443, aAddr, port)).toMatchObject({ state: "established", ipVersion: 6 });
    expect(ta.counts()).toEqual({ total: 3, tcp: 1, udp: 1, icmp: 1 });
    expect(ta.stats.invalid).toBe(0);
    expect(ta.stats.malformed).toBe(0);
  });
});

describe("conntrack time on a Stack", () => {
  test("packets of one link batch take the batch's time (read once); a packet outside a batch reads the clock", () => {
    const clock = new ManualClock();
    const stack = newTestStack(clock, 41);
    const link = new ChannelEndpoint({ mtu: 1500 });
    stack.createNIC(1, link);
    const us = addV4(stack, 1, "198.18.0.2/24");
    const peer = Address.parse("198.18.0.9");
    endpoint(stack, UDP_PROTOCOL_NUMBER).ep.bind({ port: 7 });
    const table = new ConnTable({ clock });
    attachConnTable(stack, table);
    const lastSeen = (sport: number) =>
      table.lookup("udp", peer, sport, us, 7)!.lastSeen - clock.wallNow() + clock.now();

    clock.advance(5);
    // What a link's drain does through its NIC (beginBatch/endBatch, link-endpoint.ts).
    stack.beginBatch();
    link.injectInbound(IPV4_PROTOCOL_NUMBER, udpPacket(peer, us, 1000, 7));
    clock.advance(3); // time passes within the batch
    link.injectInbound(IPV4_PROTOCOL_NUMBER, udpPacket(peer, us, 1001, 7));
    stack.endBatch();
    link.injectInbound(IPV4_PROTOCOL_NUMBER, udpPacket(peer, us, 1002, 7));

    expect(table.counts().udp).toBe(3);
    expect([lastSeen(1000), lastSeen(1001), lastSeen(1002)]).toEqual([5, 5, 8]);
  });
});

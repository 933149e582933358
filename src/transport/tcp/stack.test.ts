/** TCP on two real Stacks over Ethernet channel links (IPv4 with ARP, IPv6 with NDP). */
import { describe, expect, test } from "bun:test";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { ipv6 } from "../../network/ipv6/protocol.ts";
import { Stack } from "../../stack/stack.ts";
import type { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectionRefused, ErrConnectStarted } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { EventIn, Queue } from "../../waiter/waiter.ts";
import { addV4, addV6, ethernetWire } from "../udp/testing.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { TcpProtocol } from "./protocol.ts";
import { bytes, drain } from "./testing/pair.ts";

function hosts() {
  const clock = new ManualClock();
  const mk = (seed: number) =>
    new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6({ handleRouterAdvertisements: false })],
      transportProtocols: [TcpProtocol.factory()],
      clock,
      random: new SeededRandom(seed),
    });
  const a = mk(1);
  const b = mk(2);
  const w = ethernetWire(1500, { auto: false });
  a.createNIC(1, w.a.link);
  b.createNIC(1, w.b.link);
  const a4 = addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  const a6 = addV6(a, clock, 1, "fd00::1/64");
  const b6 = addV6(b, clock, 1, "fd00::2/64");
  /** Moves packets and time until quiet (or `ms` passed). */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t++) {
      w.pipe.flush();
      clock.advance(1);
    }
    w.pipe.flush();
  };
  return { clock, a, b, a4, b4, a6, b6, run, pipe: w.pipe };
}

function open(stack: Stack, netProto: number): { ep: TcpEndpoint; wq: Queue } {
  const wq = new Queue();
  return { ep: stack.newEndpoint(TCP_PROTOCOL_NUMBER, netProto, wq) as unknown as TcpEndpoint, wq };
}

function echoRoundTrip(h: ReturnType<typeof hosts>, netProto: number, server: Address) {
  const { ep: l, wq: lq } = open(h.b, netProto);
  l.bind({ port: 7 });
  l.listen(8);
  let ready = 0;
  lq.register({ callback: () => ready++ }, EventIn);
  const { ep: c } = open(h.a, netProto);
  expect(() => c.connect({ addr: server, port: 7 })).toThrow(ErrConnectStarted);
  h.run(50);
  expect(c.state).toBe("ESTABLISHED");
  expect(ready).toBe(1);
  const { endpoint: s } = l.accept();
  const data = bytes(200_000);
  let off = 0;
  let got = 0;
  const back: Uint8Array[] = [];
  for (let i = 0; i < 20_000 && got < data.length; i++) {
    if (off < data.length) {
      try {
        off += c.write(data.subarray(off));
      } catch {}
    }
    h.run(1);
    const d = drain(s as TcpEndpoint);
    if (d.length) (s as TcpEndpoint).write(d);
    const e = drain(c);
    got += e.length;
    back.push(e);
  }
  expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
  c.close();
  h.run(10);
  (s as TcpEndpoint).close();
  h.run(10);
  expect(c.state).toBe("TIME-WAIT");
  expect((s as TcpEndpoint).state).toBe("CLOSED");
  return { c, s: s as TcpEndpoint };
}

describe("TCP over real stacks", () => {
  test("IPv4: connect, 200 kB echoed, close", () => {
    const h = hosts();
    echoRoundTrip(h, IPV4_PROTOCOL_NUMBER, h.b4);
    expect(h.a.stats.tcp.activeConnectionOpenings).toBe(1);
    expect(h.b.stats.tcp.passiveConnectionOpenings).toBe(1);
  });

  test("IPv6: connect, 200 kB echoed, close", () => {
    const h = hosts();
    const { c } = echoRoundTrip(h, IPV6_PROTOCOL_NUMBER, h.b6);
    expect(c.getRemoteAddress().addr?.toString()).toBe("fd00::2");
  });

  test("dual-stack listener accepts IPv4 and shows the peer v4-mapped", () => {
    const h = hosts();
    const { ep: l } = open(h.b, IPV6_PROTOCOL_NUMBER);
    l.bind({ port: 80 });
    l.listen(4);
    const { ep: c } = open(h.a, IPV4_PROTOCOL_NUMBER);
    expect(() => c.connect({ addr: h.b4, port: 80 })).toThrow(ErrConnectStarted);
    h.run(50);
    const { endpoint } = l.accept();
    expect(endpoint.getRemoteAddress().addr?.toString()).toBe("::ffff:198.18.0.1");
  });

  test("connecting to a closed port: the stack's TCP answers RST, connect is refused", () => {
    const h = hosts();
    const { ep: c } = open(h.a, IPV4_PROTOCOL_NUMBER);
    expect(() => c.connect({ addr: h.b4, port: 9999 })).toThrow(ErrConnectStarted);
    h.run(50);
    expect(c.state).toBe("CLOSED");
    expect(c.getSockOpt("Error")).toBeInstanceOf(ErrConnectionRefused);
    expect(h.b.stats.tcp.resetsSent).toBe(1);
  });

  test("TIME-WAIT reuse: reconnecting from the same port replaces the TIME-WAIT connection", () => {
    const h = hosts();
    const { ep: l } = open(h.b, IPV4_PROTOCOL_NUMBER);
    l.bind({ port: 80 });
    l.listen(4);
    const { ep: c } = open(h.a, IPV4_PROTOCOL_NUMBER);
    c.setSockOpt("ReuseAddress", true);
    c.bind({ port: 5555 });
    expect(() => c.connect({ addr: h.b4, port: 80 })).toThrow(ErrConnectStarted);
    h.run(20);
    const { endpoint: s } = l.accept();
    c.close();
    h.run(20);
    s.close();
    h.run(20);
    expect(c.state).toBe("TIME-WAIT");
    const { ep: c2 } = open(h.a, IPV4_PROTOCOL_NUMBER);
    c2.setSockOpt("ReuseAddress", true);
    c2.bind({ port: 5555 });
    expect(() => c2.connect({ addr: h.b4, port: 80 })).toThrow(ErrConnectStarted);
    h.run(20);
    expect(c2.state).toBe("ESTABLISHED");
    expect(c.state).toBe("CLOSED");
  });
});

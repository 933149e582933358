/** TcpForwarder on two real Stacks over Ethernet channel links (IPv4 with ARP, IPv6 with NDP). */
import { describe, expect, test } from "bun:test";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { ipv6 } from "../../network/ipv6/protocol.ts";
import { Stack } from "../../stack/stack.ts";
import type { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectionRefused, ErrConnectStarted, ErrInvalidEndpointState } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { EventOut, Queue } from "../../waiter/waiter.ts";
import { addr, addV4, addV6, ethernetWire } from "../udp/testing.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { type ForwarderRequest, TcpForwarder } from "./forwarder.ts";
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
  const run = (ms: number) => {
    for (let t = 0; t < ms; t++) {
      w.pipe.flush();
      clock.advance(1);
    }
    w.pipe.flush();
  };
  return { clock, a, b, a4, b4, a6, b6, run };
}

function open(stack: Stack, netProto: number): TcpEndpoint {
  return stack.newEndpoint(TCP_PROTOCOL_NUMBER, netProto, new Queue()) as unknown as TcpEndpoint;
}

/** Sends `data` from c to s and back (s echoes) and checks both directions byte-exact. */
function echo(run: (ms: number) => void, c: TcpEndpoint, s: TcpEndpoint, data: Uint8Array): void {
  let off = 0;
  const back: Uint8Array[] = [];
  let got = 0;
  for (let i = 0; i < 5000 && got < data.length; i++) {
    if (off < data.length) {
      try {
        off += c.write(data.subarray(off));
      } catch {}
    }
    run(1);
    const d = drain(s);
    if (d.length) s.write(d);
    const e = drain(c);
    got += e.length;
    back.push(e);
  }
  expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
}

function acceptCase(netProto: number, server: (h: ReturnType<typeof hosts>) => Address) {
  const h = hosts();
  const reqs: ForwarderRequest[] = [];
  new TcpForwarder(h.b, { maxInFlight: 4 }, (r) => reqs.push(r));
  const c = open(h.a, netProto);
  const dst = server(h);
  expect(() => c.connect({ addr: dst, port: 4242 })).toThrow(ErrConnectStarted);
  h.run(20);
  expect(reqs.length).toBe(1);
  const r = reqs[0]!;
  expect(r.id.localAddress!.equals(dst)).toBe(true);
  expect(r.id.localPort).toBe(4242);
  expect(r.id.remotePort).toBe(c.getLocalAddress().port);
  expect(c.state).toBe("SYN-SENT");
  const res = r.complete(true)!;
  let writable = 0;
  res.waiterQueue.register({ callback: () => writable++ }, EventOut);
  h.run(20);
  expect(c.state).toBe("ESTABLISHED");
  expect(res.endpoint.state).toBe("ESTABLISHED");
  expect(writable).toBeGreaterThan(0);
  expect(() => r.complete(true)).toThrow(ErrInvalidEndpointState);
  echo(h.run, c, res.endpoint, bytes(50_000));
  c.close();
  h.run(10);
  res.endpoint.close();
  h.run(10);
  expect(c.state).toBe("TIME-WAIT");
  expect(res.endpoint.state).toBe("CLOSED");
  return h;
}

describe("TcpForwarder", () => {
  test("IPv4: accepted request becomes a connection; data flows both ways", () => {
    acceptCase(IPV4_PROTOCOL_NUMBER, (h) => h.b4);
  });

  test("IPv6: accepted request becomes a connection; data flows both ways", () => {
    acceptCase(IPV6_PROTOCOL_NUMBER, (h) => h.b6);
  });

  test("refused request is answered with RST (RFC 9293 §3.10.7.1): connect is refused", () => {
    const h = hosts();
    const f = new TcpForwarder(h.b, { maxInFlight: 4 }, (r) => r.complete(false));
    const c = open(h.a, IPV4_PROTOCOL_NUMBER);
    expect(() => c.connect({ addr: h.b4, port: 81 })).toThrow(ErrConnectStarted);
    h.run(50);
    expect(c.state).toBe("CLOSED");
    expect(c.getSockOpt("Error")).toBeInstanceOf(ErrConnectionRefused);
    expect(h.b.stats.tcp.resetsSent).toBe(1);
    expect(f.requests).toBe(1);
    expect(f.pending).toBe(0);
  });

  test("a listener still wins; after close() unknown SYNs get RST again", () => {
    const h = hosts();
    const reqs: ForwarderRequest[] = [];
    const f = new TcpForwarder(h.b, { maxInFlight: 4 }, (r) => reqs.push(r));
    const l = open(h.b, IPV4_PROTOCOL_NUMBER);
    l.bind({ port: 80 });
    l.listen(4);
    const c = open(h.a, IPV4_PROTOCOL_NUMBER);
    expect(() => c.connect({ addr: h.b4, port: 80 })).toThrow(ErrConnectStarted);
    h.run(20);
    expect(c.state).toBe("ESTABLISHED");
    expect(reqs.length).toBe(0);
    f.close();
    const d = open(h.a, IPV4_PROTOCOL_NUMBER);
    expect(() => d.connect({ addr: h.b4, port: 90 })).toThrow(ErrConnectStarted);
    h.run(20);
    expect(d.getSockOpt("Error")).toBeInstanceOf(ErrConnectionRefused);
  });

  test("in-flight bound: SYNs beyond maxInFlight are dropped and counted; retransmits are not new requests", () => {
    const h = hosts();
    const reqs: ForwarderRequest[] = [];
    const f = new TcpForwarder(h.b, { maxInFlight: 2 }, (r) => reqs.push(r));
    const cs = [0, 1, 2].map(() => open(h.a, IPV4_PROTOCOL_NUMBER));
    for (const c of cs) expect(() => c.connect({ addr: h.b4, port: 5000 })).toThrow(ErrConnectStarted);
    h.run(20);
    expect(reqs.length).toBe(2);
    expect(f.pending).toBe(2);
    expect(f.dropped).toBe(1);
    // SYN retransmissions (1 s RTO): the two pending are not asked again, the third is dropped again.
    h.run(1100);
    expect(reqs.length).toBe(2);
    expect(f.dropped).toBe(2);
    // Completing frees the slots; the next retransmission of the third SYN is a new request.
    for (const r of reqs) r.complete(true);
    h.run(50);
    expect(f.pending).toBe(0);
    expect(cs[0]!.state).toBe("ESTABLISHED");
    expect(cs[1]!.state).toBe("ESTABLISHED");
    h.run(2100);
    expect(reqs.length).toBe(3);
    reqs[2]!.complete(true);
    h.run(50);
    expect(cs[2]!.state).toBe("ESTABLISHED");
    expect(h.b.stats.tcp.resetsSent).toBe(0);
  });

  for (const fam of ["IPv4", "IPv6"] as const) {
    test(`${fam}: transparent proxy: the stack accepts a connection to an address it does not own (spoofing + promiscuous)`, () => {
      const v4 = fam === "IPv4";
      const dst = addr(v4 ? "198.18.5.9" : "fd00:5::9");
      const h = acceptCase(v4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER, (h) => {
        // A reaches the foreign subnet through B as its gateway; B takes any destination and answers as it.
        h.a.addRoute({
          destination: Subnet.fromPrefix(dst, v4 ? 24 : 64),
          gateway: v4 ? h.b4 : h.b6,
          nic: 1,
        });
        h.b.setPromiscuousMode(1, true);
        h.b.setSpoofing(1, true);
        return dst;
      });
      expect(h.b.stats.tcp.resetsSent).toBe(0);
    });
  }
});

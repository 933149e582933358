/**
 * ECN through the real network layer (RFC 3168 §5): two Stacks with IPv4 and
 * IPv6 over a NetSim bottleneck that marks CE above a queue threshold. What
 * TCP asks for leaves in the IPv4 TOS / IPv6 Traffic Class (ECT(0) on new data
 * only), and the CE the path set comes back up to TCP with the segment (the
 * receiver counts every mark). Counts only, on a ManualClock.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ECE } from "../../header/tcp.ts";
import { NetSim } from "../../link/netsim/netsim.ts";
import { newArpProtocol } from "../../network/arp/index.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { ipv6 } from "../../network/ipv6/index.ts";
import { Stack } from "../../stack/stack.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectStarted, ErrWouldBlock } from "../../tcpip/errors.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  TCP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { addr, addV4, addV6, endpoint } from "../udp/testing.ts";
import { IP_ECN_ECT0, IP_ECN_NOT_ECT } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { TcpProtocol } from "./protocol.ts";
import { bytes } from "./testing/pair.ts";

/** ECN field, TCP payload length and TCP flags of an IPv4 or IPv6 TCP packet (no extension headers); undefined otherwise. */
function tcpOf(netProto: NetworkProtocolNumber, b: Uint8Array) {
  let ecn: number;
  let tcp: number;
  let total: number;
  if (netProto === IPV4_PROTOCOL_NUMBER) {
    if (b[9] !== TCP_PROTOCOL_NUMBER) return undefined;
    ecn = b[1]! & 3;
    tcp = (b[0]! & 15) * 4;
    total = (b[2]! << 8) | b[3]!;
  } else if (netProto === IPV6_PROTOCOL_NUMBER) {
    if (b[6] !== TCP_PROTOCOL_NUMBER) return undefined;
    ecn = (b[1]! >>> 4) & 3;
    tcp = 40;
    total = 40 + ((b[4]! << 8) | b[5]!);
  } else {
    return undefined;
  }
  const payload = total - tcp - (b[tcp + 12]! >>> 4) * 4;
  return { ecn, payload, flags: b[tcp + 13]! };
}

function transfer(v6: boolean) {
  const clock = new ManualClock();
  const mk = (seed: number) =>
    new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6({ handleRouterAdvertisements: false })],
      transportProtocols: [TcpProtocol.factory({ ecn: 1 })],
      clock,
      random: new SeededRandom(seed),
    });
  const a = mk(1);
  const b = mk(2);
  const sim = new NetSim({
    clock,
    random: new SeededRandom(3),
    aToB: { bandwidthBps: 20_000_000, delayMs: 10, queueBytes: 60_000, ceThresholdBytes: 20_000 },
    bToA: { delayMs: 10 },
  });
  a.createNIC(1, sim.a);
  b.createNIC(1, sim.b);
  const netProto = v6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
  if (v6) {
    addV6(a, clock, 1, "fd00::1/64");
    addV6(b, clock, 1, "fd00::2/64");
  } else {
    addV4(a, 1, "198.18.0.1/24");
    addV4(b, 1, "198.18.0.2/24");
  }
  // What each side put on the wire, by kind and ECN field.
  const out = { dataEct0: 0, dataNotEct: 0, dataOther: 0, pureAckEct: 0, bEct: 0, bEce: 0 };
  a.addHook("outbound", (np, pkt) => {
    const t = tcpOf(np, pkt);
    if (t === undefined) return;
    if (t.payload > 0) {
      if (t.ecn === IP_ECN_ECT0) out.dataEct0++;
      else if (t.ecn === IP_ECN_NOT_ECT) out.dataNotEct++;
      else out.dataOther++;
    } else if (t.ecn !== IP_ECN_NOT_ECT) out.pureAckEct++;
  });
  b.addHook("outbound", (np, pkt) => {
    const t = tcpOf(np, pkt);
    if (t === undefined) return;
    if (t.ecn !== IP_ECN_NOT_ECT) out.bEct++;
    if ((t.flags & TCP_ECE) !== 0) out.bEce++;
  });
  const listener = endpoint(b, TCP_PROTOCOL_NUMBER, netProto).ep;
  listener.bind({ port: 9 });
  listener.listen!(1);
  const client = endpoint(a, TCP_PROTOCOL_NUMBER, netProto).ep as TcpEndpoint;
  expect(() => client.connect({ addr: addr(v6 ? "fd00::2" : "198.18.0.2"), port: 9 })).toThrow(
    ErrConnectStarted,
  );
  clock.advance(100);
  const server = listener.accept!().endpoint as TcpEndpoint;
  const data = bytes(1 << 20, 4);
  let sent = 0;
  let got = 0;
  let ok = true;
  for (let i = 0; i < 100_000 && got < data.length; i++) {
    if (sent < data.length) {
      try {
        sent += client.write(data.subarray(sent));
      } catch (e) {
        if (!(e instanceof ErrWouldBlock)) throw e;
      }
    }
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = server.read().data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) break;
        throw e;
      }
      for (let j = 0; j < chunk.length; j++) if (chunk[j] !== data[got + j]) ok = false;
      got += chunk.length;
    }
    if (got < data.length && !clock.advanceToNext()) break;
  }
  const r = {
    ok: ok && got === data.length,
    out,
    path: { ...sim.statsAToB },
    a: a.stats.tcp,
    b: b.stats.tcp,
  };
  sim.close();
  return r;
}

describe("ECN through IPv4 and IPv6 between two stacks", () => {
  for (const v6 of [false, true]) {
    test(`${v6 ? "IPv6 Traffic Class" : "IPv4 TOS"}: data leaves ECT(0), ACKs Not-ECT; every CE mark reaches TCP`, () => {
      const r = transfer(v6);
      expect(r.ok).toBe(true);
      expect(r.a.ecnNegotiated).toBe(1);
      expect(r.a.retransmits).toBe(0);
      // Nothing was retransmitted, so every data packet was new data: all ECT(0).
      expect(r.out.dataEct0).toBeGreaterThan(700);
      expect(r.out.dataNotEct).toBe(0);
      expect(r.out.dataOther).toBe(0);
      // The handshake and the client's ACKs, and everything the receiver sent, left Not-ECT.
      expect(r.out.pureAckEct).toBe(0);
      expect(r.out.bEct).toBe(0);
      // CE set in the IP header on the path arrived with the segment at TCP, every one.
      expect(r.path.ceMarked).toBeGreaterThan(0);
      expect(r.path.droppedQueue).toBe(0);
      expect(r.b.ecnCeReceived).toBe(r.path.ceMarked);
      expect(r.out.bEce).toBeGreaterThan(0);
      // (The last ACKs may still be on their way when the last byte is read.)
      expect(r.a.ecnEceReceived).toBeGreaterThan(0);
      expect(r.a.ecnEceReceived).toBeLessThanOrEqual(r.out.bEce);
      expect(r.a.ecnCwndReductions).toBeGreaterThan(0);
      expect(r.b.ecnCwrReceived).toBe(r.a.ecnCwrSent);
    });
  }
});

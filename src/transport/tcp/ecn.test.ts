/**
 * ECN for TCP (RFC 3168 §6.1) as packet traces against a RawPeer and runs
 * between two stacks (Pair): the negotiation matrix of the `ecn` option and
 * the `Ecn` socket option, the IP ECN field of each kind of segment, the
 * receiver's ECE until CWR, the sender's one reduction per window with CWR on
 * the next new data, and no second reduction inside loss recovery.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_SYN, type TcpOptionFields } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ErrConnectStarted, ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { IP_ECN_CE, IP_ECN_ECT0, IP_ECN_NOT_ECT } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import type { TcpStackOptions } from "./protocol-options.ts";
import { sizedTransfer } from "./testing/netsim-transfer.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";
import type { SegmentFields } from "./testing/segments.ts";

const ECN_SETUP = TCP_ECE | TCP_CWR;
/** Options without timestamps or SACK: plain sequence arithmetic in the traces; MSS 1000. */
const PLAIN: TcpOptionFields = { mss: 1000 };

const ecnBits = (s: SegmentFields) => (s.tos ?? -1) & 3;

/** Peer SYN (ECN-setup unless `flags` says otherwise) → SYN-ACK → ACK; the accepted endpoint. */
function passiveOpen(p: RawPeer, synFlags = TCP_SYN | ECN_SETUP) {
  const { ep: listener } = p.newEndpoint();
  listener.bind({ port: p.localPort });
  listener.listen(10);
  const irs = 5000;
  p.send({ flags: synFlags, seq: irs, window: 65535, options: PLAIN });
  const synAck = p.next();
  p.send({ flags: TCP_ACK, seq: irs + 1, ack: seqAdd(synAck.seq, 1), window: 65535 });
  const { endpoint } = listener.accept();
  return { listener, ep: endpoint as TcpEndpoint, synAck, rcvNxt: irs + 1, sndNxt: seqAdd(synAck.seq, 1) };
}

describe("negotiation (RFC 3168 §6.1.1)", () => {
  test("matrix of the stack option on both sides: ECN only when the client requests (1) and the server accepts (1, 2)", () => {
    const got: string[] = [];
    for (const client of [0, 1, 2]) {
      for (const server of [0, 1, 2]) {
        const pair = new Pair({ tcpA: { ecn: client }, tcpB: { ecn: server } });
        const handshake: SegmentFields[] = [];
        pair.filter = (seg) => {
          if ((seg.flags & TCP_SYN) !== 0) handshake.push(seg);
          return undefined;
        };
        const { client: c, server: s } = pair.connect();
        const syn = handshake[0]!;
        const synAck = handshake[1]!;
        // SYN and SYN-ACK never leave ECN-capable (§6.1.1: "the SYN and SYN-ACK packets ... MUST NOT" set ECT).
        expect(ecnBits(syn)).toBe(IP_ECN_NOT_ECT);
        expect(ecnBits(synAck)).toBe(IP_ECN_NOT_ECT);
        expect(syn.flags & ECN_SETUP).toBe(client === 1 ? ECN_SETUP : 0);
        expect(c.ecn).toBe(s.ecn);
        expect(c.tcpInfo().ecn).toBe(c.ecn);
        expect(pair.a.stats.tcp.ecnNegotiated).toBe(c.ecn ? 1 : 0);
        expect(pair.b.stats.tcp.ecnNegotiated).toBe(s.ecn ? 1 : 0);
        got.push(`${client}${server}:${c.ecn ? `on ${synAck.flags & ECN_SETUP}` : "off"}`);
      }
    }
    // The SYN-ACK of an ECN connection carries ECE alone (64), never CWR.
    expect(got).toEqual([
      "00:off",
      "01:off",
      "02:off",
      "10:off",
      "11:on 64",
      "12:on 64",
      "20:off",
      "21:off",
      "22:off",
    ]);
  });

  test("the Ecn socket option overrides the stack's, and a listener passes it to its connections", () => {
    const pair = new Pair({ tcp: { ecn: 0 } });
    const { ep: listener } = pair.endpoint("b");
    listener.setSockOpt("Ecn", 2);
    listener.bind({ port: 80 });
    listener.listen(10);
    const { ep: client } = pair.endpoint("a");
    expect(client.getSockOpt("Ecn")).toBe(0);
    client.setSockOpt("Ecn", 1);
    expect(client.getSockOpt("Ecn")).toBe(1);
    expect(() => client.connect({ addr: pair.addrB, port: 80 })).toThrow(ErrConnectStarted);
    pair.run(100);
    const server = listener.accept().endpoint as TcpEndpoint;
    expect(server.getSockOpt("Ecn")).toBe(2);
    expect(client.ecn).toBe(true);
    expect(server.ecn).toBe(true);
    // And the other way: a listener set to 0 refuses a stack-wide 1.
    const pair2 = new Pair({ tcp: { ecn: 1 } });
    const { ep: l2 } = pair2.endpoint("b");
    l2.setSockOpt("Ecn", 0);
    l2.bind({ port: 80 });
    l2.listen(10);
    const { ep: c2 } = pair2.endpoint("a");
    expect(() => c2.connect({ addr: pair2.addrB, port: 80 })).toThrow(ErrConnectStarted);
    pair2.run(100);
    expect(c2.state).toBe("ESTABLISHED");
    expect(c2.ecn).toBe(false);
  });

  test("invalid modes are refused: the socket option and the stack option take 0, 1, 2", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    for (const bad of [3, -1, 1.5, true, "1"]) {
      expect(() => ep.setSockOpt("Ecn", bad)).toThrow(ErrInvalidOptionValue);
      expect(() => p.stack.tcp.setOption("ecn", bad)).toThrow(ErrInvalidOptionValue);
    }
    expect(p.stack.tcp.option("ecn")).toBe(2);
    p.stack.tcp.setOption("ecn", 1);
    expect(p.stack.tcp.option("ecn")).toBe(1);
  });

  test("active open: an ECN-setup SYN; ECN only for a SYN-ACK with ECE and without CWR", () => {
    for (const [synAckFlags, want] of [
      [TCP_ECE, true],
      [ECN_SETUP, false],
      [0, false],
    ] as const) {
      const p = new RawPeer({ tcp: { ecn: 1 } });
      const { ep, wq: _wq } = p.newEndpoint();
      expect(() => ep.connect({ addr: p.remote, port: p.remotePort })).toThrow(ErrConnectStarted);
      const syn = p.next();
      expect(syn.flags).toBe(TCP_SYN | ECN_SETUP);
      expect(ecnBits(syn)).toBe(IP_ECN_NOT_ECT);
      p.localPort = syn.srcPort;
      p.send({ flags: TCP_SYN | TCP_ACK | synAckFlags, seq: 9000, ack: seqAdd(syn.seq, 1), options: PLAIN });
      expect(ep.state).toBe("ESTABLISHED");
      expect(ep.ecn).toBe(want);
      const ack = p.next();
      expect(ack.flags).toBe(TCP_ACK);
      expect(ecnBits(ack)).toBe(IP_ECN_NOT_ECT);
    }
  });

  test("a retransmitted SYN is not ECN-setup (RFC 3168 §6.1.1.1, Linux's fallback); its SYN-ACK's ECE is then ignored", () => {
    const p = new RawPeer({ tcp: { ecn: 1 } });
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: p.remotePort })).toThrow(ErrConnectStarted);
    expect(p.next().flags).toBe(TCP_SYN | ECN_SETUP);
    p.advance(1000);
    const again = p.next();
    expect(again.flags).toBe(TCP_SYN);
    p.localPort = again.srcPort;
    p.send({ flags: TCP_SYN | TCP_ACK | TCP_ECE, seq: 9000, ack: seqAdd(again.seq, 1), options: PLAIN });
    expect(ep.state).toBe("ESTABLISHED");
    expect(ep.ecn).toBe(false);
  });

  test("passive open: an ECN-setup SYN gets a SYN-ACK with ECE only; a SYN with ECE alone, or mode 0, gets none", () => {
    const on = passiveOpen(new RawPeer());
    expect(on.synAck.flags).toBe(TCP_SYN | TCP_ACK | TCP_ECE);
    expect(ecnBits(on.synAck)).toBe(IP_ECN_NOT_ECT);
    expect(on.ep.ecn).toBe(true);
    const half = passiveOpen(new RawPeer(), TCP_SYN | TCP_ECE);
    expect(half.synAck.flags).toBe(TCP_SYN | TCP_ACK);
    expect(half.ep.ecn).toBe(false);
    const off = passiveOpen(new RawPeer({ tcp: { ecn: 0 } }));
    expect(off.synAck.flags).toBe(TCP_SYN | TCP_ACK);
    expect(off.ep.ecn).toBe(false);
  });

  test("simultaneous open: ECN when both SYNs were ECN-setup, and our SYN-ACK says so with ECE alone", () => {
    for (const [peerSyn, want] of [
      [TCP_SYN | ECN_SETUP, true],
      [TCP_SYN, false],
    ] as const) {
      const p = new RawPeer({ tcp: { ecn: 1 } });
      const { ep } = p.newEndpoint();
      expect(() => ep.connect({ addr: p.remote, port: p.remotePort })).toThrow(ErrConnectStarted);
      const syn = p.next();
      p.localPort = syn.srcPort;
      p.send({ flags: peerSyn, seq: 700, options: PLAIN });
      expect(ep.state).toBe("SYN-RECEIVED");
      const sa = p.next();
      expect(sa.flags).toBe(TCP_SYN | TCP_ACK | (want ? TCP_ECE : 0));
      expect(ecnBits(sa)).toBe(IP_ECN_NOT_ECT);
      p.send({ flags: TCP_ACK, seq: 701, ack: seqAdd(syn.seq, 1) });
      expect(ep.state).toBe("ESTABLISHED");
      expect(ep.ecn).toBe(want);
    }
  });

  test("a SYN cookie's SYN-ACK carries no ECE: the cookie cannot remember ECN", () => {
    const p = new RawPeer();
    const { ep: listener } = p.newEndpoint();
    listener.bind({ port: p.localPort });
    listener.listen(1);
    p.send({ flags: TCP_SYN | ECN_SETUP, seq: 100, options: PLAIN });
    expect(p.next().flags).toBe(TCP_SYN | TCP_ACK | TCP_ECE);
    p.remotePort++;
    p.send({ flags: TCP_SYN | ECN_SETUP, seq: 200, options: PLAIN });
    const cookie = p.next();
    expect(p.stack.stats.tcp.synCookiesSent).toBe(1);
    expect(cookie.flags).toBe(TCP_SYN | TCP_ACK);
  });
});

describe("receiver: CE → ECE until CWR (RFC 3168 §6.1.3)", () => {
  test("every segment after CE-marked data carries ECE until data with CWR; pure ACKs stay Not-ECT", () => {
    const p = new RawPeer();
    const { ep, rcvNxt, sndNxt } = passiveOpen(p);
    let seq = rcvNxt;
    const data = (flags: number, tos: number) => {
      p.send({ flags: TCP_ACK | flags, seq, ack: sndNxt, payload: bytes(100, seq), tos });
      seq += 100;
    };
    data(0, IP_ECN_ECT0);
    expect(p.next().flags).toBe(TCP_ACK);
    data(0, IP_ECN_CE);
    const first = p.next();
    expect(first.flags).toBe(TCP_ACK | TCP_ECE);
    expect(first.ack).toBe(seq);
    expect(ecnBits(first)).toBe(IP_ECN_NOT_ECT);
    // Not-ECT and ECT(0) data after it: still ECE.
    data(0, IP_ECN_ECT0);
    expect(p.next().flags).toBe(TCP_ACK | TCP_ECE);
    // Our own data segment carries ECE too (and ECT(0): it is new data).
    ep.write(bytes(10));
    const ours = p.next();
    expect(ours.flags & TCP_ECE).toBe(TCP_ECE);
    expect(ecnBits(ours)).toBe(IP_ECN_ECT0);
    // CWR stops it.
    data(TCP_CWR, IP_ECN_ECT0);
    const after = p.next();
    expect(after.flags).toBe(TCP_ACK);
    data(0, IP_ECN_ECT0);
    expect(p.next().flags).toBe(TCP_ACK);
    // CWR on a segment that is itself CE-marked: ECE goes on (§6.1.3).
    data(TCP_CWR, IP_ECN_CE);
    expect(p.next().flags).toBe(TCP_ACK | TCP_ECE);
    data(0, IP_ECN_ECT0);
    expect(p.next().flags).toBe(TCP_ACK | TCP_ECE);
    expect(drain(ep).length).toBe(700);
    const t = p.stack.stats.tcp;
    expect(t.ecnCeReceived).toBe(2);
    expect(t.ecnCwrReceived).toBe(2);
  });

  test("a CE mark makes the delayed ACK go at once, and a non-ECN connection ignores CE", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { rcvNxt, sndNxt } = passiveOpen(p);
    p.send({ flags: TCP_ACK, seq: rcvNxt, ack: sndNxt, payload: bytes(100), tos: IP_ECN_ECT0 });
    p.expectNone();
    p.send({ flags: TCP_ACK, seq: rcvNxt + 100, ack: sndNxt, payload: bytes(100), tos: IP_ECN_CE });
    expect(p.next().flags).toBe(TCP_ACK | TCP_ECE);

    const q = new RawPeer();
    const plain = passiveOpen(q, TCP_SYN);
    q.send({ flags: TCP_ACK, seq: plain.rcvNxt, ack: plain.sndNxt, payload: bytes(100), tos: IP_ECN_CE });
    expect(q.next().flags).toBe(TCP_ACK);
    expect(q.stack.stats.tcp.ecnCeReceived).toBe(0);
  });
});

describe("sender: ECE → one reduction per window, CWR on the next new data (RFC 3168 §6.1.2)", () => {
  test("ECT(0) on new data; the first ECE halves the window, later ECEs of the window do nothing, CWR once", () => {
    const p = new RawPeer();
    const { ep, rcvNxt, sndNxt } = passiveOpen(p);
    const t = p.stack.stats.tcp;
    ep.write(bytes(30_000));
    const flight: SegmentFields[] = [];
    while (p.sent.length > 0) flight.push(p.next());
    // IW 10 × 1000 bytes, every one ECT(0), none with CWR.
    expect(flight.length).toBe(10);
    for (const s of flight) {
      expect(ecnBits(s)).toBe(IP_ECN_ECT0);
      expect(s.flags & TCP_CWR).toBe(0);
    }
    const cwnd0 = ep.snd.cc.cwnd;
    const ack = (n: number, flags = TCP_ECE) =>
      p.send({ flags: TCP_ACK | flags, seq: rcvNxt, ack: seqAdd(sndNxt, n), window: 65535 });
    ack(1000);
    expect(t.ecnEceReceived).toBe(1);
    expect(t.ecnCwndReductions).toBe(1);
    // NewReno: ssthresh = FlightSize / 2 (9000 in flight after the ACK), cwnd = ssthresh.
    expect(ep.snd.cc.ssthresh).toBe(4500);
    expect(ep.snd.cc.cwnd).toBe(4500);
    expect(ep.snd.cc.cwnd).toBeLessThan(cwnd0);
    // The rest of the window comes back with ECE too: no further reduction; nothing retransmitted.
    for (let n = 2000; n <= 10_000; n += 1000) ack(n);
    expect(t.ecnEceReceived).toBe(10);
    expect(t.ecnCwndReductions).toBe(1);
    expect(t.retransmits).toBe(0);
    const next: SegmentFields[] = [];
    while (p.sent.length > 0) next.push(p.next());
    const data = next.filter((s) => s.payload.length > 0);
    expect(data.length).toBeGreaterThan(0);
    // The first new data segment carries CWR, and only that one.
    expect(data[0]!.seq).toBe(seqAdd(sndNxt, 10_000));
    expect(data[0]!.flags & TCP_CWR).toBe(TCP_CWR);
    expect(data[0]!.payload.length).toBe(1000);
    for (const s of data.slice(1)) expect(s.flags & TCP_CWR).toBe(0);
    for (const s of data) expect(ecnBits(s)).toBe(IP_ECN_ECT0);
    expect(t.ecnCwrSent).toBe(1);
    // An ECE for data sent after the reduction (the next window) reduces again.
    ack(11_000);
    expect(t.ecnCwndReductions).toBe(2);
  });

  test("no ECT on retransmissions, FIN-only segments and window probes; an RTO also earns CWR on the next new data", () => {
    const p = new RawPeer();
    const { ep, rcvNxt, sndNxt } = passiveOpen(p);
    ep.write(bytes(3000));
    const first = [p.next(), p.next(), p.next()];
    for (const s of first) expect(ecnBits(s)).toBe(IP_ECN_ECT0);
    // Nothing is acknowledged: the RTO resends the first segment Not-ECT and without CWR.
    p.advance(1000);
    const rxt = p.next();
    expect(rxt.seq).toBe(sndNxt);
    expect(rxt.payload.length).toBe(1000);
    expect(ecnBits(rxt)).toBe(IP_ECN_NOT_ECT);
    expect(rxt.flags & TCP_CWR).toBe(0);
    // Everything arrives; the window closes; new data is queued: the probe is a bare ACK, Not-ECT.
    p.send({ flags: TCP_ACK, seq: rcvNxt, ack: seqAdd(sndNxt, 3000), window: 0 });
    p.sent.length = 0;
    ep.write(bytes(500));
    p.expectNone();
    p.advance(2000);
    const probe = p.next();
    expect(probe.payload.length).toBe(0);
    expect(ecnBits(probe)).toBe(IP_ECN_NOT_ECT);
    // The window opens: the new data is ECT(0) and carries the CWR the RTO's reduction asked for.
    p.sent.length = 0;
    p.send({ flags: TCP_ACK, seq: rcvNxt, ack: seqAdd(sndNxt, 3000), window: 65535 });
    const fresh = p.next();
    expect(fresh.payload.length).toBe(500);
    expect(ecnBits(fresh)).toBe(IP_ECN_ECT0);
    expect(fresh.flags & TCP_CWR).toBe(TCP_CWR);
    // A FIN alone is not data: Not-ECT.
    p.send({ flags: TCP_ACK, seq: rcvNxt, ack: seqAdd(sndNxt, 3500), window: 65535 });
    p.sent.length = 0;
    ep.shutdown(2);
    const fin = p.next();
    expect(fin.flags & TCP_FIN).toBe(TCP_FIN);
    expect(ecnBits(fin)).toBe(IP_ECN_NOT_ECT);
    expect(p.stack.stats.tcp.ecnCwndReductions).toBe(0);
  });
});

describe("ECN with loss recovery (SACK with PRR, and NewReno) between two stacks", () => {
  /** 200 KB from A to B over a Pair with ECN on both; `drop` and `mark` pick data segments by first-transmission index. */
  function run(o: {
    drop?: number;
    mark: (i: number, client: TcpEndpoint) => boolean;
    tcp?: Partial<TcpStackOptions>;
  }) {
    const pair = new Pair({ delay: 10, tcp: { ecn: 1, ...o.tcp } });
    const { client, server } = pair.connect();
    expect(client.ecn).toBe(true);
    // The controller's multiplicative decreases: every enterRecovery not told the window was reduced already.
    const cc = client.snd.cc;
    const enter = cc.enterRecovery.bind(cc);
    let decreases = 0;
    cc.enterRecovery = (flight, recover, alreadyReduced) => {
      if (alreadyReduced !== true) decreases++;
      enter(flight, recover, alreadyReduced);
    };
    const sent = new Set<number>();
    let index = 0;
    const rxts: SegmentFields[] = [];
    const indexOf = new Map<number, number>();
    pair.filter = (seg, from) => {
      if (from !== "a" || seg.payload.length === 0) return undefined;
      if (sent.has(seg.seq)) {
        rxts.push(seg);
        return undefined;
      }
      sent.add(seg.seq);
      indexOf.set(seg.seq, index);
      return index++ === o.drop ? "drop" : undefined;
    };
    pair.ceMark = (seg, from) =>
      from === "a" && seg.payload.length > 0 && o.mark(indexOf.get(seg.seq) ?? -1, client);
    const data = bytes(200_000, 5);
    let off = 0;
    const chunks: Uint8Array[] = [];
    let got = 0;
    let ssthreshDrops = 0;
    let lastSsthresh = client.snd.cc.ssthresh;
    let reductionsInRecovery = 0;
    for (let i = 0; i < 4000 && got < data.length; i++) {
      if (off < data.length) off += client.write(data.subarray(off));
      const before = pair.a.stats.tcp.ecnCwndReductions;
      const inRecovery = client.snd.sack?.active === true;
      pair.run(1);
      if (inRecovery && client.snd.sack?.active === true)
        reductionsInRecovery += pair.a.stats.tcp.ecnCwndReductions - before;
      if (client.snd.cc.ssthresh < lastSsthresh) ssthreshDrops++;
      lastSsthresh = client.snd.cc.ssthresh;
      const d = drain(server);
      got += d.length;
      chunks.push(d);
    }
    expect(Buffer.compare(Buffer.concat(chunks), data)).toBe(0);
    return {
      t: pair.a.stats.tcp,
      rb: pair.b.stats.tcp,
      rxts,
      ssthreshDrops,
      reductionsInRecovery,
      decreases,
    };
  }

  for (const [name, tcp] of [
    ["SACK, NewReno", {}],
    ["SACK, CUBIC", { congestionControl: "cubic" }],
    ["no SACK (RFC 6582), NewReno", { sack: false }],
  ] as const) {
    test(`a CE mark and a loss in the same window: one reduction (ECE first, recovery adds none), no RTO (${name})`, () => {
      // Data segment 40 is lost; 41 and 42 (same flight) arrive CE-marked, so the first SACK carries ECE.
      const r = run({ drop: 40, mark: (i) => i === 41 || i === 42, tcp });
      expect(r.t.ecnCwndReductions).toBe(1);
      expect(r.t.sackRecovery + r.t.fastRecovery).toBe(1);
      expect(r.t.timeouts).toBe(0);
      expect(r.ssthreshDrops).toBe(1);
      expect(r.decreases).toBe(1);
      // The retransmission left Not-ECT and without CWR.
      expect(r.rxts.length).toBeGreaterThan(0);
      for (const s of r.rxts) {
        expect(ecnBits(s)).toBe(IP_ECN_NOT_ECT);
        expect(s.flags & TCP_CWR).toBe(0);
      }
      expect(r.t.ecnCwrSent).toBeGreaterThan(0);
      expect(r.rb.ecnCeReceived).toBe(2);
    });
  }

  test("ECE arriving during SACK recovery does not reduce again (the recovery's reduction stands)", () => {
    // Data segment 40 is lost; every new data segment sent while recovery is on arrives CE-marked.
    const r = run({ drop: 40, mark: (_i, c) => c.snd.sack?.active === true });
    expect(r.t.sackRecovery).toBe(1);
    expect(r.t.ecnEceReceived).toBeGreaterThan(0);
    expect(r.reductionsInRecovery).toBe(0);
    expect(r.t.timeouts).toBe(0);
  });
});

describe("ECN between two stacks without loss", () => {
  test("CE marks on a bulk transfer: the sender slows down without a single retransmission", () => {
    const pair = new Pair({ delay: 10, tcp: { ecn: 1 } });
    const { client, server } = pair.connect();
    let n = 0;
    // Every 50th ECT data segment is marked, as a router at its threshold would.
    pair.ceMark = (seg, from) => from === "a" && seg.payload.length > 0 && n++ % 50 === 49;
    const data = bytes(1_000_000, 9);
    let off = 0;
    let got = 0;
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 10_000 && got < data.length; i++) {
      if (off < data.length) off += client.write(data.subarray(off));
      pair.run(2);
      const d = drain(server);
      got += d.length;
      chunks.push(d);
    }
    expect(Buffer.compare(Buffer.concat(chunks), data)).toBe(0);
    const a = pair.a.stats.tcp;
    const b = pair.b.stats.tcp;
    expect(a.retransmits).toBe(0);
    expect(b.ecnCeReceived).toBeGreaterThan(0);
    expect(a.ecnCwndReductions).toBeGreaterThan(0);
    expect(a.ecnCwndReductions).toBeLessThanOrEqual(b.ecnCeReceived);
    expect(a.ecnCwrSent).toBe(a.ecnCwndReductions);
    expect(b.ecnCwrReceived).toBe(a.ecnCwrSent);
    expect(client.snd.cc.ssthresh).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });
});

describe("ECN over a simulated bottleneck (NetSim with a CE-marking threshold)", () => {
  /** 4 MB over 20 Mbit/s, 20 ms RTT, a 60 KB drop-tail queue; ECN on both ends and marking at 20 KB when `ecn`. */
  function bottleneck(ecn: boolean, congestionControl: string) {
    const r = sizedTransfer({
      seed: 21,
      tcp: { ecn: ecn ? 1 : 0, congestionControl },
      path: {
        bandwidthBps: 20_000_000,
        delayMs: 10,
        queueBytes: 60_000,
        ...(ecn ? { ceThresholdBytes: 20_000 } : {}),
      },
      size: 4 << 20,
    });
    return {
      ok: r.ok,
      droppedQueue: r.dataPath.droppedQueue,
      ceMarked: r.dataPath.ceMarked,
      maxQueueBytes: r.dataPath.maxQueueBytes,
      retransmits: r.tcp.retransmits,
      timeouts: r.tcp.timeouts,
      negotiated: r.tcp.ecnNegotiated,
      ceReceived: r.receiverTcp.ecnCeReceived,
      eceReceived: r.tcp.ecnEceReceived,
      reductions: r.tcp.ecnCwndReductions,
      cwrSent: r.tcp.ecnCwrSent,
      cwrReceived: r.receiverTcp.ecnCwrReceived,
    };
  }

  for (const cc of ["reno", "cubic"]) {
    test(`${cc}: without ECN the queue overflows and segments are resent; with ECN the marks alone hold it, no loss, no retransmission`, () => {
      const off = bottleneck(false, cc);
      const on = bottleneck(true, cc);
      console.log(`ECN over a 20 Mbit/s bottleneck (${cc}):`, { off, on });
      expect(off.ok).toBe(true);
      expect(off.droppedQueue).toBeGreaterThan(0);
      expect(off.retransmits).toBeGreaterThan(0);
      expect(off.negotiated).toBe(0);
      expect(on.ok).toBe(true);
      expect(on.negotiated).toBe(1);
      expect(on.droppedQueue).toBe(0);
      expect(on.retransmits).toBe(0);
      expect(on.timeouts).toBe(0);
      expect(on.ceMarked).toBeGreaterThan(0);
      // Every mark reached the receiver; the sender reduced at most once per mark, and sent a CWR for each reduction.
      expect(on.ceReceived).toBe(on.ceMarked);
      expect(on.reductions).toBeGreaterThan(0);
      expect(on.reductions).toBeLessThanOrEqual(on.ceMarked);
      expect(on.cwrSent).toBe(on.reductions);
      expect(on.cwrReceived).toBe(on.cwrSent);
      expect(on.maxQueueBytes).toBeLessThan(off.maxQueueBytes);
    });
  }
});

/** Loss recovery: RTO with backoff (RFC 6298), ErrTimeout, fast retransmit and NewReno (RFC 5681, 6582). */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_RST } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ErrTimeout } from "../../tcpip/errors.ts";
import { EventErr } from "../../waiter/waiter.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

describe("ESTABLISHED: retransmission timer", () => {
  test("RTO doubles on each timeout and the connection ends with ErrTimeout", () => {
    const p = new RawPeer({ tcp: { maxRetries: 4 } });
    const { ep, wq } = p.acceptConnection({ mss: 1000 });
    let ev = 0;
    wq.register({ callback: (m) => (ev |= m) }, EventErr);
    ep.write(bytes(100));
    const first = p.next();
    const gaps: number[] = [];
    let last = p.clock.now();
    while (ep.state === "ESTABLISHED") {
      p.advance(1);
      if (p.sent.length > 0) {
        const s = p.next();
        expect(s.seq).toBe(first.seq);
        expect(s.payload.length).toBe(100);
        gaps.push(p.clock.now() - last);
        last = p.clock.now();
      }
    }
    // The handshake RTT sample was 0 ms, so RTO starts at the 200 ms minimum.
    expect(gaps).toEqual([200, 400, 800, 1600]);
    expect(ep.state).toBe("CLOSED");
    expect(ev & EventErr).toBe(EventErr);
    expect(() => ep.read()).toThrow(ErrTimeout);
    expect(p.stack.stats.tcp.timeouts).toBe(4);
  });

  test("RTO is capped at the maximum", () => {
    const p = new RawPeer({ tcp: { maxRetries: 20, maxRtoMs: 3000 } });
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(10));
    p.next();
    p.advance(200 + 400 + 800 + 1600);
    expect(p.sent.length).toBe(4);
    p.sent.length = 0;
    p.advance(2999);
    p.expectNone();
    p.advance(1);
    expect(p.next().payload.length).toBe(10);
    expect(ep.tcpInfo().rto).toBe(3000);
  });

  test("user timeout ends the connection before max retries (RFC 5482)", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("UserTimeout", 1000);
    ep.write(bytes(10));
    p.advance(999);
    expect(ep.state).toBe("ESTABLISHED");
    p.advance(1);
    expect(ep.state).toBe("CLOSED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrTimeout);
  });

  test("RTT from timestamps sets SRTT and RTO", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection();
    ep.write(bytes(100));
    const d = p.next();
    p.advance(300);
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 101,
      options: { timestamp: true, tsVal: 1100, tsEcr: d.options.tsVal },
    });
    const info = ep.tcpInfo();
    expect(info.rtt).toBeGreaterThan(0);
    expect(info.rto).toBeGreaterThanOrEqual(200);
  });

  test("a lost segment over a pair is retransmitted after the RTO", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    let dropped = false;
    pair.filter = (s, from) => {
      if (from === "a" && s.payload.length > 0 && !dropped) {
        dropped = true;
        return "drop";
      }
      return undefined;
    };
    client.write(bytes(500));
    pair.run(2000);
    expect(drain(server)).toEqual(bytes(500));
    expect(pair.a.stats.tcp.retransmits).toBe(1);
  });
});

describe("ESTABLISHED: fast retransmit (RFC 5681 §3.2) and NewReno (RFC 6582)", () => {
  test("three duplicate ACKs retransmit the first unacknowledged segment", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(5000));
    const segs = [p.next(), p.next(), p.next(), p.next(), p.next()];
    expect(segs.map((s) => s.payload.length)).toEqual([1000, 1000, 1000, 1000, 1000]);
    const dup = () => p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 65535 });
    dup();
    dup();
    p.expectNone();
    dup();
    const rtx = p.next();
    expect(rtx.seq).toBe(iss + 1);
    expect(rtx.payload.length).toBe(1000);
    expect(p.stack.stats.tcp.fastRetransmit).toBe(1);
    // Partial ACK (first two segments): the next hole is retransmitted at once.
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 2001, window: 65535 });
    const rtx2 = p.next();
    expect(rtx2.seq).toBe(iss + 2001);
    // Full ACK ends recovery with cwnd = ssthresh-sized window.
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 5001, window: 65535 });
    const info = ep.tcpInfo();
    expect(info.sndSsthresh).toBe(2500);
    expect(info.sndCwnd).toBeLessThanOrEqual(2500);
  });

  test("over a pair: one drop in a burst is repaired by fast retransmit, not the RTO", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    let n = 0;
    pair.filter = (s, from) => {
      if (from === "a" && s.payload.length > 0 && n++ === 3) return "drop";
      return undefined;
    };
    const data = bytes(20 * 1448);
    client.write(data);
    pair.run(100);
    expect(drain(server)).toEqual(data);
    expect(pair.a.stats.tcp.fastRetransmit).toBe(1);
    expect(pair.a.stats.tcp.timeouts).toBe(0);
  });

  test("initial window is 10 segments (RFC 6928)", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(20_000));
    expect(p.sent.length).toBe(10);
  });
});

describe("ACK validity (RFC 5961 §5.2)", () => {
  test("an ACK for data never sent is answered with an ACK and dropped", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 5000, payload: bytes(10) });
    const a = p.next();
    expect(a.ack).toBe(irs + 1);
    expect(ep.rcv.queue.size).toBe(0);
  });

  test("an ACK far below SND.UNA - MAX.SND.WND gets a challenge ACK", () => {
    const p = new RawPeer();
    const { irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: seqAdd(iss, -200000) });
    expect(p.next().flags).toBe(TCP_ACK);
    expect(p.stack.stats.tcp.challengeAcksSent).toBe(1);
    expect(p.sent.length + TCP_RST * 0).toBe(0);
  });
});

describe("retransmission against a zero window", () => {
  test("a peer that keeps answering with a zero window does not time the connection out", () => {
    const p = new RawPeer({ tcp: { maxRetries: 3 } });
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(1000));
    p.next();
    // The peer shrinks its window to zero without acknowledging; it answers every retransmission.
    for (let i = 0; i < 10; i++) {
      while (p.sent.length === 0) p.advance(10);
      p.sent.length = 0;
      p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 0 });
    }
    expect(ep.state).toBe("ESTABLISHED");
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1001, window: 1000 });
    expect(ep.tcpInfo().retransmits).toBe(0);
  });
});

describe("path MTU (RFC 1191, RFC 8201)", () => {
  test("packet-too-big lowers the MSS and resends what is in flight in smaller segments", () => {
    const p = new RawPeer();
    const { ep, iss } = p.acceptConnection({ mss: 1460 });
    ep.write(bytes(2000));
    expect(p.sent.splice(0).map((s) => s.payload.length)).toEqual([1460, 540]);
    ep.handleControlPacket(ep.id, "packetTooBig", 1000);
    const again = p.sent.splice(0);
    expect(again.map((s) => s.payload.length)).toEqual([960, 960, 80]);
    expect(again[0]!.seq).toBe(iss + 1);
  });
});

describe("replaceable congestion control", () => {
  for (const cc of ["reno", "cubic"]) {
    test(`${cc}: 500 kB through 2% seeded loss arrives intact`, () => {
      const pair = new Pair({ tcp: { congestionControl: cc } });
      const { client, server } = pair.connect();
      expect(client.snd.cc.name).toBe(cc);
      let x = 99;
      pair.filter = (s) => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return s.payload.length > 0 && x % 50 === 0 ? "drop" : undefined;
      };
      const data = bytes(500_000, 5);
      let off = 0;
      const got: Uint8Array[] = [];
      let n = 0;
      for (let i = 0; i < 100_000 && n < data.length; i++) {
        if (off < data.length) {
          try {
            off += client.write(data.subarray(off));
          } catch {}
        }
        pair.run(2);
        const d = drain(server);
        n += d.length;
        got.push(d);
      }
      expect(Buffer.compare(Buffer.concat(got), data)).toBe(0);
      expect(pair.a.stats.tcp.retransmits).toBeGreaterThan(0);
    });
  }
});

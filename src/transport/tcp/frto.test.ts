/**
 * F-RTO (RFC 5682) with the undo response (RFC 4015 as Linux): a bulk transfer
 * over a `Pair` (5 ms each way) meets either a delay spike (every ACK held back
 * 300 ms, past the 200 ms RTO, nothing lost) or a blackout of the data path
 * (every data segment lost for 150 ms, a real loss the RTO repairs). Each runs
 * with SACK (the §3 variant) and without (the §2.1 basic one), with the `frto`
 * switch on and off; only counters, windows and the bytes delivered are
 * asserted, never times.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_SYN } from "../../header/tcp.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";
import type { SegmentFields } from "./testing/segments.ts";

const SPIKE_AT = 35;
const SPIKE_MS = 300;
const TOTAL = 2_000_000;

interface Run {
  /** Every byte arrived, in order. */
  intact: boolean;
  timeouts: number;
  retransmits: number;
  tlpRetransmits: number;
  frtoAttempts: number;
  spuriousRtos: number;
  spuriousRetransmits: number;
  fastRetransmit: number;
  eceReceived: number;
  /** The sender's cwnd (bytes) when the event began, and 1 ms after the held ACKs (or the first new ACK) came. */
  cwndBefore: number;
  cwndAfter: number;
  ssthreshAfter: number;
  mss: number;
}

/**
 * 2 MB from A to B; at SPIKE_AT ms after the connection, either B's ACKs are held until SPIKE_AT + 300
 * ("spike": they then arrive together, in order) or A's data segments are dropped for 150 ms ("blackout").
 */
function transfer(o: {
  sack: boolean;
  frto: boolean;
  event: "spike" | "blackout";
  spikeMs?: number;
  cc?: string;
  /** ECN on both ends, and the data sent in the 10 ms before the event arrives CE-marked. */
  ce?: boolean;
}): Run {
  const pair = new Pair({
    delay: 5,
    tcp: { sack: o.sack, frto: o.frto, congestionControl: o.cc ?? "reno", ...(o.ce ? { ecn: 1 } : {}) },
  });
  const { client, server } = pair.connect();
  const start = pair.clock.now();
  const t0 = start + SPIKE_AT;
  const release = t0 + (o.spikeMs ?? SPIKE_MS);
  let held = 0;
  let cwndBefore = -1;
  let firstAckAfter = -1;
  if (o.ce)
    pair.ceMark = (_seg, from) => from === "a" && pair.clock.now() >= t0 - 10 && pair.clock.now() < t0;
  pair.filter = (seg, from) => {
    const now = pair.clock.now();
    if (o.event === "spike" && from === "b" && now >= t0 && now < release) {
      // Held in a queue that drains at `release`: the ACKs keep their order.
      return release - now + 0.001 * held++;
    }
    if (o.event === "blackout" && from === "a" && seg.payload.length > 0 && now >= t0 && now < t0 + 150) {
      return "drop";
    }
    if (o.event === "blackout" && from === "b" && now >= t0 + 150 && firstAckAfter < 0) firstAckAfter = now;
    return undefined;
  };
  const data = bytes(TOTAL, 3);
  let written = 0;
  let got = 0;
  let intact = true;
  let cwndAfter = -1;
  let ssthreshAfter = -1;
  const s = client.snd;
  for (let i = 0; i < 5000 && got < TOTAL; i++) {
    if (written < TOTAL) {
      try {
        written += client.write(data.subarray(written));
      } catch {
        // The send buffer is full; try again after the next step.
      }
    }
    pair.run(1);
    const now = pair.clock.now();
    if (cwndBefore < 0 && now >= t0) cwndBefore = s.cc.cwnd;
    const chunk = drain(server);
    for (let k = 0; k < chunk.length; k++) if (chunk[k] !== data[got + k]) intact = false;
    got += chunk.length;
    const settled = o.event === "spike" ? release + 1 : firstAckAfter >= 0 ? firstAckAfter + 11 : -1;
    if (cwndAfter < 0 && settled > 0 && now >= settled) {
      cwndAfter = s.cc.cwnd;
      ssthreshAfter = s.cc.ssthresh;
    }
  }
  const t = pair.a.stats.tcp;
  return {
    intact: intact && got === TOTAL,
    timeouts: t.timeouts,
    retransmits: t.retransmits,
    tlpRetransmits: t.tlpRetransmits,
    frtoAttempts: t.frtoAttempts,
    spuriousRtos: t.spuriousRtos,
    spuriousRetransmits: t.spuriousRetransmits,
    fastRetransmit: t.fastRetransmit,
    eceReceived: t.ecnEceReceived,
    cwndBefore,
    cwndAfter,
    ssthreshAfter,
    mss: client.maxPayload(),
  };
}

describe("F-RTO (RFC 5682)", () => {
  for (const sack of [true, false]) {
    const variant = sack ? "SACK-enhanced (§3)" : "basic (§2.1)";

    test(`${variant}: a delay spike past the RTO is found spurious, the window restored, the window not resent`, () => {
      const on = transfer({ sack, frto: true, event: "spike" });
      const off = transfer({ sack, frto: false, event: "spike" });
      console.log(`delay spike, ${variant}:`, { on, off });
      expect(on.intact).toBe(true);
      expect(off.intact).toBe(true);
      // One timeout either way: the ACKs were 300 ms late, the RTO 200 ms.
      expect(on.timeouts).toBe(1);
      expect(off.timeouts).toBe(1);
      // F-RTO: new data on the first ACK (step 2b), the next ACK acknowledges never-retransmitted data
      // (step 3b): spurious, undone.
      expect(on.frtoAttempts).toBe(1);
      expect(on.spuriousRtos).toBe(1);
      expect(on.cwndAfter).toBeGreaterThanOrEqual(on.cwndBefore);
      // Only the timeout's one segment was resent (with SACK the tail loss probe before the RTO sent new
      // data, not a retransmission).
      expect(on.retransmits).toBe(1);
      expect(on.tlpRetransmits).toBe(sack ? 1 : 0);
      expect(on.fastRetransmit).toBe(0);
      // Without F-RTO the window after the timeout is slow start from one segment (ssthresh half the
      // flight), and go-back-N resends data that had arrived: with SACK, a D-SACK for every one of them.
      expect(off.frtoAttempts).toBe(0);
      expect(off.spuriousRtos).toBe(0);
      expect(off.cwndAfter).toBeLessThan(off.cwndBefore);
      expect(off.ssthreshAfter).toBeLessThan(off.cwndBefore);
      expect(off.retransmits).toBe(sack ? 49 : 48);
      if (sack) {
        expect(on.spuriousRetransmits).toBe(1);
        expect(off.spuriousRetransmits).toBe(off.retransmits);
      }
    });

    test(`${variant}: a real loss at the timeout is not undone, and every byte still arrives`, () => {
      const on = transfer({ sack, frto: true, event: "blackout" });
      const off = transfer({ sack, frto: false, event: "blackout" });
      console.log(`blackout, ${variant}:`, { on, off });
      expect(on.intact).toBe(true);
      expect(off.intact).toBe(true);
      expect(on.timeouts).toBeGreaterThanOrEqual(1);
      // Step 2b ran (the first ACK covered the retransmission but not "recover"), and step 3 saw the new
      // segments arrive past the hole: conventional recovery, no undo.
      expect(on.frtoAttempts).toBe(1);
      expect(on.spuriousRtos).toBe(0);
      expect(on.cwndAfter).toBeLessThan(on.cwndBefore);
      expect(on.ssthreshAfter).toBeLessThan(on.cwndBefore);
      expect(off.frtoAttempts).toBe(0);
      expect(off.spuriousRtos).toBe(0);
      // The test costs at most the two new segments, which the basic variant's go-back-N resends.
      expect(on.retransmits).toBeLessThanOrEqual(off.retransmits + 2);
      expect(on.retransmits).toBe(sack ? 74 : 76);
      expect(off.retransmits).toBe(74);
    });

    test(`${variant}: a spike past two RTOs: the recurring timeout restarts F-RTO (§3 step 2), undone once`, () => {
      const on = transfer({ sack, frto: true, event: "spike", spikeMs: 700 });
      const off = transfer({ sack, frto: false, event: "spike", spikeMs: 700 });
      console.log(`700 ms spike, ${variant}:`, { on, off });
      expect(on.intact).toBe(true);
      expect(off.intact).toBe(true);
      // 200 ms, then 400 ms backed off: both fire inside the 700 ms.
      expect(on.timeouts).toBe(2);
      expect(off.timeouts).toBe(2);
      // "If the retransmission timeout expires again, go to step 1": no ACK moved SND.UNA between the two,
      // so the second timeout is tested too, against the window from before the first.
      expect(on.frtoAttempts).toBe(1);
      expect(on.spuriousRtos).toBe(1);
      expect(on.retransmits).toBe(2);
      expect(on.cwndAfter).toBeGreaterThanOrEqual(on.cwndBefore);
      expect(off.cwndAfter).toBeLessThan(off.cwndBefore);
      expect(off.retransmits).toBeGreaterThan(on.retransmits);
    });
  }

  test("CUBIC: the undo restores its window too (RFC 9438 §4.9 through the controller's undo)", () => {
    const on = transfer({ sack: true, frto: true, event: "spike", cc: "cubic" });
    const off = transfer({ sack: true, frto: false, event: "spike", cc: "cubic" });
    expect(on.intact).toBe(true);
    expect(on.spuriousRtos).toBe(1);
    expect(on.retransmits).toBe(1);
    expect(on.cwndAfter).toBeGreaterThanOrEqual(on.cwndBefore);
    expect(off.cwndAfter).toBeLessThan(off.cwndBefore);
    expect(off.retransmits).toBeGreaterThan(10);
  });

  test("ECN-Echo on the late ACKs (a congestion signal) ends the test without undo", () => {
    const ce = transfer({ sack: true, frto: true, event: "spike", ce: true });
    expect(ce.intact).toBe(true);
    expect(ce.timeouts).toBe(1);
    expect(ce.eceReceived).toBeGreaterThan(0);
    expect(ce.frtoAttempts).toBe(0);
    expect(ce.spuriousRtos).toBe(0);
    expect(ce.cwndAfter).toBeLessThan(ce.cwndBefore);
    // The same spike without the marks is undone (the test above).
    const clean = transfer({ sack: true, frto: true, event: "spike", ce: false });
    expect(clean.spuriousRtos).toBe(1);
  });

  test("the stack-wide switch `frto` is a boolean option", () => {
    const pair = new Pair();
    expect(pair.a.tcp.option("frto")).toBe(true);
    pair.a.tcp.setOption("frto", false);
    expect(pair.a.tcp.option("frto")).toBe(false);
    expect(() => pair.a.tcp.setOption("frto", 1)).toThrow(ErrInvalidOptionValue);
  });
});

describe("F-RTO segment by segment (RawPeer, 20 ms RTT, RTO 200 ms)", () => {
  /**
   * ESTABLISHED with one RTT sample of 20 ms and 20 KB written: the first window (12 segments of 1000
   * bytes) is out, the rest queued; then the RTO. With SACK (and the default `rack`) the scoreboard exists
   * by then and a tail loss probe (new data) goes 40 ms before the RTO.
   */
  const setup = (sack: boolean, frto = true) => {
    const p = new RawPeer({ tcp: { frto } });
    const { ep: listener } = p.newEndpoint();
    listener.bind({ port: p.localPort });
    listener.listen(1);
    const irs = 5000;
    const options = { mss: 1000, windowScale: 7, ...(sack ? { sackPermitted: true } : {}) };
    p.send({ flags: TCP_SYN, seq: irs, window: 65535, options });
    const iss = p.next().seq;
    p.advance(20);
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 65535 });
    const ep = listener.accept().endpoint as TcpEndpoint;
    const ackOf = (ack: number, sackBlocks?: number[]) =>
      p.send({
        flags: TCP_ACK,
        seq: irs + 1,
        ack,
        window: 65535,
        ...(sackBlocks ? { options: { sackBlocks } } : {}),
      });
    // Two segments, acknowledged one at a time: the first ACK leaves data in flight, which makes the SACK
    // scoreboard (recovery.ts) on a SACK connection.
    ep.write(bytes(2000, 1));
    taken(p);
    p.advance(20);
    ackOf(iss + 1001);
    ackOf(iss + 2001);
    const first = iss + 2001;
    ep.write(bytes(20_000, 2));
    const cwndBefore = ep.snd.cc.cwnd;
    // Nothing comes back: the RTO (200 ms minimum) resends the first segment, and only that one.
    const t = p.stack.stats.tcp;
    for (let i = 0; i < 400 && t.timeouts === 0; i++) p.advance(1);
    const sent = taken(p);
    const rxt = sent.pop()!;
    expect(rxt.seq).toBe(first);
    // Before it: the window of new data (and with SACK the probe, one more new segment).
    expect(sent.map((f) => f.seq)).toEqual(sent.map((_, i) => first + i * 1000));
    expect(sent.length).toBe(sack ? 13 : 12);
    expect(t.tlpRetransmits).toBe(sack ? 1 : 0);
    expect(ep.snd.sack !== undefined).toBe(sack);
    const max = first + sent.length * 1000;
    return { p, ep, ackOf, first, max, cwndBefore };
  };

  const taken = (p: RawPeer): SegmentFields[] => {
    const out: SegmentFields[] = [];
    while (p.sent.length > 0) out.push(p.next());
    return out;
  };

  for (const sack of [false, true]) {
    const variant = sack ? "SACK (§3)" : "basic (§2.1)";

    test(`${variant}: late ACKs: two new segments after the first, then undo and new data only`, () => {
      const { p, ep, ackOf, first, max, cwndBefore } = setup(sack);
      // Step 2: the first ACK covers the retransmitted segment and one more, not "recover".
      ackOf(first + 2000);
      const fresh = taken(p);
      expect(fresh.map((f) => f.seq)).toEqual([max, max + 1000]);
      expect(p.stack.stats.tcp.frtoAttempts).toBe(1);
      // Step 3: the next ACK acknowledges segments that were never retransmitted: spurious.
      ackOf(first + 4000);
      const t = p.stack.stats.tcp;
      expect(t.spuriousRtos).toBe(1);
      expect(ep.snd.cc.cwnd).toBeGreaterThanOrEqual(cwndBefore);
      // Sending resumes with new data at once: cwnd is 12 MSS again with 10 in flight (11 with SACK's probe;
      // 3 MSS of slow start after the timeout would allow none), and none of it is a retransmission.
      const after = taken(p);
      expect(after.map((f) => f.seq)).toEqual(sack ? [max + 2000] : [max + 2000, max + 3000]);
      expect(t.retransmits).toBe(1);
      if (!sack) {
        // "recover" moved to SND.UNA (§2.1 step 3b): a loss in the rest of this window is repaired by
        // fast retransmit on the third duplicate ACK (RFC 6582 §3.2 step 1), not left to the next RTO.
        for (let i = 0; i < 3; i++) ackOf(first + 4000);
        expect(taken(p).map((f) => f.seq)).toEqual([first + 4000]);
        expect(t.fastRetransmit).toBe(1);
      }
    });

    test(`${variant}: the new segments arrive over a hole: no undo, the holes are resent`, () => {
      const { p, ackOf, first, max } = setup(sack);
      // Only the retransmitted segment arrived; the rest of the window was lost.
      ackOf(first + 1000);
      expect(taken(p).map((f) => f.seq)).toEqual([max, max + 1000]);
      // Step 3: the receiver reports the first new segment past the hole (a duplicate ACK; with SACK, a
      // block above "recover").
      ackOf(first + 1000, sack ? [max, max + 1000] : undefined);
      const t = p.stack.stats.tcp;
      expect(t.spuriousRtos).toBe(0);
      // Conventional RTO recovery: the hole at SND.UNA goes next (slow start's cwnd of 2 MSS, minus the
      // new segment still in flight with SACK).
      const rxt = taken(p);
      expect(rxt[0]?.seq).toBe(first + 1000);
      expect(rxt.length).toBe(sack ? 1 : 2);
      if (!sack) expect(rxt[1]?.seq).toBe(first + 2000);
      // Those retransmissions are lost too: a timeout inside conventional RTO recovery is not tested
      // (§2.1 step 1): it resends SND.UNA, and the next ACK brings retransmissions, not new data.
      for (let i = 0; i < 1000 && t.timeouts === 1; i++) p.advance(1);
      expect(t.timeouts).toBe(2);
      expect(taken(p).map((f) => f.seq)).toEqual([first + 1000]);
      ackOf(first + 3000, sack ? [max, max + 1000] : undefined);
      const next = taken(p);
      expect(next[0]?.seq).toBe(first + 3000);
      for (const f of next) expect(f.seq < max).toBe(true);
      expect(t.frtoAttempts).toBe(1);
      expect(t.spuriousRtos).toBe(0);
    });

    test(`${variant}: with frto off, the first ACK after the timeout brings retransmissions, not new data`, () => {
      const { p, ackOf, first } = setup(sack, false);
      ackOf(first + 2000);
      const rxt = taken(p);
      expect(rxt.map((f) => f.seq)).toEqual([first + 2000, first + 3000]);
      expect(p.stack.stats.tcp.frtoAttempts).toBe(0);
    });
  }

  test("nothing new to send at step 2b: no test, conventional recovery (§2.1 step 2b)", () => {
    const p = new RawPeer({ tcp: { rack: false } });
    const { ep: listener } = p.newEndpoint();
    listener.bind({ port: p.localPort });
    listener.listen(1);
    p.send({ flags: TCP_SYN, seq: 5000, window: 65535, options: { mss: 1000, windowScale: 7 } });
    const iss = p.next().seq;
    p.advance(20);
    p.send({ flags: TCP_ACK, seq: 5001, ack: iss + 1, window: 65535 });
    const ep = listener.accept().endpoint as TcpEndpoint;
    // Four segments, all sent at once: nothing is queued behind them.
    ep.write(bytes(4000, 3));
    expect(taken(p).length).toBe(4);
    p.advance(200);
    expect(p.next().seq).toBe(iss + 1);
    p.send({ flags: TCP_ACK, seq: 5001, ack: iss + 2001, window: 65535 });
    // Go-back-N from SND.UNA as before.
    expect(taken(p).map((f) => f.seq)).toEqual([iss + 2001, iss + 3001]);
    const t = p.stack.stats.tcp;
    expect(t.frtoAttempts).toBe(0);
    expect(t.spuriousRtos).toBe(0);
  });
});

/**
 * RACK loss detection (RFC 8985 §6) wired into the sender, and D-SACK undo of
 * spurious recoveries (RFC 2883 §4, RFC 3708 §3, Eifel RFC 3522), against the
 * RFC 6675 DupThresh sender (`rack: false`) on the same paths: reordering over
 * NetSim between two stacks, losses and reordering over a Pair, and the
 * reordering timer segment by segment against a RawPeer. Only deterministic
 * counters for fixed seeds and scripted paths are asserted.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_SYN } from "../../header/tcp.ts";
import type { PathOptions } from "../../link/netsim/netsim.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import type { TcpStackOptions } from "./protocol-options.ts";
import { sizedTransfer } from "./testing/netsim-transfer.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

/** `size` bytes from A to B over NetSim (A→B shaped by `aToB`, B→A a plain delay); A's counters. */
function simTransfer(tcp: Partial<TcpStackOptions>, seed: number, aToB: PathOptions, size: number) {
  const r = sizedTransfer({ seed, tcp, path: aToB, size });
  return {
    ok: r.ok,
    simMs: Math.round(r.simMs),
    reordered: r.dataPath.reordered,
    retransmits: r.tcp.retransmits,
    spuriousRetransmits: r.tcp.spuriousRetransmits,
    recoveries: r.tcp.sackRecovery,
    undone: r.tcp.spuriousRecovery,
    timeouts: r.tcp.timeouts,
  };
}

describe("RACK (RFC 8985 §6) in the sender", () => {
  test("with reordering past 3+ segments and no loss, RACK avoids the spurious retransmissions DupThresh makes (counted by D-SACK)", () => {
    // 50 Mbit/s, 20 ms RTT, a queue that never overflows; 2% of segments held back 1.5 ms, so about six
    // later ones overtake each (a 1500-byte packet takes 0.24 ms): three SACKed segments above it make
    // RFC 6675 retransmit it (DupThresh, RFC 6675 §5 step 2).
    const path: PathOptions = {
      bandwidthBps: 50_000_000,
      delayMs: 10,
      queueBytes: 2_000_000,
      reorderRate: 0.02,
      reorderDelayMs: 1.5,
    };
    const size = 2 << 20;
    const dupThresh = simTransfer({ rack: false }, 8, path, size);
    const rack = simTransfer({ rack: true }, 8, path, size);
    console.log("2 MB, 2% of segments reordered by 1.5 ms, 20 ms RTT:", { dupThresh, rack });
    expect(dupThresh.ok).toBe(true);
    expect(rack.ok).toBe(true);
    expect(dupThresh.reordered).toBe(26);
    expect(rack.reordered).toBe(26);
    // Every DupThresh retransmission was spurious (the path lost nothing), and each cost a reduction.
    expect(dupThresh.spuriousRetransmits).toBe(10);
    expect(dupThresh.retransmits).toBe(10);
    expect(dupThresh.recoveries).toBe(10);
    expect(dupThresh.undone).toBe(0);
    // RACK: before any reordering is seen, three SACKed segments make the window 0 (RFC 8985 §6.2 step 4),
    // so the first reordering costs one spurious retransmission, undone by its D-SACK; the reordering is
    // then remembered and the min_RTT/4 window covers the rest.
    expect(rack.spuriousRetransmits).toBe(1);
    expect(rack.retransmits).toBe(1);
    expect(rack.recoveries).toBe(1);
    expect(rack.undone).toBe(1);
    expect(rack.timeouts).toBe(0);
    // Seed 8: 2314 ms with DupThresh, 447 ms with RACK.
    expect(rack.simMs).toBeLessThan(dupThresh.simMs / 2);
  });

  test("a loss with only two segments after it is repaired by RACK's reordering timer, not the RTO", () => {
    const run = (rack: boolean) => {
      const pair = new Pair({ delay: 10, tcp: { rack } });
      const { client, server } = pair.connect();
      // A first exchange gives an RTT sample (RACK.min_RTT = SRTT = 20 ms).
      client.write(bytes(1000, 1));
      pair.run(50);
      drain(server);
      // Five segments; the third is lost, so only two are SACKed above it.
      const seg = client.maxPayload();
      const data = bytes(5 * seg, 2);
      const lost = seqAdd(client.snd.nxt, 2 * seg);
      let dropAt = -1;
      pair.filter = (seg, from) => {
        if (from === "a" && seg.seq === lost && dropAt < 0) {
          dropAt = pair.clock.now();
          return "drop";
        }
        return undefined;
      };
      expect(client.write(data)).toBe(data.length);
      let got = 0;
      let doneAt = -1;
      for (let i = 0; i < 400 && doneAt < 0; i++) {
        pair.run(1);
        got += drain(server).length;
        if (got === data.length) doneAt = pair.clock.now();
      }
      expect(got).toBe(data.length);
      return { recoveryMs: doneAt - dropAt, ...pair.a.stats.tcp };
    };
    const rack = run(true);
    const dupThresh = run(false);
    console.log("loss with two segments after it, 20 ms RTT:", {
      rack: { ms: rack.recoveryMs, reoTimeouts: rack.rackReorderTimeouts, timeouts: rack.timeouts },
      dupThresh: { ms: dupThresh.recoveryMs, timeouts: dupThresh.timeouts },
    });
    // RFC 8985 §6.2 step 5: two SACKed segments do not reach DupThresh; the segment is lost once older than
    // RACK.rtt + min_RTT/4: one RTT to learn, 5 ms of reordering window, one RTT to repair.
    expect(rack.rackReorderTimeouts).toBe(1);
    expect(rack.timeouts).toBe(0);
    expect(rack.tlpRetransmits).toBe(0);
    expect(rack.retransmits).toBe(1);
    expect(rack.recoveryMs).toBeLessThanOrEqual(50);
    // RFC 6675 alone waits for the RTO (200 ms minimum).
    expect(dupThresh.timeouts).toBe(1);
    expect(dupThresh.recoveryMs).toBeGreaterThan(200);
  });
});

describe("RACK after an RTO (RFC 8985 §6.2 with RFC 6675 §5.1)", () => {
  test("a retransmission lost again during RTO recovery is resent once RACK marks it, not at the next RTO", () => {
    const run = (rack: boolean) => {
      const pair = new Pair({ delay: 10, tcp: { rack } });
      const { client, server } = pair.connect();
      const seg = client.maxPayload();
      const base = client.snd.nxt;
      const data = bytes(10 * seg, 4);
      let relost = false;
      pair.filter = (f, from) => {
        if (from !== "a" || f.payload.length === 0) return undefined;
        const k = ((f.seq - base) >>> 0) / seg;
        // Segments 5–9 (and any probe of them) are lost until the RTO fires; then the first
        // retransmission of segment 6 is lost again.
        if (k >= 5 && pair.a.stats.tcp.timeouts === 0) return "drop";
        if (k === 6 && !relost) {
          relost = true;
          return "drop";
        }
        return undefined;
      };
      expect(client.write(data)).toBe(data.length);
      let got = 0;
      let t = 0;
      for (; t < 3000 && got < data.length; t++) {
        pair.run(1);
        got += drain(server).length;
      }
      expect(got).toBe(data.length);
      expect(relost).toBe(true);
      expect(pair.a.stats.tcp.retransmits).toBeGreaterThan(0);
      return { ms: t, ...pair.a.stats.tcp };
    };
    const rack = run(true);
    const plain = run(false);
    console.log("re-lost retransmission after an RTO:", {
      rack: { ms: rack.ms, timeouts: rack.timeouts },
      plain: { ms: plain.ms, timeouts: plain.timeouts },
    });
    // RTO at 1360 ms resends segment 5, then 6 (lost again) and 7; the SACK of 7 makes RACK mark 6
    // (sent before it, older than RACK.rtt) and it goes at once: done 330 ms after the write. RFC 6675 §5.1
    // alone has moved HighRxt past it and waits for the second, backed-off RTO: 470 ms.
    expect(rack.timeouts).toBe(1);
    expect(plain.timeouts).toBe(2);
    expect(rack.ms).toBe(330);
    expect(plain.ms).toBe(470);
  });
});

describe("D-SACK undo (RFC 2883 §4, RFC 3708 §3)", () => {
  /**
   * One segment of a large flight is held back 15 ms (past every later one): a spurious fast retransmit.
   * Returns A's counters and its window before the episode and after the transfer.
   */
  const spurious = (tcp: Partial<TcpStackOptions>, dropRetransmission = false) => {
    const pair = new Pair({ delay: 10, tcp });
    const { client, server } = pair.connect();
    const data = bytes(300_000, 9);
    const late = seqAdd(client.snd.iss + 1, 40 * client.maxPayload());
    let off = client.write(data);
    let held = false;
    let cwndBefore = 0;
    let ssthreshBefore = 0;
    let afterRecovery = { cwnd: 0, ssthresh: 0 };
    pair.filter = (seg, from) => {
      if (from !== "a" || seg.seq !== late) return undefined;
      if (!held) {
        held = true;
        cwndBefore = client.snd.cc.cwnd;
        ssthreshBefore = client.snd.cc.ssthresh;
        return 25;
      }
      return dropRetransmission ? "drop" : undefined;
    };
    let got = 0;
    let seenRecovery = false;
    for (let i = 0; i < 4000 && got < data.length; i++) {
      if (off < data.length) off += client.write(data.subarray(off));
      pair.run(1);
      got += drain(server).length;
      if (!seenRecovery && pair.a.stats.tcp.sackRecovery > 0 && client.snd.sack?.active === false) {
        seenRecovery = true;
        afterRecovery = { cwnd: client.snd.cc.cwnd, ssthresh: client.snd.cc.ssthresh };
      }
    }
    expect(got).toBe(data.length);
    expect(held).toBe(true);
    return { t: pair.a.stats.tcp, cwndBefore, ssthreshBefore, afterRecovery, client };
  };

  test("a spurious fast retransmit reported by D-SACK is undone: cwnd and ssthresh come back", () => {
    // Without timestamps, only the D-SACK can tell.
    const rack = spurious({ rack: true, timestamps: false });
    expect(rack.t.sackRecovery).toBe(1);
    expect(rack.t.retransmits).toBe(1);
    expect(rack.t.spuriousRetransmits).toBe(1);
    expect(rack.t.spuriousRecovery).toBe(1);
    // Slow start went on: the reduction was taken back (ssthresh "infinite" again, cwnd at least as before).
    expect(rack.afterRecovery.ssthresh).toBe(rack.ssthreshBefore);
    expect(rack.afterRecovery.cwnd).toBeGreaterThanOrEqual(rack.cwndBefore);
    // TCP_INFO shows it per connection.
    const info = rack.client.tcpInfo();
    expect(info.totalRetrans).toBe(1);
    expect(info.spuriousRetrans).toBe(1);
    expect(info.dsacks).toBe(1);
    expect(info.reorderingSeen).toBe(true);
    // The same with CUBIC (RFC 9438 §4.9 restores its curve too).
    const cubic = spurious({ rack: true, timestamps: false, congestionControl: "cubic" });
    expect(cubic.t.spuriousRecovery).toBe(1);
    expect(cubic.afterRecovery.ssthresh).toBe(cubic.ssthreshBefore);
    expect(cubic.afterRecovery.cwnd).toBeGreaterThanOrEqual(cubic.cwndBefore);
    // rack: false is today's RFC 6675 sender: the same spurious retransmission (counted), no undo.
    const plain = spurious({ rack: false, timestamps: false });
    expect(plain.t.sackRecovery).toBe(1);
    expect(plain.t.spuriousRetransmits).toBe(1);
    expect(plain.t.spuriousRecovery).toBe(0);
    expect(plain.afterRecovery.ssthresh).toBeLessThan(plain.ssthreshBefore);
  });

  test("Eifel (RFC 3522): with timestamps, the late original's echo undoes it even when the retransmission is lost", () => {
    const r = spurious({ rack: true }, true);
    expect(r.t.sackRecovery).toBe(1);
    expect(r.t.retransmits).toBe(1);
    // No D-SACK (the retransmission never arrived): the timestamp echo alone showed the original got there.
    expect(r.t.spuriousRetransmits).toBe(0);
    expect(r.t.spuriousRecovery).toBe(1);
    expect(r.afterRecovery.ssthresh).toBe(r.ssthreshBefore);
  });
});

describe("RACK reordering timer (RFC 8985 §6.2 step 5), segment by segment", () => {
  const NO_TS = { mss: 1000, sackPermitted: true, windowScale: 7 };

  /** ESTABLISHED with an RTT sample of 20 ms; then three segments A, B, C sent at once. */
  const setup = (rack: boolean) => {
    const p = new RawPeer({ tcp: { rack } });
    // The handshake by hand, so that its RTT sample is 20 ms too.
    const { ep: listener } = p.newEndpoint();
    listener.bind({ port: p.localPort });
    listener.listen(1);
    const irs = 5000;
    p.send({ flags: TCP_SYN, seq: irs, window: 65535, options: NO_TS });
    const iss = p.next().seq;
    p.advance(20);
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 65535 });
    const ep = listener.accept().endpoint as TcpEndpoint;
    const ackOf = (ack: number, sack?: number[]) =>
      p.send({
        flags: TCP_ACK,
        seq: irs + 1,
        ack,
        window: 65535,
        ...(sack ? { options: { sackBlocks: sack } } : {}),
      });
    ep.write(bytes(1000, 1));
    expect(p.next().payload.length).toBe(1000);
    p.advance(20);
    ackOf(iss + 1001);
    ep.write(bytes(3000, 2));
    const a = p.next();
    const b = p.next();
    const c = p.next();
    expect([a.seq, b.seq, c.seq]).toEqual([iss + 1001, iss + 2001, iss + 3001]);
    p.expectNone();
    return { p, ep, ackOf, a, b, c };
  };

  test("one SACKed segment above a hole: the timer fires min_RTT/4 after RACK.rtt and A is retransmitted", () => {
    const { p, ep, ackOf, a, b } = setup(true);
    p.advance(20);
    // B arrived, A did not (yet). Not DupThresh, and RACK's window is min_RTT/4 = 5 ms: wait.
    ackOf(a.seq, [b.seq, b.seq + 1000]);
    p.expectNone();
    expect(ep.snd.sack?.reoTimer?.pending).toBe(true);
    p.advance(4);
    p.expectNone();
    p.advance(2);
    // A is 20 ms + 5 ms old: lost. Fast recovery starts with its retransmission.
    const rxt = p.next();
    expect(rxt.seq).toBe(a.seq);
    expect(rxt.payload.length).toBe(1000);
    const t = p.stack.stats.tcp;
    expect(t.rackReorderTimeouts).toBe(1);
    expect(t.fastRetransmit).toBe(1);
    expect(t.timeouts).toBe(0);
    p.expectNone();
  });

  test("the late segment arrives inside the window: the timer is stopped, nothing is retransmitted", () => {
    const { p, ep, ackOf, a, b, c } = setup(true);
    p.advance(20);
    ackOf(a.seq, [b.seq, b.seq + 1000]);
    p.advance(3);
    // A was only reordered: the cumulative ACK covers everything.
    ackOf(c.seq + 1000);
    expect(ep.snd.sack?.reoTimer?.pending).toBe(false);
    p.advance(100);
    p.expectNone();
    expect(p.stack.stats.tcp.retransmits).toBe(0);
    expect(p.stack.stats.tcp.rackReorderTimeouts).toBe(0);
  });

  test("with rack: false the same ACK arms nothing: A waits for the RTO", () => {
    const { p, ackOf, a, b } = setup(false);
    p.advance(20);
    ackOf(a.seq, [b.seq, b.seq + 1000]);
    p.advance(10);
    p.expectNone();
    p.advance(300);
    expect(p.next().seq).toBe(a.seq);
    expect(p.stack.stats.tcp.timeouts).toBe(1);
  });
});

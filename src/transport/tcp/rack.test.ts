import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  INFINITE_TS,
  Rack,
  type RackAck,
  type RackSegment,
  rackSentAfter,
  type SentSegment,
  SentSegments,
  TLP_MAX_ACK_DELAY_MS,
  Tlp,
} from "./rack.ts";

const MSS = 1000;
const RTT = 100;

interface Seg extends RackSegment {
  name: string;
  seq: number;
}

/** A toy sender's segment list: P0, P1, ... of one MSS each from `iss`. */
class Sender {
  readonly segs: Seg[] = [];
  una: number;
  nxt: number;
  inRecovery = false;
  constructor(
    readonly iss: number,
    readonly rack = new Rack(),
    readonly tlp = new Tlp(),
  ) {
    this.una = iss;
    this.nxt = iss;
  }
  send(now: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const seq = this.nxt;
      this.nxt = (seq + MSS) >>> 0;
      this.segs.push({
        name: `P${this.segs.length}`,
        seq,
        endSeq: this.nxt,
        xmitTs: now,
        retransmitted: false,
        lost: false,
        sacked: false,
      });
    }
  }
  seg(name: string): Seg {
    return this.segs.find((s) => s.name === name)!;
  }
  retransmit(now: number, name: string): void {
    const s = this.seg(name);
    s.xmitTs = now;
    s.retransmitted = true;
    s.lost = false;
  }
  get outstanding(): Seg[] {
    return this.segs.filter((s) => ((s.endSeq - this.una) | 0) > 0);
  }
  get sackedCount(): number {
    return this.outstanding.filter((s) => s.sacked).length;
  }
  /** An ACK: cumulative up to `ackName`'s end (or none), SACKing `sacked`. Runs RACK steps 1–5. */
  ack(
    now: number,
    opts: { cum?: string; sack?: string[]; dsack?: boolean; rtt?: number; exiting?: boolean },
  ): number {
    const newly: Seg[] = [];
    if (opts.cum) {
      const end = this.seg(opts.cum).endSeq;
      for (const s of this.outstanding) {
        if (((s.endSeq - end) | 0) <= 0) {
          if (!s.sacked) newly.push(s);
        }
      }
      this.una = end;
    }
    for (const n of opts.sack ?? []) {
      const s = this.seg(n);
      if (!s.sacked) {
        s.sacked = true;
        newly.push(s);
      }
    }
    if (opts.rtt !== undefined) {
      this.rack.onRttSample(opts.rtt, now);
      this.tlp.onRttSample();
    }
    const a: RackAck = {
      now,
      newlyAcked: newly,
      dsack: opts.dsack ?? false,
      sndUna: this.una,
      sndNxt: this.nxt,
      inRecovery: this.inRecovery,
      exitingRecovery: opts.exiting ?? false,
      segsSacked: this.sackedCount,
      srtt: RTT,
    };
    this.rack.onAck(a);
    return this.rack.detectLoss(this.outstanding, now);
  }
  lostNames(): string[] {
    return this.outstanding.filter((s) => s.lost).map((s) => s.name);
  }
}

describe("RACK_sent_after (RFC 8985 §6.2)", () => {
  test("later time wins; equal times compare end_seq, wrap-safe", () => {
    expect(rackSentAfter(2, 100, 1, 200)).toBe(true);
    expect(rackSentAfter(1, 200, 1, 100)).toBe(true);
    expect(rackSentAfter(1, 100, 1, 100)).toBe(false);
    expect(rackSentAfter(1, 5, 1, 0xfffffff0)).toBe(true);
    expect(rackSentAfter(INFINITE_TS, 0, 5, 0)).toBe(true);
    expect(rackSentAfter(5, 0, INFINITE_TS, 0)).toBe(false);
  });
});

describe("RFC 8985 §3.4 example: RACK-TLP in fast recovery", () => {
  test("TLP probes the tail, RACK marks P1 and P2 lost, then the lost retransmission of P1", () => {
    const s = new Sender(0xfffff000); // across the sequence wrap
    // 1. Send P0, P1, P2, P3; P1, P2, P3 are dropped.
    s.send(0, 4);
    // 2. Receive P0's ACK.
    expect(s.ack(RTT, { cum: "P0", rtt: RTT })).toBe(0);
    expect(s.lostNames()).toEqual([]);
    // 3a. The PTO, armed at that ACK: 2·SRTT (three segments in flight, no delayed-ACK allowance).
    expect(s.tlp.canSchedule(true, false, 3 * MSS)).toBe(true);
    const pto = s.tlp.pto(RTT, 3 * MSS, MSS, RTT);
    expect(pto).toBe(2 * RTT);
    const t3 = RTT + pto;
    // 3b. No new data to send: TLP retransmits the highest segment sent, P3.
    expect(s.tlp.canSendProbe()).toBe(true);
    expect(s.tlp.chooseProbe(false, true)).toBe("retransmit-last");
    s.retransmit(t3, "P3");
    s.tlp.onProbeSent(s.nxt, true);
    expect(s.tlp.canSendProbe()).toBe(false);
    // 4–5. The SACK of P3 arrives one RTT later: RACK marks P1 and P2 lost (sent long before P3's
    // retransmission, and older than RACK.rtt + reo_wnd).
    const t5 = t3 + RTT;
    s.ack(t5, { sack: ["P3"], rtt: RTT });
    expect(s.rack.rtt).toBe(RTT);
    expect(s.rack.xmitTs).toBe(t3);
    expect(s.lostNames()).toEqual(["P1", "P2"]);
    expect(s.rack.newlyLost).toBe(2);
    expect(s.seg("P1").xmitTs).toBe(INFINITE_TS);
    // TLP: the SACK does not cover TLP.end_seq cumulatively yet.
    expect(s.tlp.processAck(s.una, undefined, false)).toBe("none");
    // 5c. Fast recovery: retransmit P1 and P2 (P1's retransmission is dropped).
    s.inRecovery = true;
    s.retransmit(t5, "P1");
    s.retransmit(t5, "P2");
    // 6. P2 arrives: SACK P2 and P3.
    const t6 = t5 + RTT;
    s.ack(t6, { sack: ["P2"], rtt: RTT });
    // 7a. P1's retransmission was sent with P2's, before it, and in recovery reo_wnd is 0: lost again.
    expect(s.rack.reoWnd).toBe(0);
    expect(s.lostNames()).toEqual(["P1"]);
    // 7b. Retransmit P1; 8. the cumulative ACK covers everything.
    s.retransmit(t6, "P1");
    expect(s.ack(t6 + RTT, { cum: "P3", rtt: RTT, exiting: true })).toBe(0);
    expect(s.outstanding).toEqual([]);
    // The ACK reaches TLP.end_seq exactly: for a retransmitted probe without a D-SACK that alone
    // settles nothing (§7.4.2); fast recovery already reacted to the loss, and its end closes the episode.
    expect(s.tlp.processAck(s.una, undefined, false)).toBe("none");
    s.tlp.reset();
    expect(s.tlp.endSeq).toBeUndefined();
  });
});

describe("RFC 8985 §3.5 example: RACK-TLP and an RTO", () => {
  test("the whole flight and the probe are lost: on RTO, RACK marks every old segment lost", () => {
    const s = new Sender(1000);
    s.send(0, 4);
    // No ACK: after the PTO (1 s without an SRTT sample) the probe retransmits P3 — and is lost too.
    expect(s.tlp.pto(undefined, 4 * MSS, MSS, 0)).toBe(1000);
    // Without an RTT sample since the connection began, no probe may go (§7.3 condition 2).
    expect(s.tlp.canSendProbe()).toBe(false);
    s.tlp.onRttSample();
    expect(s.tlp.canSendProbe()).toBe(true);
    s.retransmit(1000, "P3");
    s.tlp.onProbeSent(s.nxt, true);
    // The RTO fires: P0 is lost as the first unacknowledged segment, P1 and P2 as old enough, and P3's
    // probe, sent recently, is kept.
    s.rack.rtt = RTT;
    s.rack.markLossesOnRto(s.outstanding, 1050);
    expect(s.lostNames()).toEqual(["P0", "P1", "P2"]);
    s.tlp.reset();
  });
});

describe("RACK reordering window (RFC 8985 §6.2 Step 4)", () => {
  test("a reordered segment is not marked lost within min_RTT/4, and reordering is then remembered", () => {
    const s = new Sender(0);
    s.send(0, 1);
    s.ack(RTT, { cum: "P0", rtt: RTT });
    // P1..P4 sent 1 ms apart; P1 is delayed in the network.
    for (let i = 0; i < 4; i++) s.send(200 + i, 1);
    // P2 (sent at 201) SACKed at 302: RACK.rtt = 101. P1 was sent before P2, but
    // xmit_ts + RACK.rtt + reo_wnd = 200 + 101 + 25 > 302: wait 24 ms.
    const timeout = s.ack(302, { sack: ["P2"], rtt: RTT });
    expect(s.rack.rtt).toBe(101);
    expect(s.rack.reoWnd).toBe(RTT / 4);
    expect(timeout).toBe(24);
    expect(s.lostNames()).toEqual([]);
    // P1 arrives at 310 (cumulative ACK through P2): reordering seen.
    expect(s.ack(310, { cum: "P2", rtt: 110 })).toBe(0);
    expect(s.rack.reorderingSeen).toBe(true);
    expect(s.lostNames()).toEqual([]);
  });

  test("if the timer fires with the segment still missing, it is lost", () => {
    const s = new Sender(0);
    s.send(0, 1);
    s.ack(RTT, { cum: "P0", rtt: RTT });
    for (let i = 0; i < 4; i++) s.send(200 + i, 1);
    const timeout = s.ack(302, { sack: ["P2"], rtt: RTT });
    expect(s.rack.detectLoss(s.outstanding, 302 + timeout)).toBe(0);
    expect(s.lostNames()).toEqual(["P1"]);
  });

  test("without reordering seen, three SACKed segments (DupThresh) or recovery make the window 0", () => {
    const s = new Sender(0);
    s.send(0, 1);
    s.ack(RTT, { cum: "P0", rtt: RTT });
    for (let i = 0; i < 5; i++) s.send(200 + i, 1);
    s.ack(303, { sack: ["P2", "P3", "P4"], rtt: RTT });
    expect(s.rack.reoWnd).toBe(0);
    expect(s.lostNames()).toEqual(["P1"]);
  });

  test("D-SACK grows the window once per round, capped at SRTT; 16 D-SACK-free recoveries reset it", () => {
    const r = new Rack();
    r.onRttSample(40, 0);
    const base: RackAck = {
      now: 0,
      newlyAcked: [],
      dsack: false,
      sndUna: 1000,
      sndNxt: 5000,
      inRecovery: false,
      exitingRecovery: false,
      segsSacked: 0,
      srtt: 100,
    };
    r.onAck(base);
    expect(r.reoWnd).toBe(10);
    r.onAck({ ...base, dsack: true });
    expect([r.reoWndMult, r.dsackRound, r.reoWnd]).toEqual([2, 5000, 20]);
    // A second D-SACK in the same round (SND.UNA below dsack_round) does not grow it again.
    r.onAck({ ...base, dsack: true, sndUna: 3000 });
    expect(r.reoWndMult).toBe(2);
    // Next round.
    r.onAck({ ...base, dsack: true, sndUna: 5000, sndNxt: 9000 });
    expect([r.reoWndMult, r.dsackRound]).toEqual([3, 9000]);
    for (let m = 4; m <= 12; m++) r.onAck({ ...base, dsack: true, sndUna: 9000 * m, sndNxt: 9000 * (m + 1) });
    // min(mult · min_RTT / 4, SRTT) = min(12 · 10, 100).
    expect(r.reoWnd).toBe(100);
    for (let i = 0; i < 15; i++)
      r.onAck({ ...base, sndUna: 200_000, sndNxt: 200_000, exitingRecovery: true });
    expect(r.reoWndMult).toBe(12);
    r.onAck({ ...base, sndUna: 200_000, sndNxt: 200_000, exitingRecovery: true });
    expect(r.reoWndMult).toBe(1);
  });
});

describe("RACK RTT bookkeeping (RFC 8985 §6.2 Steps 1–2)", () => {
  test("min_RTT is a windowed minimum", () => {
    const r = new Rack(1000);
    r.onRttSample(50, 0);
    r.onRttSample(80, 10);
    expect(r.minRtt).toBe(50);
    r.onRttSample(80, 1500);
    expect(r.minRtt).toBe(80);
  });

  test("a retransmitted segment acknowledged faster than min_RTT, or by an older timestamp echo, is ambiguous", () => {
    const s = new Sender(0);
    s.send(0, 2);
    s.ack(RTT, { cum: "P0", rtt: RTT });
    s.retransmit(150, "P1");
    // Acknowledged 20 ms after the retransmission: it must be the original (min_RTT is 100).
    s.ack(170, { cum: "P1" });
    expect(s.rack.xmitTs).toBe(0);
    expect(s.rack.rtt).toBe(RTT);

    const t = new Sender(0);
    t.send(0, 2);
    t.ack(RTT, { cum: "P0", rtt: RTT });
    t.retransmit(150, "P1");
    t.rack.onAck({
      now: 300,
      newlyAcked: [t.seg("P1")],
      echoedXmitTs: 0,
      dsack: false,
      sndUna: t.seg("P1").endSeq,
      sndNxt: t.nxt,
      inRecovery: false,
      exitingRecovery: false,
      segsSacked: 0,
      srtt: RTT,
    });
    expect(t.rack.xmitTs).toBe(0);
  });

  test("with a 1 ms RTT granularity, a retransmission's RTT just under min_RTT still counts", () => {
    const seg: RackSegment = {
      endSeq: 2000,
      xmitTs: 150.000001,
      retransmitted: true,
      lost: false,
      sacked: true,
    };
    const ack = (rack: Rack): void =>
      rack.onAck({
        now: 250,
        newlyAcked: [seg],
        dsack: false,
        sndUna: 1000,
        sndNxt: 3000,
        inRecovery: true,
        exitingRecovery: false,
        segsSacked: 1,
        srtt: RTT,
      });
    // min_RTT 100 from whole-millisecond samples; the retransmission was SACKed 99.999999 ms after it left.
    const exact = new Rack();
    exact.onRttSample(RTT, 0);
    ack(exact);
    expect(exact.xmitTs).toBe(Number.NEGATIVE_INFINITY);
    const coarse = new Rack(undefined, 1);
    coarse.onRttSample(RTT, 0);
    ack(coarse);
    expect(coarse.xmitTs).toBe(150.000001);
    expect(coarse.rtt).toBeCloseTo(99.999999, 6);
  });

  test("among several delivered segments RACK takes the most recently sent one's RTT", () => {
    const s = new Sender(0);
    s.send(0, 1);
    s.send(30, 1);
    s.ack(130, { cum: "P1", rtt: 100 });
    expect(s.rack.rtt).toBe(100);
    expect(s.rack.xmitTs).toBe(30);
    expect(s.rack.endSeq).toBe(s.seg("P1").endSeq);
  });
});

describe("TLP (RFC 8985 §7)", () => {
  test("PTO = 2·SRTT, plus WCDelAckT with one segment in flight, capped by the RTO", () => {
    const tlp = new Tlp();
    expect(TLP_MAX_ACK_DELAY_MS).toBe(200);
    expect(tlp.pto(50, 4 * MSS, MSS, 0)).toBe(100);
    expect(tlp.pto(50, MSS, MSS, 0)).toBe(300);
    expect(tlp.pto(50, MSS, MSS, 1000, 1250)).toBe(250);
    expect(tlp.pto(0, 4 * MSS, MSS, 0)).toBe(1000);
  });

  test("scheduling needs SACK, data in flight and no recovery", () => {
    const tlp = new Tlp();
    expect(tlp.canSchedule(true, false, MSS)).toBe(true);
    expect(tlp.canSchedule(false, false, MSS)).toBe(false);
    expect(tlp.canSchedule(true, true, MSS)).toBe(false);
    expect(tlp.canSchedule(true, false, 0)).toBe(false);
  });

  test("probe selection: new data when there is some and the window allows, else the last segment", () => {
    const tlp = new Tlp();
    expect(tlp.chooseProbe(true, true)).toBe("new");
    expect(tlp.chooseProbe(true, false)).toBe("retransmit-last");
    expect(tlp.chooseProbe(false, true)).toBe("retransmit-last");
  });

  test("one probe at a time, and one RTT sample between probes", () => {
    const tlp = new Tlp();
    tlp.onRttSample();
    tlp.onProbeSent(5000, true);
    expect(tlp.canSendProbe()).toBe(false);
    expect(tlp.processAck(6000, undefined, false)).toBe("loss-repaired");
    expect(tlp.canSendProbe()).toBe(false);
    tlp.onRttSample();
    expect(tlp.canSendProbe()).toBe(true);
  });

  test("TLP_process_ack outcomes (§7.4.2)", () => {
    const tlp = new Tlp();
    expect(tlp.processAck(1, undefined, false)).toBe("none");
    // A probe of new data, delivered.
    tlp.onProbeSent(5000, false);
    expect(tlp.processAck(4000, undefined, false)).toBe("none");
    expect(tlp.processAck(5000, undefined, false)).toBe("delivered");
    // A retransmitted probe whose D-SACK shows the original arrived.
    tlp.onProbeSent(5000, true);
    expect(tlp.processAck(5000, 5000, false)).toBe("redundant");
    // A retransmitted probe, and an ACK beyond it: it repaired a loss.
    tlp.onProbeSent(5000, true);
    expect(tlp.processAck(5000, undefined, false)).toBe("none");
    expect(tlp.processAck(5100, undefined, false)).toBe("loss-repaired");
    // A duplicate ACK without SACK at TLP.end_seq: assumed repaired.
    tlp.onProbeSent(5000, true);
    expect(tlp.processAck(5000, undefined, true)).toBe("loss-repaired");
    // Across the wrap.
    tlp.onProbeSent(0xfffffff0, true);
    expect(tlp.processAck(0x10, undefined, false)).toBe("loss-repaired");
  });
});

describe("SentSegments: the per-segment log RACK walks", () => {
  const names = (segs: Iterable<RackSegment>) => [...segs].map((s) => (s as SentSegment).seq);

  test("new data is appended; retransmissions mark what they overlap; ACKs report what is newly delivered", () => {
    const log = new SentSegments();
    for (let i = 0; i < 5; i++) log.onTransmit(1000 + i * MSS, MSS, i);
    expect(log.length).toBe(5);
    expect(log.highest).toBe(6000);
    // A retransmission cut differently (1500 octets from 2000) touches segments 2000 and 3000.
    log.onTransmit(2000, 1500, 50);
    expect([
      log.at(1)!.retransmitted,
      log.at(1)!.xmitTs,
      log.at(2)!.retransmitted,
      log.at(3)!.retransmitted,
    ]).toEqual([true, 50, true, false]);
    // A retransmission running into new data: the new part becomes a segment of its own.
    log.onTransmit(5000, 2000, 60);
    expect(log.length).toBe(6);
    expect([log.at(4)!.retransmitted, log.at(5)!.seq, log.at(5)!.endSeq, log.at(5)!.retransmitted]).toEqual([
      true,
      6000,
      7000,
      false,
    ]);
    // ACK 2000 SACKing [4000, 6000): segment 1000 cumulatively, 4000 and 5000 selectively.
    const newly: RackSegment[] = [];
    expect(log.onAck(2000, [4000, 6000], false, newly)).toBe(3);
    expect(names(newly)).toEqual([1000, 4000, 5000]);
    expect(log.sackedCount).toBe(2);
    // The cumulative ACK now covers the SACKed ones: only 2000 and 3000 are new deliveries.
    newly.length = 0;
    expect(log.onAck(6000, [], false, newly)).toBe(2);
    expect(names(newly)).toEqual([2000, 3000]);
    expect(log.sackedCount).toBe(0);
    expect(names(log)).toEqual([6000]);
  });

  test("a block covering part of a segment does not SACK it; a cumulative ACK inside one trims it", () => {
    const log = new SentSegments();
    log.onTransmit(0, 3 * MSS, 0);
    const newly: RackSegment[] = [];
    log.onAck(0, [500, 1500], false, newly);
    expect(newly).toEqual([]);
    log.onAck(1200, [], false, newly);
    expect(newly).toEqual([]);
    expect(log.at(0)!.seq).toBe(1200);
    log.onAck(3000, [], false, newly);
    expect(newly.length).toBe(1);
  });

  test("a D-SACK first block is skipped; the wrap is handled", () => {
    const log = new SentSegments();
    const iss = 0xfffff800;
    for (let i = 0; i < 4; i++) log.onTransmit((iss + i * MSS) >>> 0, MSS, i);
    const newly: RackSegment[] = [];
    const s2 = (iss + 2 * MSS) >>> 0;
    const s3 = (iss + 3 * MSS) >>> 0;
    // The D-SACK [s2, s3) is inside the second block [s2, s3 + MSS), which SACKs two segments.
    log.onAck(iss, [s2, s3, s2, (s3 + MSS) >>> 0], true, newly);
    expect(names(newly)).toEqual([s2, s3]);
    newly.length = 0;
    // A lone D-SACK block reports nothing new.
    log.onAck(iss, [iss, (iss + 1) >>> 0], true, newly);
    expect(newly).toEqual([]);
    expect(log.firstLost()).toBeUndefined();
    log.at(0)!.lost = true;
    expect(log.firstLost()).toBe(log.at(0));
    log.clearSacked();
    expect(log.sackedCount).toBe(0);
  });

  test("the §3.4 example driven through SentSegments, Rack and Tlp", () => {
    const log = new SentSegments();
    const rack = new Rack();
    const tlp = new Tlp();
    const newly: RackSegment[] = [];
    const ack = (now: number, una: number, blocks: number[], inRecovery: boolean) => {
      newly.length = 0;
      log.onAck(una, blocks, false, newly);
      rack.onRttSample(RTT, now);
      tlp.onRttSample();
      rack.onAck({
        now,
        newlyAcked: newly,
        dsack: false,
        sndUna: una,
        sndNxt: 4 * MSS,
        inRecovery,
        exitingRecovery: false,
        segsSacked: log.sackedCount,
        srtt: RTT,
      });
      return rack.detectLoss(log, now);
    };
    for (let i = 0; i < 4; i++) log.onTransmit(i * MSS, MSS, 0);
    ack(100, MSS, [], false);
    // PTO at 300: retransmit P3.
    log.onTransmit(3 * MSS, MSS, 300);
    tlp.onProbeSent(4 * MSS, true);
    ack(400, MSS, [3 * MSS, 4 * MSS], false);
    expect([...log].filter((s) => s.lost).map((s) => s.seq)).toEqual([MSS, 2 * MSS]);
    // Fast recovery retransmits P1 and P2; P1 is lost again, P2 SACKed.
    for (let lost = log.firstLost(); lost; lost = log.firstLost()) log.onTransmit(lost.seq, MSS, 400);
    ack(500, MSS, [2 * MSS, 4 * MSS], true);
    expect([...log].filter((s) => s.lost).map((s) => s.seq)).toEqual([MSS]);
  });
});

describe("SentSegments properties (fast-check)", () => {
  test("every segment is reported delivered exactly once; the log stays ordered and counted", () => {
    const opArb = fc.oneof(
      fc.record({ t: fc.constant("send" as const), len: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({
        t: fc.constant("rxt" as const),
        off: fc.integer({ min: 0, max: 20_000 }),
        len: fc.integer({ min: 1, max: 3000 }),
      }),
      fc.record({
        t: fc.constant("ack" as const),
        adv: fc.integer({ min: 0, max: 4000 }),
        blocks: fc.array(fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 5000 })), {
          maxLength: 4,
        }),
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(opArb, { maxLength: 80 }), (iss, ops) => {
        const log = new SentSegments();
        const delivered = new Map<string, number>();
        let una = 0;
        let max = 0;
        let now = 0;
        const seq = (o: number) => (iss + o) >>> 0;
        const newly: RackSegment[] = [];
        for (const op of ops) {
          now++;
          if (op.t === "send") {
            log.onTransmit(seq(max), op.len, now);
            max += op.len;
          } else if (op.t === "rxt") {
            if (max > una) {
              const o = una + (op.off % (max - una));
              log.onTransmit(seq(o), Math.min(op.len, max - o), now);
            }
          } else {
            una = Math.min(max, una + op.adv);
            const blocks: number[] = [];
            for (const [o, l] of op.blocks) {
              if (max > una)
                blocks.push(seq(una + (o % (max - una))), seq(Math.min(max, una + (o % (max - una)) + l)));
            }
            newly.length = 0;
            log.onAck(seq(una), blocks, false, newly);
            for (const s of newly) {
              const k = `${(s as SentSegment).endSeq}`;
              delivered.set(k, (delivered.get(k) ?? 0) + 1);
            }
          }
          let prev: number | undefined;
          let sacked = 0;
          for (const s of log) {
            const o = (s.seq - iss) >>> 0;
            const e = (s.endSeq - iss) >>> 0;
            expect(o).toBeLessThan(e);
            expect(o).toBeGreaterThanOrEqual(una);
            expect(e).toBeLessThanOrEqual(max);
            if (prev !== undefined) expect(o).toBe(prev);
            prev = e;
            if (s.sacked) sacked++;
          }
          expect(log.sackedCount).toBe(sacked);
        }
        for (const n of delivered.values()) expect(n).toBe(1);
      }),
      { numRuns: 200, seed: 8985 },
    );
  });
});

describe("Rack.detectLoss early stop (fast-check)", () => {
  test("stopping at the first never-retransmitted segment sent after RACK.xmit_ts changes nothing", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 5 }),
            rxt: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
            sacked: fc.boolean(),
            lost: fc.boolean(),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 60 }),
        (specs, now, rackIdx, reo) => {
          // Segments in sequence order, first sent at non-decreasing times, some retransmitted later.
          const mk = () => {
            let t = 0;
            return specs.map((sp, i) => {
              t += sp.gap;
              const seg: RackSegment = {
                endSeq: (i + 1) * MSS,
                xmitTs: sp.lost ? INFINITE_TS : sp.rxt !== undefined ? t + sp.rxt : t,
                retransmitted: sp.rxt !== undefined,
                lost: sp.lost,
                sacked: sp.sacked,
              };
              return seg;
            });
          };
          const a = mk();
          const b = mk();
          const ref = a[Math.min(rackIdx, a.length - 1)]!;
          const setup = (r: Rack) => {
            r.xmitTs = ref.xmitTs === INFINITE_TS ? 100 : ref.xmitTs;
            r.endSeq = ref.endSeq;
            r.rtt = 50;
            r.reoWnd = reo;
          };
          const fast = new Rack();
          setup(fast);
          // The RFC's loop over every segment, without the early stop.
          const naive = (segs: RackSegment[]) => {
            let timeout = 0;
            for (const seg of segs) {
              if (seg.sacked || seg.lost) continue;
              if (!rackSentAfter(fast.xmitTs, fast.endSeq, seg.xmitTs, seg.endSeq)) continue;
              const remaining = seg.xmitTs + fast.rtt + fast.reoWnd - now;
              if (remaining <= 0) {
                seg.lost = true;
                seg.xmitTs = INFINITE_TS;
              } else timeout = Math.max(timeout, remaining);
            }
            return timeout;
          };
          expect(fast.detectLoss(a, now)).toBe(naive(b));
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 500, seed: 6 },
    );
  });
});

describe("SentSegments as the TCP sender uses it", () => {
  test("a GSO super-segment is logged as MSS segments; lost marks are counted, found and taken back", () => {
    const log = new SentSegments();
    const iss = 0xffff_f000;
    log.onTransmit(iss, 4 * MSS + 10, 5, MSS);
    expect([...log].map((s) => (s.endSeq - s.seq) >>> 0)).toEqual([MSS, MSS, MSS, MSS, 10]);
    expect(log.pipe()).toBe(4 * MSS + 10);
    // RACK marks the second and fourth lost; the sender adds its count (`Rack.newlyLost`).
    log.at(1)!.lost = true;
    log.at(3)!.lost = true;
    log.lostCount += 2;
    expect(log.pipe()).toBe(2 * MSS + 10);
    expect(log.nextLost(iss)).toBe(log.at(1));
    expect(log.nextLost((iss + 2 * MSS) >>> 0)).toBe(log.at(3));
    // Retransmitting the second clears its mark; a SACK of the fourth does too.
    log.onTransmit((iss + MSS) >>> 0, MSS, 9, MSS);
    expect(log.lostCount).toBe(1);
    expect(log.at(1)!.retransmitted).toBe(true);
    const newly: RackSegment[] = [];
    log.onAck(iss, [(iss + 3 * MSS) >>> 0, (iss + 4 * MSS) >>> 0], false, newly);
    expect(newly).toEqual([log.at(3)!]);
    expect(log.lostCount).toBe(0);
    expect(log.nextLost(iss)).toBeUndefined();
    expect(log.pipe()).toBe(3 * MSS + 10);
  });

  test("a lost segment cumulatively acknowledged leaves the count; walks need no iterator object", () => {
    const log = new SentSegments();
    log.onTransmit(0, 3 * MSS, 0, MSS);
    log.at(0)!.lost = true;
    log.lostCount = 1;
    log.onAck(MSS, [], false, []);
    expect(log.lostCount).toBe(0);
    expect(log.length).toBe(2);
    // The log is its own iterator: two walks in a row see the same segments.
    const a = [...log].map((s) => s.seq);
    const b = [...log].map((s) => s.seq);
    expect(a).toEqual([MSS, 2 * MSS]);
    expect(b).toEqual(a);
    expect(log[Symbol.iterator]()).toBe(log);
  });
});

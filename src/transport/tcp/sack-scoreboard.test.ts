import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DUP_THRESH, isDsack, NextSegKind, SackScoreboard } from "./sack-scoreboard.ts";

const SMSS = 100;

/** A scoreboard that sent `segs` segments of SMSS from `iss`. */
function sent(iss: number, segs: number): SackScoreboard {
  const sb = new SackScoreboard(iss, SMSS);
  sb.update(iss, [], (iss + segs * SMSS) >>> 0);
  return sb;
}

/** Sequence number of segment k (wrap-safe). */
const at = (iss: number, k: number) => (iss + k * SMSS) >>> 0;

describe("RFC 2883 §4 D-SACK detection", () => {
  test("the first block below the cumulative ACK is a D-SACK", () => {
    expect(isDsack(2000, [1500, 1600])).toBe(true);
    expect(isDsack(2000, [1900, 2100])).toBe(true);
    expect(isDsack(2000, [2000, 2100])).toBe(false);
  });

  test("the first block inside the second block is a D-SACK", () => {
    expect(isDsack(1000, [1500, 1600, 1400, 1800])).toBe(true);
    expect(isDsack(1000, [1500, 1600, 1500, 1600])).toBe(true);
    expect(isDsack(1000, [1500, 1600, 1700, 1800])).toBe(false);
    expect(isDsack(1000, [1400, 1800, 1500, 1600])).toBe(false);
  });

  test("no blocks, and comparisons across the 2^32 wrap", () => {
    expect(isDsack(1000, [])).toBe(false);
    expect(isDsack(10, [0xfffffff0, 0])).toBe(true);
    expect(isDsack(0xfffffff0, [0xfffffff8, 8, 0xfffffff4, 16])).toBe(true);
  });
});

describe("SackScoreboard: recording SACKed ranges", () => {
  test("blocks merge into sorted, disjoint ranges; the cumulative ACK trims them", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1300, 1400], 2000);
    sb.update(1000, [1600, 1700, 1300, 1400], 2000);
    expect(sb.ranges()).toEqual([
      [1300, 1400],
      [1600, 1700],
    ]);
    // Touching and overlapping blocks merge.
    const u = sb.update(1000, [1400, 1650], 2000);
    expect(u.newlySacked).toBe(200);
    expect(sb.ranges()).toEqual([[1300, 1700]]);
    expect(sb.sackedBytes).toBe(400);
    // A cumulative ACK into the range keeps only what lies above it.
    const v = sb.update(1500, [], 2000);
    expect(v.cumulative).toBe(true);
    expect(sb.ranges()).toEqual([[1500, 1700]]);
    expect(sb.sackedBytes).toBe(200);
    // RFC 6937 DeliveredData: 500 octets acknowledged, of which 200 were SACKed (delivered) before.
    expect(v.delivered).toBe(300);
  });

  test("malformed blocks are counted and ignored; old blocks are ignored", () => {
    const sb = sent(1000, 10);
    sb.update(1200, [], 2000);
    sb.update(1200, [1500, 1400, 1900, 2100, 1300, 1300], 2000);
    expect(sb.stats.invalidBlocks).toBe(3);
    expect(sb.ranges()).toEqual([]);
    // Wholly below SND.UNA (and not first, so not a D-SACK): no news, no complaint.
    sb.update(1200, [1500, 1600, 1000, 1100], 2000);
    expect(sb.stats.invalidBlocks).toBe(3);
    expect(sb.ranges()).toEqual([[1500, 1600]]);
  });

  test("a D-SACK block is reported and not recorded", () => {
    const sb = sent(1000, 10);
    const u = sb.update(1200, [1100, 1200, 1500, 1600], 2000);
    expect(u.dsack).toBe(true);
    expect([u.dsackStart, u.dsackEnd]).toEqual([1100, 1200]);
    expect(sb.ranges()).toEqual([[1500, 1600]]);
    const v = sb.update(1200, [1550, 1600, 1500, 1600], 2000);
    expect(v.dsack).toBe(true);
    expect(v.newlySacked).toBe(0);
    expect(v.duplicate).toBe(false);
    expect(sb.stats.dsacks).toBe(2);
  });

  test("works across the sequence number wrap", () => {
    const iss = 0xffffff00;
    const sb = sent(iss, 10);
    sb.update(iss, [at(iss, 2), at(iss, 4), at(iss, 5), at(iss, 6)], at(iss, 10));
    expect(sb.ranges()).toEqual([
      [at(iss, 2), at(iss, 4)],
      [at(iss, 5), at(iss, 6)],
    ]);
    expect(at(iss, 4)).toBe(0x100 - 0x100 + 0x90);
    sb.update(at(iss, 3), [], at(iss, 10));
    expect(sb.ranges()).toEqual([
      [at(iss, 3), at(iss, 4)],
      [at(iss, 5), at(iss, 6)],
    ]);
  });
});

describe("SackScoreboard: IsLost and DupThresh (RFC 6675 §4, §5)", () => {
  test("three SACKed segments above, or more than 2·SMSS SACKed octets, make an octet lost", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1100, 1200], 2000);
    expect(sb.isLost(1000)).toBe(false);
    sb.update(1000, [1300, 1400, 1100, 1200], 2000);
    expect(sb.isLost(1000)).toBe(false);
    sb.update(1000, [1500, 1501, 1300, 1400, 1100, 1200], 2000);
    // Three discontiguous SACKed sequences (the third only one octet).
    expect(sb.isLost(1000)).toBe(true);
    expect(sb.isLost(1200)).toBe(false);
    const sb2 = sent(1000, 10);
    sb2.update(1000, [1100, 1301], 2000);
    // 201 octets > (DupThresh − 1)·SMSS = 200, though only ⌈201/100⌉ = 3 segments anyway.
    expect(sb2.isLost(1000)).toBe(true);
    expect(DUP_THRESH).toBe(3);
  });

  test("one segment lost, three later ones SACKed: the third duplicate ACK enters recovery", () => {
    const sb = sent(1000, 10);
    const a = sb.update(1000, [1100, 1200], 2000);
    expect([a.duplicate, a.enterRecovery, sb.dupAcks]).toEqual([true, false, 1]);
    const b = sb.update(1000, [1100, 1300], 2000);
    expect([b.duplicate, b.enterRecovery, sb.dupAcks]).toEqual([true, false, 2]);
    const c = sb.update(1000, [1100, 1400], 2000);
    expect([c.duplicate, c.enterRecovery, sb.dupAcks]).toEqual([true, true, 3]);
    expect(c.delivered).toBe(100);
  });

  test("an ACK SACKing three segments at once enters recovery by IsLost(HighACK + 1) (step 2.b)", () => {
    const sb = sent(1000, 10);
    const u = sb.update(1000, [1100, 1400], 2000);
    expect(sb.dupAcks).toBe(1);
    expect(u.enterRecovery).toBe(true);
  });

  test("an ACK that SACKs nothing new is not a duplicate (RFC 6675 §2)", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1100, 1200], 2000);
    const u = sb.update(1000, [1100, 1200], 2000);
    expect(u.duplicate).toBe(false);
    expect(sb.dupAcks).toBe(1);
  });
});

describe("SackScoreboard: recovery, SetPipe and NextSeg (RFC 6675 §4, §5)", () => {
  test("a single loss: retransmit, new data by rule 2, rescue by rule 4 at the tail", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1100, 1400], 2000);
    const first = sb.enterRecovery();
    expect([first.kind, first.seq, first.len]).toEqual([NextSegKind.Lost, 1000, 100]);
    expect(sb.recoveryPoint).toBe(2000);
    expect(sb.highRxt).toBe(1100);
    expect(sb.rescueRxt).toBe(1100);
    // Pipe: the lost hole counts only as retransmitted (100); [1400, 2000) is not lost (600).
    expect(sb.setPipe()).toBe(700);
    // Nothing lost is left unretransmitted below the highest SACK: rule 2 sends new data.
    let n = sb.nextSeg(true);
    expect([n.kind, n.seq, n.len]).toEqual([NextSegKind.NewData, 2000, 100]);
    sb.markSent(n.kind, n.seq, n.len);
    expect(sb.highData).toBe(2100);
    expect(sb.pipe).toBe(800);
    // Without new data, and RescueRxt not yet passed: nothing.
    expect(sb.nextSeg(false).kind).toBe(NextSegKind.None);
    // The retransmission arrives: cumulative ACK to 1400, still below RecoveryPoint.
    const u = sb.update(1400, [], 2100);
    expect(u.delivered).toBe(100);
    expect(sb.inRecovery).toBe(true);
    // Rule 4: HighACK > RescueRxt, so one rescue segment holding the highest outstanding octet.
    n = sb.nextSeg(false);
    expect([n.kind, n.seq, n.len]).toEqual([NextSegKind.Rescue, 2000, 100]);
    sb.markSent(n.kind, n.seq, n.len);
    expect(sb.rescueRxt).toBe(2000);
    expect(sb.highRxt).toBe(1400);
    expect(sb.nextSeg(false).kind).toBe(NextSegKind.None);
    const end = sb.update(2000, [], 2100);
    expect(end.exitedRecovery).toBe(true);
    expect(sb.inRecovery).toBe(false);
  });

  test("two holes: rule 3 before the second is lost, rule 1 once it is", () => {
    const sb = sent(1000, 10);
    // Segments 1 (1100) and 5 (1500) lost.
    sb.update(1100, [1200, 1500], 2000);
    const first = sb.enterRecovery();
    expect([first.seq, first.len]).toEqual([1100, 100]);
    sb.update(1100, [1600, 1800, 1200, 1500], 2000);
    // Hole [1500, 1600) has only two SACKed segments above: not lost. Rule 2 wins when new data may go.
    expect(sb.isLost(1500)).toBe(false);
    expect(sb.nextSeg(true).kind).toBe(NextSegKind.NewData);
    let n = sb.nextSeg(false);
    expect([n.kind, n.seq, n.len]).toEqual([NextSegKind.Unsacked, 1500, 100]);
    // One more SACKed segment makes it lost: rule 1.
    sb.update(1100, [1600, 1900, 1200, 1500], 2000);
    n = sb.nextSeg(true);
    expect([n.kind, n.seq, n.len]).toEqual([NextSegKind.Lost, 1500, 100]);
    sb.markSent(n.kind, n.seq, n.len);
    expect(sb.highRxt).toBe(1600);
    // Pipe: [1100,1200) lost+rxt = 100, [1500,1600) lost+rxt = 100, [1900,2000) not lost = 100.
    expect(sb.setPipe()).toBe(300);
  });

  test("a hole longer than SMSS is retransmitted one SMSS at a time", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1500, 1800], 2000);
    sb.enterRecovery();
    const n = sb.nextSeg(false);
    expect([n.kind, n.seq, n.len]).toEqual([NextSegKind.Lost, 1100, 100]);
    sb.markSent(n.kind, n.seq, n.len);
    expect(sb.nextSeg(false).seq).toBe(1200);
  });

  test("after an RTO, nextSeg walks every unSACKed hole below RecoveryPoint and pipe counts only resends", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1300, 1500], 2000);
    sb.onRetransmitTimeout();
    expect(sb.isLost(1000)).toBe(true);
    expect(sb.isLost(1900)).toBe(true);
    expect(sb.setPipe()).toBe(0);
    const order: number[] = [];
    for (let n = sb.nextSeg(false); n.kind !== NextSegKind.None; n = sb.nextSeg(false)) {
      expect(n.kind).toBe(NextSegKind.Lost);
      order.push(n.seq);
      sb.markSent(n.kind, n.seq, n.len);
    }
    // SACKed [1300, 1500) is skipped.
    expect(order).toEqual([1000, 1100, 1200, 1500, 1600, 1700, 1800, 1900]);
    expect(sb.setPipe()).toBe(800);
    // New data may follow once the holes are resent.
    expect(sb.nextSeg(true).kind).toBe(NextSegKind.NewData);
    sb.update(2000, [], 2000);
    expect(sb.rtoRecovery).toBe(false);
  });

  test("an RTO ends recovery; no new recovery until HighACK reaches the new RecoveryPoint (§5.1)", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1100, 1400], 2000);
    sb.enterRecovery();
    sb.onRetransmitTimeout();
    expect(sb.inRecovery).toBe(false);
    expect(sb.recoveryPoint).toBe(2000);
    expect(sb.highRxt).toBe(1000);
    // SACK information survives the RTO (used to skip SACKed data), until cleared.
    expect(sb.ranges()).toEqual([[1100, 1400]]);
    const u = sb.update(1000, [1500, 1800, 1100, 1400], 2000);
    expect(u.enterRecovery).toBe(false);
    const v = sb.update(2000, [], 2000);
    expect(v.exitedRecovery).toBe(true);
    sb.clear();
    expect(sb.sackedBytes).toBe(0);
  });

  test("an RTO's RecoveryPoint is SND.MAX at the timeout, not at the last ACK (§5.1 'HighData')", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [], 2000);
    // 2000 more bytes went out after that ACK; all of it is lost.
    sb.onRetransmitTimeout(4000);
    expect(sb.recoveryPoint).toBe(4000);
    // An ACK past the old SND.MAX does not end RTO recovery: [2500, 4000) is still presumed lost.
    expect(sb.update(2500, [], 4000).exitedRecovery).toBe(false);
    expect(sb.rtoRecovery).toBe(true);
    expect(sb.isLost(2500)).toBe(true);
    expect(sb.update(4000, [], 4000).exitedRecovery).toBe(true);
  });

  test("F-RTO helpers: SACKed octets below a sequence number; ending RTO recovery early", () => {
    const sb = sent(1000, 10);
    sb.update(1000, [1200, 1400, 1600, 1700], 2000);
    expect(sb.sackedBelow(1000)).toBe(0);
    expect(sb.sackedBelow(1300)).toBe(100);
    expect(sb.sackedBelow(1650)).toBe(250);
    expect(sb.sackedBelow(2000)).toBe(300);
    sb.onRetransmitTimeout(2000);
    expect(sb.isLost(1500)).toBe(true);
    sb.endRtoRecovery();
    expect(sb.rtoRecovery).toBe(false);
    // Back to RFC 6675's IsLost: 1500 has one SACKed segment above it, not DupThresh.
    expect(sb.isLost(1500)).toBe(false);
    expect(sb.isLost(1000)).toBe(true);
  });
});

/**
 * Model check: random sends, cumulative ACKs, SACK blocks (valid, malformed,
 * D-SACK) and retransmissions, against an octet-by-octet model of the RFC's
 * definitions, from an ISS anywhere in sequence space (often just before the wrap).
 */
describe("SackScoreboard properties (fast-check)", () => {
  /** A small SMSS keeps the octet-by-octet model cheap. */
  const MSS = 10;
  type Op =
    | { t: "send"; segs: number }
    | { t: "ack"; segs: number; blocks: [number, number][] }
    | { t: "recover" }
    | { t: "rto" }
    | { t: "next"; newData: boolean };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant("send" as const), segs: fc.integer({ min: 1, max: 8 }) }),
    fc.record({
      t: fc.constant("ack" as const),
      segs: fc.integer({ min: 0, max: 3 }),
      // Offsets in octets relative to SND.UNA, some before it and some past SND.MAX.
      blocks: fc.array(fc.tuple(fc.integer({ min: -30, max: 350 }), fc.integer({ min: -30, max: 350 })), {
        maxLength: 4,
      }),
    }),
    fc.record({ t: fc.constant("recover" as const) }),
    fc.record({ t: fc.constant("rto" as const) }),
    fc.record({ t: fc.constant("next" as const), newData: fc.boolean() }),
  );

  const issArb = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0xfffffe00, max: 0xffffffff }),
  );

  test("ranges stay sorted, disjoint, above SND.UNA and within SND.MAX; counters, IsLost and pipe match the model", () => {
    fc.assert(
      fc.property(issArb, fc.array(opArb, { maxLength: 60 }), (iss, ops) => {
        const sb = new SackScoreboard(iss, MSS);
        const off = (q: number) => (q - iss) >>> 0;
        const seq = (o: number) => (iss + o) >>> 0;
        let una = 0;
        let max = 0;
        // RTO recovery: every unSACKed octet below `rp` is lost until SND.UNA reaches it.
        let rto = false;
        let rp = 0;
        const sacked = new Uint8Array(8_000);
        const count = (from: number) => {
          let n = 0;
          for (let x = from; x < max; x++) n += sacked[x]!;
          return n;
        };
        /** IsLost for every octet in [una, max), from the top down with running sums. */
        const modelLost = () => {
          const lost = new Uint8Array(max);
          let bytes = 0;
          let segs = 0;
          let run = 0;
          for (let x = max - 1; x >= una; x--) {
            lost[x] =
              (rto && x < rp) || segs + Math.ceil(run / MSS) >= DUP_THRESH || bytes > (DUP_THRESH - 1) * MSS
                ? 1
                : 0;
            if (sacked[x]) {
              bytes++;
              run++;
            } else if (run > 0) {
              segs += Math.ceil(run / MSS);
              run = 0;
            }
          }
          return lost;
        };
        for (const op of ops) {
          if (op.t === "send") {
            max += op.segs * MSS;
            sb.update(seq(una), [], seq(max));
          } else if (op.t === "ack") {
            const oldUna = una;
            const ack = Math.min(max, una + op.segs * MSS);
            const blocks: number[] = [];
            for (const [a, b] of op.blocks) blocks.push(seq(oldUna + a), seq(oldUna + b));
            const before = count(oldUna);
            const u = sb.update(seq(ack), blocks, seq(max));
            una = ack;
            for (let i = isDsack(seq(ack), blocks) ? 1 : 0; i < op.blocks.length; i++) {
              const s = oldUna + op.blocks[i]![0];
              const e = oldUna + op.blocks[i]![1];
              if (!(s < e) || e > max) continue;
              for (let x = Math.max(s, una); x < e; x++) sacked[x] = 1;
            }
            expect(u.delivered).toBe(ack - oldUna + count(una) - before);
            if (rto && una >= rp) rto = false;
            expect(u.cumulative).toBe(ack !== oldUna);
          } else if (op.t === "recover") {
            if (!sb.inRecovery && una < max) {
              sb.enterRecovery();
              rto = false;
            }
          } else if (op.t === "rto") {
            if (una < max) {
              sb.onRetransmitTimeout();
              rto = true;
              rp = max;
            }
          } else {
            const n = sb.nextSeg(op.newData);
            if (n.kind !== NextSegKind.None) {
              const o = off(n.seq);
              expect(n.len).toBeGreaterThan(0);
              if (n.kind === NextSegKind.NewData) {
                expect(o).toBe(max);
                max += n.len;
              } else {
                // Retransmissions cover unSACKed octets between SND.UNA and SND.MAX.
                for (let x = o; x < o + n.len; x++) {
                  expect(sacked[x]).toBe(0);
                  expect(x).toBeLessThan(max);
                  expect(x).toBeGreaterThanOrEqual(una);
                }
                if (n.kind === NextSegKind.Lost) expect(modelLost()[o]).toBe(1);
                if (n.kind === NextSegKind.Unsacked) expect(modelLost()[o]).toBe(0);
              }
              sb.markSent(n.kind, n.seq, n.len);
            }
          }
          // Invariants: sorted, disjoint, non-adjacent, strictly above SND.UNA, within SND.MAX.
          const r = sb.ranges().map(([s, e]) => [off(s), off(e)] as [number, number]);
          let total = 0;
          let prevEnd = -1;
          for (const [s, e] of r) {
            expect(s).toBeGreaterThan(prevEnd);
            expect(s).toBeGreaterThanOrEqual(una);
            expect(s).toBeLessThan(e);
            expect(e).toBeLessThanOrEqual(max);
            total += e - s;
            prevEnd = e;
          }
          expect(sb.sackedBytes).toBe(total);
          // The same SACKed octets as the model.
          const fromModel: [number, number][] = [];
          for (let x = una; x < max; x++) {
            if (!sacked[x]) continue;
            const last = fromModel[fromModel.length - 1];
            if (last && last[1] === x) last[1] = x + 1;
            else fromModel.push([x, x + 1]);
          }
          expect(r).toEqual(fromModel);
          // IsLost and SetPipe octet by octet (RFC 6675 §4).
          const lost = modelLost();
          const rxt = off(sb.highRxt);
          let pipe = 0;
          for (let x = una; x < max; x++) {
            if (sacked[x]) continue;
            if (!lost[x]) pipe++;
            if (x < rxt) pipe++;
          }
          for (let x = una; x < max; x += 7) expect(sb.isLost(seq(x))).toBe(lost[x] === 1);
          expect(sb.setPipe()).toBe(pipe);
          expect(sb.rtoRecovery).toBe(rto);
        }
      }),
      { numRuns: 300, seed: 6675 },
    );
  });
});

/**
 * The sender's SACK scoreboard and conservative loss recovery of RFC 6675,
 * with D-SACK detection (RFC 2883 §4).
 *
 * Read RFC 6675 §2–§5 first. The RFC numbers octets inclusively ("HighACK is
 * the highest octet cumulatively acknowledged", so the first unacknowledged
 * one is HighACK + 1); this file uses TCP's half-open convention throughout:
 *
 *   RFC 6675                  here
 *   HighACK + 1               `highAck`  (= SND.UNA, the first unacknowledged octet)
 *   HighData + 1              `highData` (= SND.MAX, one past the highest octet sent)
 *   HighRxt + 1               `highRxt`  (one past the highest octet retransmitted)
 *   RescueRxt + 1             `rescueRxt`
 *   RecoveryPoint + 1         `recoveryPoint`
 *
 * so "S > HighRxt" reads `S ≥ highRxt`, and a SACK block [left, right) is
 * used as RFC 2018 §3 writes it. Sequence numbers are compared modulo 2^32
 * (src/seqnum).
 *
 * The scoreboard keeps SACKed ranges as a flat array `[s0, e0, s1, e1, ...]`,
 * sorted, disjoint, non-adjacent (touching ranges are merged), and strictly
 * inside (highAck, highData]. A SACK option holds at most four blocks
 * (RFC 2018 §3) and ranges merge as holes fill, so the array stays short.
 *
 * "DupThresh discontiguous SACKed sequences" (RFC 6675 §4 IsLost) is counted
 * in segments: a SACKed range of n octets counts ⌈n / SMSS⌉ segments, so three
 * SMSS-sized SACKed segments above a hole make it lost, as do more than
 * (DupThresh − 1)·SMSS SACKed octets.
 *
 * What the sender does with it (RFC 6675 §5), in order, per ACK:
 *   1. `update(SEG.ACK, blocks, SND.MAX)` → `delivered` (for PRR), `dsack`,
 *      `enterRecovery` (steps 2.a/2.b: DupAcks ≥ DupThresh or IsLost(HighACK + 1)),
 *      `exitedRecovery` (HighACK passed RecoveryPoint);
 *   2. on `enterRecovery`: the congestion controller's reduction, then
 *      `enterRecovery()` → the first segment to retransmit (step 4.3), send it;
 *   3. in recovery: `setPipe()`, then while cwnd − pipe ≥ SMSS (or PRR's
 *      sndcnt allows): `nextSeg(canSendNew)`, send what it names, `markSent()`;
 *   4. on an RTO: `onRetransmitTimeout()`, then the same `nextSeg` /
 *      `markSent` loop with cwnd − `setPipe()` as the budget resends the holes
 *      (instead of rewinding SND.NXT over SACKed data).
 * `SackSender` in src/link/netsim/model-sender.test.ts is a complete worked
 * example of this loop with PRR, over the network simulator.
 *
 * In snd.ts terms: `processAck` calls `update` for every ACK when SACK was
 * negotiated (duplicate or not); `onDupAck`'s third-duplicate test becomes
 * `enterRecovery`; the partial-ACK `retransmitFirst` becomes the `nextSeg`
 * loop (sending needs "retransmit `len` octets at `seq`", an offset into the
 * send buffer, not only at SND.UNA); `trySend` compares cwnd with `pipe`
 * rather than SND.NXT − SND.UNA while recovering.
 */
import {
  inRange,
  seqGreaterThan,
  seqGreaterThanEq,
  seqLessThan,
  seqLessThanEq,
  seqMax,
  seqSize,
} from "../../seqnum/seqnum.ts";

/** RFC 6675 §2 "DupThresh": "The number of duplicate acknowledgments required to trigger a fast retransmission". */
export const DUP_THRESH = 3;

/** What `nextSeg` chose (RFC 6675 §4 NextSeg rules). */
export const NextSegKind = {
  /** Nothing may be sent now. */
  None: 0,
  /** Rule 1: a hole presumed lost. */
  Lost: 1,
  /** Rule 2: new data from `highData`. */
  NewData: 2,
  /** Rule 3: a hole not (yet) presumed lost. */
  Unsacked: 3,
  /** Rule 4: the rescue retransmission of the highest outstanding octets. */
  Rescue: 4,
} as const;
export type NextSegKind = (typeof NextSegKind)[keyof typeof NextSegKind];

/** A segment chosen by `nextSeg`: `len` octets from `seq`. Reused between calls (no allocation per ACK). */
export interface NextSeg {
  kind: NextSegKind;
  seq: number;
  len: number;
}

/** What one ACK did to the scoreboard. Reused between calls. */
export interface SackUpdate {
  /** RFC 6937 "DeliveredData": octets newly cumulatively acknowledged plus newly SACKed ones. */
  delivered: number;
  /** Octets newly SACKed by this ACK (above the cumulative ACK). */
  newlySacked: number;
  /** Whether SND.UNA advanced. */
  cumulative: boolean;
  /** RFC 2883 §4: the first block reports a duplicate segment. */
  dsack: boolean;
  /** The D-SACK range (valid when `dsack`). */
  dsackStart: number;
  dsackEnd: number;
  /** RFC 6675 §2: a "duplicate acknowledgment" (it SACKs octets not SACKed before). */
  duplicate: boolean;
  /** RFC 6675 §5 steps (2.a)/(2.b): the sender should enter loss recovery now (step 4). */
  enterRecovery: boolean;
  /** HighACK reached RecoveryPoint: loss recovery (or the RTO recovery window) is over. */
  exitedRecovery: boolean;
}

/**
 * RFC 2883 §4: whether the first SACK block of an ACK is a D-SACK: "If the
 * first SACK block reports data below the cumulative acknowledgement", or it
 * lies within the second block ("the first SACK block ... is a subset of the
 * second"). `blocks` is flat `[left, right, ...]` as the TCP option parser
 * gives it.
 */
export function isDsack(ack: number, blocks: readonly number[]): boolean {
  if (blocks.length < 2) return false;
  const s = blocks[0]!;
  const e = blocks[1]!;
  if (seqLessThan(s, ack)) return true;
  if (blocks.length < 4) return false;
  const s2 = blocks[2]!;
  const e2 = blocks[3]!;
  return seqLessThanEq(s2, s) && seqLessThanEq(e, e2) && seqLessThan(s, e);
}

export class SackScoreboard {
  /** SND.UNA. */
  highAck: number;
  /** SND.MAX. */
  highData: number;
  /** One past the highest octet retransmitted by rules 1 and 3 (RFC 6675 §4 HighRxt). */
  highRxt: number;
  /** One past the octets of the rescue retransmission, or undefined (RFC 6675 §4 RescueRxt). */
  rescueRxt: number | undefined;
  /** SND.MAX when recovery began (RFC 6675 §5 step 4.1), or when an RTO fired (§5.1). */
  recoveryPoint: number;
  /** In SACK-based loss recovery (RFC 6675 §5 step 4 to its end). */
  inRecovery = false;
  /** After an RTO: no new recovery until HighACK reaches `recoveryPoint` (RFC 6675 §5.1). */
  rtoRecovery = false;
  /** RFC 6675 §5 "DupAcks". */
  dupAcks = 0;
  /** RFC 6675 §4 "pipe", as last computed by `setPipe` and counted up by `markSent`. */
  pipe = 0;
  /** Octets SACKed above `highAck`. */
  sackedBytes = 0;

  readonly stats = {
    /** SACK blocks ignored as invalid: empty, reversed, or outside (SND.UNA, SND.MAX]. */
    invalidBlocks: 0,
    /** ACKs whose first block was a D-SACK. */
    dsacks: 0,
  };

  /** Sorted, disjoint, non-adjacent SACKed ranges, flat `[start, end, ...]`. */
  private r: number[] = [];
  private readonly upd: SackUpdate = {
    delivered: 0,
    newlySacked: 0,
    cumulative: false,
    dsack: false,
    dsackStart: 0,
    dsackEnd: 0,
    duplicate: false,
    enterRecovery: false,
    exitedRecovery: false,
  };
  private readonly seg: NextSeg = { kind: NextSegKind.None, seq: 0, len: 0 };

  constructor(
    iss: number,
    public smss: number,
    readonly dupThresh = DUP_THRESH,
  ) {
    const una = iss >>> 0;
    this.highAck = una;
    this.highData = una;
    this.highRxt = una;
    this.recoveryPoint = una;
  }

  /** The SACKed ranges as `[start, end]` pairs, lowest first (a copy, for tests and diagnostics). */
  ranges(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.r.length; i += 2) out.push([this.r[i]!, this.r[i + 1]!]);
    return out;
  }

  /** Whether octet `seq` was SACKed. */
  isSacked(seq: number): boolean {
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) if (inRange(seq, r[i]!, r[i + 1]!)) return true;
    return false;
  }

  /** One past the highest SACKed octet, or `highAck` when nothing is SACKed. */
  get highestSacked(): number {
    return this.r.length === 0 ? this.highAck : this.r[this.r.length - 1]!;
  }

  /**
   * RFC 6675 §4 "Update()" for one ACK: `ack` is SEG.ACK, `blocks` its SACK
   * blocks (flat), `highData` the current SND.MAX. Invalid blocks are counted
   * and ignored, never thrown. The result object is reused by the next call.
   */
  update(ack: number, blocks: readonly number[], highData: number): SackUpdate {
    const u = this.upd;
    u.delivered = 0;
    u.newlySacked = 0;
    u.cumulative = false;
    u.dsack = false;
    u.duplicate = false;
    u.enterRecovery = false;
    u.exitedRecovery = false;
    if (seqGreaterThan(highData, this.highData)) this.highData = highData >>> 0;
    const sackedBefore = this.sackedBytes;

    if (seqGreaterThan(ack, this.highAck) && seqLessThanEq(ack, this.highData)) {
      u.delivered += seqSize(this.highAck, ack);
      this.highAck = ack >>> 0;
      u.cumulative = true;
      this.trimBelow(this.highAck);
      if (seqLessThan(this.highRxt, this.highAck)) this.highRxt = this.highAck;
    }

    let first = 0;
    if (isDsack(ack, blocks)) {
      // RFC 2883 §4: the first block reports a duplicate; it is not new SACK information.
      u.dsack = true;
      u.dsackStart = blocks[0]!;
      u.dsackEnd = blocks[1]!;
      this.stats.dsacks++;
      first = 2;
    }
    for (let i = first; i + 1 < blocks.length; i += 2) {
      let s = blocks[i]! >>> 0;
      const e = blocks[i + 1]! >>> 0;
      // RFC 2018 §3 blocks are [left, right). An empty or reversed block, or one reaching past what was
      // sent, is malformed: counted and ignored. One wholly at or below SND.UNA is old news.
      if (!seqLessThan(s, e) || seqGreaterThan(e, this.highData)) {
        this.stats.invalidBlocks++;
        continue;
      }
      if (seqLessThanEq(e, this.highAck)) continue;
      if (seqLessThan(s, this.highAck)) s = this.highAck;
      u.newlySacked += this.insert(s, e);
    }
    // RFC 6937 §3: "DeliveredData = change_in(snd.una) + change_in(SACKd)". Octets SACKed earlier and
    // now covered by the cumulative ACK leave the SACKed count as they join snd.una: they count once.
    u.delivered += this.sackedBytes - sackedBefore;

    // RFC 6675 §2: a duplicate acknowledgment SACKs "previously unacknowledged and un-SACKed octets
    // between HighACK and HighData".
    u.duplicate = u.newlySacked > 0;
    if (u.cumulative) {
      // RFC 6675 §5 (1): "If the incoming ACK is a cumulative acknowledgment, the TCP MUST reset DupAcks to zero."
      this.dupAcks = 0;
    }
    if (this.inRecovery || this.rtoRecovery) {
      if (seqGreaterThanEq(this.highAck, this.recoveryPoint)) {
        // RFC 6675 §5: loss recovery ends once the cumulative ACK covers RecoveryPoint; §5.1 likewise for
        // the window after an RTO.
        this.inRecovery = false;
        this.rtoRecovery = false;
        this.rescueRxt = undefined;
        u.exitedRecovery = true;
      }
    } else if (u.duplicate) {
      // RFC 6675 §5 (2): "If the incoming ACK is a duplicate acknowledgment ... and the TCP is not
      // currently in loss recovery, the TCP MUST increase DupAcks by one": (2.a) DupAcks ≥ DupThresh,
      // or (2.b) IsLost(HighACK + 1), enters recovery.
      this.dupAcks++;
      if (this.dupAcks >= this.dupThresh || this.isLost(this.highAck)) u.enterRecovery = true;
    }
    return u;
  }

  /**
   * RFC 6675 §4 "IsLost (SeqNum)": true when DupThresh SACKed segments, or
   * more than (DupThresh − 1)·SMSS SACKed octets, lie above `seq`.
   */
  isLost(seq: number): boolean {
    // After an RTO every unSACKed octet sent before it is presumed lost (see `onRetransmitTimeout`).
    if (this.rtoRecovery && seqLessThan(seq, this.recoveryPoint)) return true;
    const r = this.r;
    let bytes = 0;
    let segs = 0;
    const limit = (this.dupThresh - 1) * this.smss;
    for (let i = r.length - 2; i >= 0; i -= 2) {
      const s = r[i]!;
      const e = r[i + 1]!;
      if (seqLessThanEq(e, seq)) break;
      const from = seqGreaterThan(s, seq) ? s : (seq + 1) >>> 0;
      const n = seqSize(from, e);
      bytes += n;
      segs += Math.ceil(n / this.smss);
      if (segs >= this.dupThresh || bytes > limit) return true;
    }
    return false;
  }

  /**
   * RFC 6675 §4 "SetPipe ()": octets presumed in the network. For each
   * unSACKed octet in [HighACK, HighData): one if not IsLost, plus one if it
   * was retransmitted (below HighRxt). Within a hole the SACKed data above is
   * the same for every octet, so IsLost is decided once per hole.
   */
  setPipe(): number {
    const r = this.r;
    let pipe = 0;
    // Walk the holes from the top so the SACKed octets and segments above each are running sums.
    let bytesAbove = 0;
    let segsAbove = 0;
    const limit = (this.dupThresh - 1) * this.smss;
    let holeEnd = this.highData;
    for (let i = r.length; i >= 0; i -= 2) {
      const holeStart = i === 0 ? this.highAck : r[i - 1]!;
      if (seqLessThan(holeStart, holeEnd)) {
        const lost = segsAbove >= this.dupThresh || bytesAbove > limit;
        // In RTO recovery the part of the hole below RecoveryPoint is lost whatever lies above it.
        const from =
          this.rtoRecovery && seqLessThan(holeStart, this.recoveryPoint) ? this.recoveryPoint : holeStart;
        if (!lost && seqLessThan(from, holeEnd)) pipe += seqSize(from, holeEnd);
        if (seqGreaterThan(this.highRxt, holeStart)) {
          pipe += seqSize(holeStart, seqLessThan(this.highRxt, holeEnd) ? this.highRxt : holeEnd);
        }
      }
      if (i === 0) break;
      const s = r[i - 2]!;
      const n = seqSize(s, r[i - 1]!);
      bytesAbove += n;
      segsAbove += Math.ceil(n / this.smss);
      holeEnd = s;
    }
    this.pipe = pipe;
    return pipe;
  }

  /**
   * RFC 6675 §5 step (4): enter loss recovery. Sets RecoveryPoint = HighData
   * and returns the first segment to retransmit (step 4.3, "the segment
   * starting with sequence number HighACK + 1"); "set both HighRxt and
   * RescueRxt to the highest sequence number in the retransmitted segment".
   * The caller reduces the window first (step 4.2), sends the segment, and
   * counts it with `markSent`; pipe is recomputed by `setPipe` (step 4.4).
   */
  enterRecovery(): NextSeg {
    this.inRecovery = true;
    this.rtoRecovery = false;
    this.recoveryPoint = this.highData;
    const seg = this.seg;
    const r = this.r;
    // The first unSACKed octet is HighACK + 1 (RFC numbering), unless a (bogus) block starts right there.
    const skip = r.length > 0 && r[0] === this.highAck;
    const start = skip ? r[1]! : this.highAck;
    const holeEnd = skip ? (r[2] ?? this.highData) : (r[0] ?? this.highData);
    seg.kind = NextSegKind.Lost;
    seg.seq = start;
    seg.len = Math.min(this.smss, seqSize(start, holeEnd));
    this.highRxt = (start + seg.len) >>> 0;
    this.rescueRxt = this.highRxt;
    return seg;
  }

  /**
   * RFC 6675 §4 "NextSeg ()": what to send next. `newDataAllowed` tells rule 2
   * whether unsent data exists and the receive window allows it; `len` is then
   * the SMSS (the caller trims to what it has). Pure: the state changes only
   * when the caller sends the segment and calls `markSent`. The result object
   * is reused by the next call.
   */
  nextSeg(newDataAllowed: boolean): NextSeg {
    const seg = this.seg;
    const r = this.r;
    const top = this.highestSacked;
    // Rules (1) and (3) look at the same holes: unSACKed octets S with S > HighRxt ("≥ highRxt" here)
    // and S below the highest SACKed octet. Rule (1) takes the first such octet that IsLost; rule (3)
    // the first one at all.
    let firstUnsacked = -1;
    let firstUnsackedEnd = 0;
    // Holes from the bottom: [highAck, r0), [r1, r2), ..., and the top one [r_last, highData), all cut
    // at the highest SACKed octet — or, in RTO recovery, at RecoveryPoint if that is higher, so the
    // holes an RTO left behind are walked too.
    const limit = this.rtoRecovery ? seqMax(top, this.recoveryPoint) : top;
    for (let i = 0; i <= r.length; i += 2) {
      const holeStart = i === 0 ? this.highAck : r[i - 1]!;
      let holeEnd = i < r.length ? r[i]! : this.highData;
      if (seqGreaterThan(holeEnd, limit)) holeEnd = limit;
      if (!seqLessThan(holeStart, holeEnd)) continue;
      const s = seqMax(holeStart, this.highRxt);
      if (!seqLessThan(s, holeEnd)) continue;
      if (this.isLost(s)) {
        // Rule (1).
        seg.kind = NextSegKind.Lost;
        seg.seq = s;
        seg.len = Math.min(this.smss, seqSize(s, holeEnd));
        return seg;
      }
      if (firstUnsacked === -1) {
        firstUnsacked = s;
        firstUnsackedEnd = holeEnd;
      }
    }
    if (newDataAllowed) {
      // Rule (2): "the sequence range of one segment of up to SMSS octets of previously unsent data
      // starting with sequence number HighData+1 MUST be returned."
      seg.kind = NextSegKind.NewData;
      seg.seq = this.highData;
      seg.len = this.smss;
      return seg;
    }
    if (firstUnsacked !== -1) {
      // Rule (3).
      seg.kind = NextSegKind.Unsacked;
      seg.seq = firstUnsacked;
      seg.len = Math.min(this.smss, seqSize(firstUnsacked, firstUnsackedEnd));
      return seg;
    }
    // Rule (4): "(4.a) the loss recovery phase is in progress, and (4.b) HighACK > RescueRxt (or RescueRxt
    // is undefined)": one segment that "MUST include the highest outstanding unSACKed sequence number".
    if (this.inRecovery && (this.rescueRxt === undefined || seqGreaterThan(this.highAck, this.rescueRxt))) {
      const end = seqLessThan(top, this.highData) ? this.highData : this.highestHoleEnd();
      if (end !== undefined) {
        const start = this.holeStartBelow(end);
        const len = Math.min(this.smss, seqSize(start, end));
        if (len > 0) {
          seg.kind = NextSegKind.Rescue;
          seg.seq = (end - len) >>> 0;
          seg.len = len;
          return seg;
        }
      }
    }
    seg.kind = NextSegKind.None;
    seg.seq = this.highData;
    seg.len = 0;
    return seg;
  }

  /**
   * RFC 6675 §5 (C.2)–(C.4): the caller sent `len` octets from `seq` as
   * `kind` (from `nextSeg`, or `enterRecovery` for the first retransmission,
   * already recorded). Retransmissions below HighData raise HighRxt (rule 4's
   * rescue sets RescueRxt = RecoveryPoint instead); new data raises HighData;
   * pipe grows by `len`.
   */
  markSent(kind: NextSegKind, seq: number, len: number): void {
    const end = (seq + len) >>> 0;
    if (kind === NextSegKind.Rescue) {
      this.rescueRxt = this.recoveryPoint;
    } else if (kind === NextSegKind.Lost || kind === NextSegKind.Unsacked) {
      if (seqGreaterThan(end, this.highRxt)) this.highRxt = end;
    }
    if (seqGreaterThan(end, this.highData)) this.highData = end;
    this.pipe += len;
  }

  /**
   * RFC 6675 §5.1: an RTO. "RecoveryPoint MUST be set to HighData", loss
   * recovery ends, and no new one starts until HighACK reaches RecoveryPoint.
   * The SACK information is kept (§5.1: Update() goes on, so "the RTO recovery
   * phase [can] take advantage of the information provided in the SACK
   * blocks, to avoid unnecessary retransmissions"); `clear()` discards it when
   * the receiver may have reneged. HighRxt goes back to HighACK.
   *
   * Until HighACK reaches RecoveryPoint every unSACKed octet below it counts
   * as lost (RFC 5681 §3.1: after a timeout the sender resends from SND.UNA):
   * `isLost` says so, `setPipe` counts only what was resent since, and
   * `nextSeg` rule 1 walks those holes in order — the sender drives its
   * go-back-N that skips SACKed data with `nextSeg` and `markSent` as in
   * fast recovery, with cwnd − pipe as the budget.
   */
  onRetransmitTimeout(highData?: number): void {
    // HighData is SND.MAX now: data sent since the last ACK (whose `update` last set it) counts too.
    if (highData !== undefined && seqGreaterThan(highData, this.highData)) this.highData = highData >>> 0;
    this.recoveryPoint = this.highData;
    this.inRecovery = false;
    this.rtoRecovery = true;
    this.rescueRxt = undefined;
    this.dupAcks = 0;
    this.highRxt = this.highAck;
  }

  /**
   * The RTO recovery ends early: F-RTO (RFC 5682 step 3b) found the timeout spurious, so the data sent
   * before it is no longer presumed lost and a new recovery may start (RFC 6675 §5 rules again).
   */
  endRtoRecovery(): void {
    this.rtoRecovery = false;
    this.rescueRxt = undefined;
    if (seqLessThan(this.highRxt, this.highAck)) this.highRxt = this.highAck;
  }

  /** Octets SACKed below `seq` (F-RTO, RFC 5682 §3 step 3b: newly SACKed data sent before the timeout). */
  sackedBelow(seq: number): number {
    const r = this.r;
    let n = 0;
    for (let i = 0; i + 1 < r.length; i += 2) {
      const s = r[i]!;
      if (!seqLessThan(s, seq)) break;
      const e = r[i + 1]!;
      n += seqSize(s, seqLessThan(e, seq) ? e : seq);
    }
    return n;
  }

  /** Forgets every SACKed range (RFC 2018 §8: after a timeout the receiver may have discarded SACKed data). */
  clear(): void {
    this.r.length = 0;
    this.sackedBytes = 0;
  }

  /** Drops SACK information at or below `una` (now cumulatively acknowledged). */
  private trimBelow(una: number): void {
    const r = this.r;
    let i = 0;
    let removed = 0;
    while (i < r.length && seqLessThanEq(r[i + 1]!, una)) {
      removed += seqSize(r[i]!, r[i + 1]!);
      i += 2;
    }
    if (i < r.length && seqLessThan(r[i]!, una)) {
      removed += seqSize(r[i]!, una);
      r[i] = una;
    }
    if (i > 0) r.splice(0, i);
    this.sackedBytes -= removed;
  }

  /** Adds [s, e) to the ranges, merging overlaps and neighbours; returns the octets newly covered. */
  private insert(s: number, e: number): number {
    const r = this.r;
    // First range whose end reaches s (ranges ending before s stay untouched).
    let i = 0;
    while (i < r.length && seqLessThan(r[i + 1]!, s)) i += 2;
    // Ranges from i to j-2 overlap or touch [s, e).
    let j = i;
    let covered = 0;
    let ns = s;
    let ne = e;
    while (j < r.length && seqLessThanEq(r[j]!, e)) {
      const rs = r[j]!;
      const re = r[j + 1]!;
      // Octets of [s, e) already inside this range.
      const os = seqMax(rs, s);
      const oe = seqLessThan(re, e) ? re : e;
      if (seqLessThan(os, oe)) covered += seqSize(os, oe);
      if (seqLessThan(rs, ns)) ns = rs;
      if (seqGreaterThan(re, ne)) ne = re;
      j += 2;
    }
    const added = seqSize(s, e) - covered;
    if (j === i) r.splice(i, 0, ns, ne);
    else {
      r[i] = ns;
      r[i + 1] = ne;
      if (j > i + 2) r.splice(i + 2, j - i - 2);
    }
    this.sackedBytes += added;
    return added;
  }

  /** The end of the highest hole below the highest SACKed octet (for the rescue), or undefined. */
  private highestHoleEnd(): number | undefined {
    const r = this.r;
    for (let i = r.length - 2; i >= 0; i -= 2) {
      const holeStart = i === 0 ? this.highAck : r[i - 1]!;
      if (seqLessThan(holeStart, r[i]!)) return r[i]!;
    }
    return undefined;
  }

  /** The start of the hole that ends at `end`. */
  private holeStartBelow(end: number): number {
    const r = this.r;
    for (let i = r.length - 1; i >= 1; i -= 2) {
      if (seqLessThanEq(r[i]!, end)) return r[i]!;
    }
    return this.highAck;
  }
}

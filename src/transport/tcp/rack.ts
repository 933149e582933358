/**
 * RACK-TLP loss detection (RFC 8985): RACK infers losses from the send
 * times of what was acknowledged ("a segment sent before one that was
 * delivered, and older than the RTT plus a reordering window, is lost"), and
 * TLP sends one probe two SRTTs after the last transmission so a lost tail
 * turns into ACK feedback instead of an RTO.
 *
 * Read RFC 8985 §6 (RACK) and §7 (TLP) first. Both parts are pure state
 * objects: the sender owns the segments, the timers and the transmissions,
 * and tells these objects what happened. Times are milliseconds on the
 * sender's clock. Sequence comparisons are modulo 2^32 (src/seqnum).
 *
 * Wiring in the sender, per ACK (RFC 8985 §6.2 "Upon receiving an ACK"):
 *   1. RTT sample (if any, Karn-safe) → `rack.onRttSample(rtt, now)` and
 *      `tlp.onRttSample()`;
 *   2. fill a `RackAck` with the segments this ACK newly acknowledged
 *      (cumulatively or by SACK) and call `rack.onAck(ack)` (steps 2–4);
 *   3. `timeout = rack.detectLoss(outstanding, now)` (step 5): segments now
 *      flagged `lost` are to be retransmitted as the congestion window (or
 *      PRR) allows; a non-zero `timeout` arms the RACK reordering timer,
 *      whose expiry calls `detectLoss` again;
 *   4. `tlp.processAck(...)` (§7.4.2) tells whether a probe repaired a loss
 *      (then the congestion controller reacts as to a loss);
 *   5. re-arm the PTO (`tlp.canSchedule` / `tlp.pto`, §7.2) or the RTO.
 * On each retransmission the sender sets `xmitTs = now`,
 * `retransmitted = true`, `lost = false` on the segment.
 *
 * `SentSegments` is that per-segment record for a sender whose send buffer
 * is a byte stream (src/transport/tcp/snd.ts): it logs every transmission
 * (`onTransmit`), turns each ACK into the list of newly delivered segments
 * (`onAck`), and is the `outstanding` list RACK walks. The TCP sender wires
 * all of this in recovery.ts (`noteTransmit`, `sackOnAck`, `sackAfterAck`);
 * `Sender` in src/link/netsim/model-sender.test.ts is a smaller worked example
 * (RACK-TLP with PRR and CUBIC over the network simulator).
 *
 * With RFC 7323 timestamps, `RackAck.echoedXmitTs` is the send time of the
 * echoed segment on the `now` clock: `now − (TS clock now − TSecr)` when the
 * two clocks tick in milliseconds.
 */
import {
  seqGreaterThan,
  seqGreaterThanEq,
  seqLessThan,
  seqLessThanEq,
  seqMax,
  seqMin,
  seqSize,
} from "../../seqnum/seqnum.ts";

/** RFC 8985 §5.2 "INFINITE_TS": the send time of a segment marked lost, so it is not marked twice. */
export const INFINITE_TS = Number.POSITIVE_INFINITY;

/** RFC 8985 §7.2 "WCDelAckT": the worst-case delayed ACK timer, 200 ms. */
export const TLP_MAX_ACK_DELAY_MS = 200;

/** RFC 8985 §6.2 (Step 4) and RFC 6675: DupThresh. */
const DUP_THRESH = 3;

/** RFC 8985 §6.2 Step 4: "Reset the window after 16 DSACK-free recoveries". */
const REO_WND_PERSIST = 16;

/** The per-segment state RACK reads and writes (RFC 8985 §5.2 "Per-Segment Variables"). */
export interface RackSegment {
  /** "Segment.end_seq": one past the segment's last sequence number. */
  readonly endSeq: number;
  /** "Segment.xmit_ts": when it was last (re)transmitted; `INFINITE_TS` once marked lost. */
  xmitTs: number;
  /** "Segment.retransmitted": whether it was ever retransmitted. */
  retransmitted: boolean;
  /** "Segment.lost": marked lost and not yet retransmitted. */
  lost: boolean;
  /** Selectively acknowledged (SACKed segments stay in the sender's list until cumulatively acknowledged). */
  sacked: boolean;
}

/** What one ACK tells RACK. A sender can keep one object and refill it per ACK. */
export interface RackAck {
  now: number;
  /** Segments this ACK newly acknowledged, cumulatively or selectively (any order). */
  newlyAcked: Iterable<RackSegment>;
  /**
   * With timestamps (RFC 7323): the send time, on the same clock as `xmitTs`, of the segment whose
   * TSval this ACK's TSecr echoes; undefined without timestamps.
   */
  echoedXmitTs?: number | undefined;
  /** The ACK carried a D-SACK block (RFC 2883). */
  dsack: boolean;
  sndUna: number;
  sndNxt: number;
  /** In fast recovery or RTO recovery. */
  inRecovery: boolean;
  /** This ACK ends fast recovery or RTO recovery. */
  exitingRecovery: boolean;
  /** Segments currently SACKed ("RACK.segs_sacked"). */
  segsSacked: number;
  /** The connection's smoothed RTT (RFC 6298), ms. */
  srtt: number;
}

/** RFC 8985 §6.2: "RACK_sent_after(t1, seq1, t2, seq2)": sent later, or at the same time with a higher end. */
export function rackSentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGreaterThan(seq1, seq2));
}

/** RACK's connection state (RFC 8985 §5.3 "Per-Connection Variables"). */
export class Rack {
  /** "RACK.xmit_ts": the latest send time among delivered segments (-Infinity before any). */
  xmitTs = Number.NEGATIVE_INFINITY;
  /** "RACK.end_seq": end_seq of that segment. */
  endSeq = 0;
  /** "RACK.fack": the highest end_seq delivered (valid once `hasFack`). */
  fack = 0;
  private hasFack = false;
  /** "RACK.min_RTT": windowed minimum RTT (ms); Infinity before any sample. */
  minRtt = Number.POSITIVE_INFINITY;
  private minRttAt = 0;
  /** "RACK.rtt": the RTT of the most recently sent delivered segment (ms). */
  rtt = 0;
  /** "RACK.reordering_seen". */
  reorderingSeen = false;
  /** "RACK.reo_wnd" as last computed (ms). */
  reoWnd = 0;
  /** "RACK.dsack_round": SND.NXT when a D-SACK last grew the window, or undefined. */
  dsackRound: number | undefined;
  /** "RACK.reo_wnd_mult". */
  reoWndMult = 1;
  /** "RACK.reo_wnd_persist". */
  reoWndPersist = 0;
  /** Segments the last `detectLoss` / `markLossesOnRto` marked lost. */
  newlyLost = 0;

  private inRecovery = false;
  private segsSacked = 0;
  private srtt = 0;

  /**
   * @param minRttWindowMs how long a minimum RTT sample stays valid (RFC 8985 §6.2 Step 1 asks for "a
   *   windowed min-filtered estimate ... that can adapt when migrating to significantly longer paths").
   * @param rttGranularityMs how coarse the RTT samples behind min_RTT are (RFC 7323 timestamps tick per
   *   millisecond): a retransmission's RTT counts as "below min_RTT" (an ACK of an earlier transmission,
   *   Step 2) only when it is below by more than this.
   */
  constructor(
    readonly minRttWindowMs = 300_000,
    readonly rttGranularityMs = 0,
  ) {}

  /** RFC 8985 §6.2 Step 1: "Update RACK.min_RTT" from an RTT measurement (RFC 6298 / RFC 7323 rules). */
  onRttSample(rttMs: number, now: number): void {
    if (!(rttMs >= 0)) return;
    if (rttMs <= this.minRtt || now - this.minRttAt > this.minRttWindowMs) {
      this.minRtt = rttMs;
      this.minRttAt = now;
    }
  }

  /** RFC 8985 §6.2 Steps 2–4 for one ACK. */
  onAck(a: RackAck): void {
    this.inRecovery = a.inRecovery;
    this.segsSacked = a.segsSacked;
    this.srtt = a.srtt;
    const fackBefore = this.fack;
    const hadFack = this.hasFack;
    // Step 2, RACK_update(): "For each Segment newly acknowledged ... in ascending order of
    // Segment.xmit_ts": RACK.rtt ends as the RTT of the latest-sent valid one, and RACK.xmit_ts/end_seq
    // move to it if it was sent after them. The latest-sent segment is found here in one pass.
    let latestTs = Number.NEGATIVE_INFINITY;
    let latestEnd = 0;
    let latestRtt = -1;
    for (const seg of a.newlyAcked) {
      const ts = seg.xmitTs;
      if (ts !== INFINITE_TS) {
        const rtt = a.now - ts;
        // "If Segment.retransmitted is TRUE: If ACK.ts_option.echo_reply < Segment.xmit_ts: [skip]; If rtt <
        // RACK.min_RTT: [skip]": the ACK may be for an earlier transmission of the segment.
        const ambiguous =
          seg.retransmitted &&
          ((a.echoedXmitTs !== undefined && a.echoedXmitTs < ts) ||
            rtt + this.rttGranularityMs < this.minRtt);
        if (!ambiguous && (latestRtt < 0 || rackSentAfter(ts, seg.endSeq, latestTs, latestEnd))) {
          latestTs = ts;
          latestEnd = seg.endSeq;
          latestRtt = rtt;
        }
      }
      // Step 3, RACK_detect_reordering(): "If Segment.end_seq > RACK.fack: RACK.fack = Segment.end_seq;
      // Else if Segment.end_seq < RACK.fack AND Segment.retransmitted is FALSE: RACK.reordering_seen = TRUE".
      // In ascending end_seq order, each segment meets the fack from before this ACK or a higher one of its own.
      if (hadFack && seqLessThan(seg.endSeq, fackBefore) && !seg.retransmitted) this.reorderingSeen = true;
      if (!this.hasFack || seqGreaterThan(seg.endSeq, this.fack)) {
        this.fack = seg.endSeq;
        this.hasFack = true;
      }
    }
    if (latestRtt >= 0) {
      this.rtt = latestRtt;
      if (rackSentAfter(latestTs, latestEnd, this.xmitTs, this.endSeq)) {
        this.xmitTs = latestTs;
        this.endSeq = latestEnd;
      }
    }
    // Step 4, RACK_update_reo_wnd(): D-SACK-based adaptation.
    if (this.dsackRound !== undefined && seqGreaterThanEq(a.sndUna, this.dsackRound))
      this.dsackRound = undefined;
    if (this.dsackRound === undefined && a.dsack) {
      // "Grow the reordering window per round that sees DSACK."
      this.dsackRound = a.sndNxt;
      this.reoWndMult++;
      this.reoWndPersist = REO_WND_PERSIST;
    } else if (a.exitingRecovery) {
      this.reoWndPersist--;
      if (this.reoWndPersist <= 0) this.reoWndMult = 1;
    }
    this.reoWnd = this.computeReoWnd();
  }

  /**
   * RFC 8985 §6.2 Step 4: "If RACK.reordering_seen is FALSE: If in loss recovery: Return 0; Else if
   * RACK.segs_sacked >= DupThresh: Return 0. Return min(RACK.reo_wnd_mult * RACK.min_RTT / 4, SRTT)".
   */
  private computeReoWnd(): number {
    if (!this.reorderingSeen && (this.inRecovery || this.segsSacked >= DUP_THRESH)) return 0;
    if (this.minRtt === Number.POSITIVE_INFINITY) return 0;
    return Math.min((this.reoWndMult * this.minRtt) / 4, this.srtt);
  }

  /**
   * RFC 8985 §6.2 Step 5, RACK_detect_loss(): marks lost (`lost = true`,
   * `xmitTs = INFINITE_TS`) every outstanding segment sent before the most
   * recently delivered one and older than RACK.rtt + RACK.reo_wnd. Returns
   * the time (ms) until the next segment would qualify, 0 if none: the
   * sender arms its RACK reordering timer for it and calls this again then.
   *
   * `outstanding` is every segment not yet cumulatively acknowledged, in
   * sequence order (as `SentSegments` iterates; SACKed ones are skipped).
   * The walk stops at the first never-retransmitted segment sent after
   * RACK.xmit_ts: every later segment was first sent later still, and a
   * retransmission only makes a send time later, so none of them can be
   * lost by this rule. Per ACK this costs the lossy prefix, not the window.
   */
  detectLoss(outstanding: Iterable<RackSegment>, now: number): number {
    let timeout = 0;
    this.newlyLost = 0;
    for (const seg of outstanding) {
      if (seg.sacked || seg.lost) continue;
      if (!rackSentAfter(this.xmitTs, this.endSeq, seg.xmitTs, seg.endSeq)) {
        if (!seg.retransmitted) break;
        continue;
      }
      // "remaining = Segment.xmit_ts + RACK.rtt + RACK.reo_wnd - Now()"
      const remaining = seg.xmitTs + this.rtt + this.reoWnd - now;
      if (remaining <= 0) {
        seg.lost = true;
        seg.xmitTs = INFINITE_TS;
        this.newlyLost++;
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    return timeout;
  }

  /**
   * RFC 8985 §6.3, RACK_mark_losses_on_RTO(): on an RTO, the first
   * unacknowledged segment and every one older than RACK.rtt + RACK.reo_wnd
   * are lost. `outstanding` is in sequence order, starting at SND.UNA.
   */
  markLossesOnRto(outstanding: Iterable<RackSegment>, now: number): void {
    this.newlyLost = 0;
    let first = true;
    for (const seg of outstanding) {
      if (seg.sacked) {
        first = false;
        continue;
      }
      if (!seg.lost && (first || seg.xmitTs + this.rtt + this.reoWnd - now <= 0)) {
        seg.lost = true;
        seg.xmitTs = INFINITE_TS;
        this.newlyLost++;
      }
      first = false;
    }
  }
}

/** What an ACK meant for an outstanding loss probe (RFC 8985 §7.4.2). */
export type TlpAckOutcome =
  /** No probe outstanding, or this ACK does not settle it. */
  | "none"
  /** The probe carried new data and was delivered: no loss. */
  | "delivered"
  /** The probe's D-SACK shows the original arrived: no loss. */
  | "redundant"
  /** The probe repaired a loss: the congestion controller must react as to a loss. */
  | "loss-repaired";

/** TLP's state (RFC 8985 §5.4, §7). */
export class Tlp {
  /** "TLP.end_seq": SND.NXT when the outstanding probe was sent, or undefined. */
  endSeq: number | undefined;
  /** "TLP.is_retrans": whether that probe was a retransmission. */
  isRetrans = false;
  /** RFC 8985 §7.3 condition 2: an RTT sample arrived since the last probe (or the connection start). */
  private rttSampled = false;

  constructor(readonly maxAckDelayMs = TLP_MAX_ACK_DELAY_MS) {}

  onRttSample(): void {
    this.rttSampled = true;
  }

  /**
   * RFC 8985 §7.2: the sender starts or restarts the PTO after sending new
   * data (not itself a probe) or on an ACK that cumulatively acknowledges new
   * data, "unless it is already in fast recovery, RTO recovery, or ...". This
   * is the test: SACK negotiated, data in flight, no recovery under way.
   */
  canSchedule(sackEnabled: boolean, inRecovery: boolean, flightSize: number): boolean {
    return sackEnabled && !inRecovery && flightSize > 0;
  }

  /**
   * RFC 8985 §7.2 TLP_calc_PTO(): 2·SRTT, plus the worst-case delayed ACK
   * when only one segment is in flight; 1 s without an SRTT; never later
   * than the pending RTO (`rtoExpiresAt`, absolute ms, if armed).
   */
  pto(srtt: number | undefined, flightSize: number, mss: number, now: number, rtoExpiresAt?: number): number {
    let pto: number;
    if (srtt !== undefined && srtt > 0) {
      pto = 2 * srtt;
      if (flightSize <= mss) pto += this.maxAckDelayMs;
    } else {
      pto = 1000;
    }
    if (rtoExpiresAt !== undefined && now + pto > rtoExpiresAt) pto = Math.max(0, rtoExpiresAt - now);
    return pto;
  }

  /**
   * RFC 8985 §7.3: when the PTO fires, a probe may go only if "there is no
   * other previous loss probe still in flight" and "the sender has obtained
   * an RTT measurement since the last loss probe transmission or the start
   * of the connection". Otherwise the sender re-arms the RTO.
   */
  canSendProbe(): boolean {
    return this.endSeq === undefined && this.rttSampled;
  }

  /**
   * RFC 8985 §7.3 probe selection: "If a previously unsent segment exists AND
   * the receive window allows new data to be sent", send it; otherwise
   * retransmit "the highest-sequence segment sent so far".
   */
  chooseProbe(hasUnsentData: boolean, receiveWindowAllows: boolean): "new" | "retransmit-last" {
    return hasUnsentData && receiveWindowAllows ? "new" : "retransmit-last";
  }

  /**
   * The probe was sent; `sndNxt` is SND.NXT after it ("TLP.end_seq = SND.NXT").
   * RFC 8985 §7.3: afterwards the sender "MUST re-arm the RTO timer, not the PTO timer, if FlightSize is not zero".
   */
  onProbeSent(sndNxt: number, isRetrans: boolean): void {
    this.endSeq = sndNxt >>> 0;
    this.isRetrans = isRetrans;
    this.rttSampled = false;
  }

  /**
   * RFC 8985 §7.4.2 TLP_process_ack(): `ack` is SEG.ACK, `dsackEnd` the end of
   * the ACK's D-SACK block (undefined without one), `dupAckWithoutSack` whether
   * it is a duplicate ACK carrying no SACK option.
   */
  processAck(ack: number, dsackEnd: number | undefined, dupAckWithoutSack: boolean): TlpAckOutcome {
    const end = this.endSeq;
    if (end === undefined || !seqGreaterThanEq(ack, end)) return "none";
    if (!this.isRetrans) {
      // "TLP of new data delivered".
      this.endSeq = undefined;
      return "delivered";
    }
    if (dsackEnd !== undefined && dsackEnd >>> 0 === end) {
      // "Retransmission is redundant".
      this.endSeq = undefined;
      return "redundant";
    }
    if (seqGreaterThan(ack, end) || dupAckWithoutSack) {
      // "Repaired the single loss" / "Assume suspected loss was repaired": "invoke the congestion control
      // to react to the loss event the probe has repaired".
      this.endSeq = undefined;
      return "loss-repaired";
    }
    return "none";
  }

  /** Forgets an outstanding probe (on entering recovery or an RTO, the probe episode ends). */
  reset(): void {
    this.endSeq = undefined;
    this.isRetrans = false;
  }
}

/** One transmitted segment, as `SentSegments` records it: [seq, endSeq) and its RACK state. */
export class SentSegment implements RackSegment {
  seq = 0;
  endSeq = 0;
  xmitTs = 0;
  retransmitted = false;
  lost = false;
  sacked = false;
}

/**
 * The sender's log of transmitted, not yet cumulatively acknowledged
 * segments, lowest sequence first, for RACK (RFC 8985 §5.2 per-segment
 * state) over a byte-stream send buffer.
 *
 * - `onTransmit(seq, len, now)` after every transmission (data, and a FIN as
 *   one sequence number): a range at or past the highest one recorded is new
 *   and appended as one segment; a range below it is a retransmission and
 *   marks every recorded segment it overlaps retransmitted, sent `now`, no
 *   longer lost (a retransmission cut differently from the original counts
 *   for each segment it touches);
 * - `onAck(SEG.ACK, blocks, skipFirst, newly)` for every ACK: segments at or
 *   below the cumulative ACK leave the log, segments wholly inside a SACK
 *   block become `sacked`; those not delivered before are appended to
 *   `newly` (the `RackAck.newlyAcked` of this ACK). Pass `skipFirst` when the
 *   first block is a D-SACK (`isDsack` in sack-scoreboard.ts).
 *
 * Segment objects are pooled: a segment that left the log stays valid until
 * the next `onAck` call, then may be reused.
 */
export class SentSegments implements Iterable<SentSegment>, Iterator<SentSegment> {
  /** Segments currently SACKed ("RACK.segs_sacked"). */
  sackedCount = 0;
  /**
   * Segments marked lost and not yet retransmitted, SACKed or acknowledged. `Rack.detectLoss` and
   * `markLossesOnRto` set `lost` on segments they do not know the log of: the caller adds their
   * `newlyLost` here; the log takes it back off as such segments are retransmitted, SACKed or acknowledged.
   */
  lostCount = 0;
  private segs: SentSegment[] = [];
  private head = 0;
  private readonly pool: SentSegment[] = [];
  private retired: SentSegment[] = [];
  private walkAt = 0;
  private readonly walkResult: { done: boolean; value: SentSegment | undefined } = {
    done: true,
    value: undefined,
  };

  /** Segments in the log. */
  get length(): number {
    return this.segs.length - this.head;
  }

  /** The `i`-th oldest segment in the log. */
  at(i: number): SentSegment | undefined {
    return this.segs[this.head + i];
  }

  /**
   * Walks the log lowest first. The log is its own iterator (no object per walk: RACK walks it on every
   * ACK), so one walk at a time: a walk started inside another restarts it.
   */
  [Symbol.iterator](): Iterator<SentSegment> {
    this.walkAt = this.head;
    return this;
  }

  next(): IteratorResult<SentSegment> {
    const r = this.walkResult;
    if (this.walkAt < this.segs.length) {
      r.done = false;
      r.value = this.segs[this.walkAt++]!;
    } else {
      r.done = true;
      r.value = undefined;
    }
    return r as IteratorResult<SentSegment>;
  }

  /** The lowest segment marked lost and not retransmitted since, or undefined. */
  firstLost(): SentSegment | undefined {
    for (let i = this.head; i < this.segs.length; i++) if (this.segs[i]!.lost) return this.segs[i];
    return undefined;
  }

  /** One past the highest sequence number recorded (SND.MAX as far as the log knows), or undefined when empty. */
  get highest(): number | undefined {
    return this.length === 0 ? undefined : this.segs[this.segs.length - 1]!.endSeq;
  }

  /**
   * The lowest segment marked lost whose end lies past `from` (a retransmission cursor), or undefined.
   * Costs nothing while no segment is lost.
   */
  nextLost(from: number): SentSegment | undefined {
    if (this.lostCount <= 0) return undefined;
    for (let i = this.indexOf(from >>> 0); i < this.segs.length; i++)
      if (this.segs[i]!.lost) return this.segs[i];
    return undefined;
  }

  /**
   * Sequence space presumed in the network: every logged segment neither SACKed nor marked lost (a
   * retransmitted one counts once), as Linux's packets_in_flight; RFC 6675 §4 SetPipe() with RACK's
   * loss marks in place of IsLost(). Walks the log.
   */
  pipe(): number {
    let n = 0;
    for (let i = this.head; i < this.segs.length; i++) {
      const sg = this.segs[i]!;
      if (!sg.sacked && !sg.lost) n += (sg.endSeq - sg.seq) >>> 0;
    }
    return n;
  }

  /**
   * Records a transmission of `len` sequence numbers from `seq` at time `now`. With `segSize`, a new
   * range is logged as segments of at most `segSize` (a GSO super-segment as the segments the link
   * cuts it into), so each can be marked lost and retransmitted on its own.
   */
  onTransmit(seq: number, len: number, now: number, segSize = Number.POSITIVE_INFINITY): void {
    if (len <= 0) return;
    seq >>>= 0;
    const end = (seq + len) >>> 0;
    const top = this.highest;
    if (top !== undefined && seqLessThan(seq, top)) {
      // A retransmission (of the part below the highest recorded sequence number).
      const stop = seqMin(end, top);
      for (let i = this.indexOf(seq); i < this.segs.length; i++) {
        const sg = this.segs[i]!;
        if (seqGreaterThanEq(sg.seq, stop)) break;
        sg.xmitTs = now;
        sg.retransmitted = true;
        if (sg.lost) {
          sg.lost = false;
          this.lostCount--;
        }
      }
      if (seqLessThanEq(end, top)) return;
      seq = top;
    }
    while (seq !== end) {
      const left = seqSize(seq, end);
      const n = Math.min(left, segSize);
      const sg = this.pool.pop() ?? new SentSegment();
      sg.seq = seq;
      sg.endSeq = (seq + n) >>> 0;
      sg.xmitTs = now;
      sg.retransmitted = false;
      sg.lost = false;
      sg.sacked = false;
      this.segs.push(sg);
      seq = sg.endSeq;
    }
  }

  /** Processes one ACK (see the class comment); returns how many segments were appended to `newly`. */
  onAck(ack: number, blocks: readonly number[], skipFirst: boolean, newly: RackSegment[]): number {
    const before = newly.length;
    for (const r of this.retired) this.pool.push(r);
    this.retired.length = 0;
    // Cumulative: whole segments at or below SEG.ACK leave; one cut by it keeps its upper part.
    while (this.head < this.segs.length) {
      const sg = this.segs[this.head]!;
      if (seqLessThanEq(sg.endSeq, ack)) {
        if (sg.sacked) this.sackedCount--;
        else newly.push(sg);
        if (sg.lost) {
          sg.lost = false;
          this.lostCount--;
        }
        this.retired.push(sg);
        this.head++;
      } else {
        if (seqGreaterThan(ack, sg.seq)) sg.seq = ack >>> 0;
        break;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.segs.length) {
      // Compact in place (no new array).
      this.segs.copyWithin(0, this.head);
      this.segs.length -= this.head;
      this.head = 0;
    }
    // Selective: segments wholly inside a block.
    for (let b = skipFirst ? 2 : 0; b + 1 < blocks.length; b += 2) {
      const l = blocks[b]! >>> 0;
      const r = blocks[b + 1]! >>> 0;
      if (!seqLessThan(l, r)) continue;
      for (let i = this.indexOf(seqMax(l, ack >>> 0)); i < this.segs.length; i++) {
        const sg = this.segs[i]!;
        if (seqGreaterThan(sg.endSeq, r)) break;
        if (!sg.sacked && seqGreaterThanEq(sg.seq, l)) {
          sg.sacked = true;
          this.sackedCount++;
          // Delivered after all: no longer to be retransmitted.
          if (sg.lost) {
            sg.lost = false;
            this.lostCount--;
          }
          newly.push(sg);
        }
      }
    }
    return newly.length - before;
  }

  /** Forgets every SACK mark (RFC 2018 §8: after an RTO the receiver may have discarded SACKed data). */
  clearSacked(): void {
    for (let i = this.head; i < this.segs.length; i++) this.segs[i]!.sacked = false;
    this.sackedCount = 0;
  }

  /** Index in `segs` of the first segment whose end lies past `seq` (binary search; segments are in order). */
  private indexOf(seq: number): number {
    let lo = this.head;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLessThanEq(this.segs[mid]!.endSeq, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

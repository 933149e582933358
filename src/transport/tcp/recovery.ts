/**
 * SACK-based loss recovery (RFC 6675) paced by Proportional Rate Reduction
 * (RFC 6937), for connections that negotiated SACK (RFC 2018). Connections
 * without SACK keep NewReno (RFC 6582) in snd.ts.
 *
 * Per ACK (`sackOnAck`, called from `processAck` before the cumulative and
 * duplicate ACK handling): the scoreboard's `update`. After it
 * (`sackAfterAck`): entering recovery on the scoreboard's signal (RFC 6675 §5
 * step 4), PRR's sndcnt on every ACK in recovery (RFC 6937 §3), leaving
 * recovery when the cumulative ACK covers RecoveryPoint, and the NextSeg loop
 * (RFC 6675 §5 (C)). After an RTO (`sackOnTimeout`) the same loop resends the
 * holes with cwnd − pipe as the budget (RFC 6675 §5.1) instead of going back
 * over SACKed data.
 *
 * With the `rack` option (the default), RACK (RFC 8985 §6) marks the losses,
 * as in Linux, rather than RFC 6675's DupThresh rule: every transmission is
 * logged in `SentSegments` (`onTransmit`, one record per MSS, pooled), each ACK
 * feeds the log and `Rack` (RTT sample, newly delivered segments, D-SACK) and
 * runs `detectLoss`; the first loss it marks enters fast recovery with PRR,
 * whose loop retransmits the marked segments before new data, with pipe taken
 * from the log (RFC 8985 §9.3). A segment not yet old enough arms the RACK
 * reordering timer (`reoTimer`, made on first use). The TLP half (RFC 8985 §7)
 * rides on the retransmission timer. A recovery whose every retransmission
 * turns out spurious (D-SACK, RFC 2883 §4; or the Eifel timestamp check,
 * RFC 3522, when it retransmitted one segment) is undone (RFC 3708 §3 and
 * Linux's tcp_try_undo_dsack): the controller gets its window back.
 * `rack: false` keeps the RFC 6675 DupThresh recovery alone (no TLP, no undo).
 */
import { TCP_ACK, TCP_FIN, TCP_PSH } from "../../header/tcp.ts";
import {
  seqAdd,
  seqGreaterThan,
  seqGreaterThanEq,
  seqLessThan,
  seqMax,
  seqSize,
} from "../../seqnum/seqnum.ts";
import { ecnNoteReduction, ecnReductionUnderway } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { Prr } from "./prr.ts";
import { Rack, type RackAck, type SentSegment, SentSegments, Tlp } from "./rack.ts";
import { NextSegKind, SackScoreboard, type SackUpdate } from "./sack-scoreboard.ts";
import { sendRuns } from "./state.ts";
import { EndpointTimer } from "./timers.ts";

/** Retransmitted ranges remembered for matching D-SACK blocks (RFC 2883 §4), a ring of this many. */
const RXT_RING = 64;

/** Separation (ms) of send times logged in the same clock instant. */
const XMIT_TS_STEP = 1e-6;

/**
 * The SACK recovery state of one connection, made by the first ACK that carries SACK blocks or (with
 * `rack`) leaves data in flight (`newSackRecovery`).
 */
export class SackRecovery {
  readonly sb: SackScoreboard;
  readonly prr: Prr;
  /** In fast recovery (RFC 6675 §5 step 4 to its end), not the RTO recovery window. */
  active = false;
  /** Tail loss probe state (RFC 8985 §7). */
  readonly tlp = new Tlp();
  /** The retransmission timer's deadline when it was armed as the PTO (0: armed as the RTO). */
  ptoDeadline = 0;
  /** RACK's state (RFC 8985 §6), with the `rack` option; undefined otherwise. */
  readonly rack: Rack | undefined;
  /** The transmission log RACK walks (RFC 8985 §5.2), with `rack`. */
  readonly log: SentSegments | undefined;
  /** RACK's reordering timer (RFC 8985 §6.2 step 5), made when first armed. */
  reoTimer: EndpointTimer | undefined;
  /** One `RackAck`, refilled per ACK, and its list of newly delivered segments. */
  readonly rackAck: RackAck | undefined;
  private readonly newly: SentSegment[] = [];
  /** The send time given to the last transmission logged. */
  lastXmitTs = Number.NEGATIVE_INFINITY;

  /**
   * Undo (RFC 3708 §3, Linux's undo_marker / undo_retrans): SND.UNA when the fast recovery episode began,
   * or undefined when there is nothing to undo.
   */
  undoMarker: number | undefined;
  /** Retransmissions of the episode not (yet) reported spurious, and all of them. */
  undoRetrans = 0;
  undoRxtTotal = 0;
  /** cwnd and ssthresh before the episode's reduction. */
  undoCwnd = 0;
  undoSsthresh = 0;
  /** Our TSval on the episode's first retransmission, and that segment's end (Eifel, RFC 3522 §3.2). */
  undoTsVal = 0;
  undoFirstEnd: number | undefined;

  /** Recently retransmitted ranges, flat [start, end, ...] (a ring; made on the first retransmission). */
  private rxt: Uint32Array | undefined;
  private rxtNext = 0;

  constructor(una: number, mss: number, rack: boolean) {
    this.sb = new SackScoreboard(una, mss);
    this.prr = new Prr(mss);
    if (rack) {
      // RTT samples come in whole milliseconds (RFC 7323 timestamps, or the clock's).
      this.rack = new Rack(undefined, 1);
      this.log = new SentSegments();
      this.rackAck = {
        now: 0,
        newlyAcked: this.newly,
        echoedXmitTs: undefined,
        dsack: false,
        sndUna: 0,
        sndNxt: 0,
        inRecovery: false,
        exitingRecovery: false,
        segsSacked: 0,
        srtt: 0,
      };
    }
  }

  /** The per-ACK list of newly delivered segments (cleared by the caller). */
  get newlyAcked(): SentSegment[] {
    return this.newly;
  }

  /** Remembers a retransmission of [seq, end). */
  noteRetransmit(seq: number, end: number): void {
    if (this.rxt === undefined) this.rxt = new Uint32Array(2 * RXT_RING);
    const i = this.rxtNext;
    this.rxt[i] = seq;
    this.rxt[i + 1] = end;
    this.rxtNext = (i + 2) % (2 * RXT_RING);
  }

  /**
   * RFC 2883 §4: how many remembered retransmissions the D-SACK block [start, end) reports received twice
   * (each is forgotten once matched, so a later block for the same range counts only another copy).
   */
  matchDsack(start: number, end: number): number {
    const r = this.rxt;
    if (r === undefined) return 0;
    let n = 0;
    for (let i = 0; i < r.length; i += 2) {
      const a = r[i]!;
      const b = r[i + 1]!;
      if (a === b) continue;
      // The retransmitted range overlaps the duplicate one.
      if (seqLessThan(a, end) && seqLessThan(start, b)) {
        n++;
        r[i + 1] = a;
      }
    }
    return n;
  }
}

/** Whether RACK-TLP (option `rack`) applies to this connection: it needs SACK (RFC 8985 §4). */
function rackOn(ep: TcpEndpoint): boolean {
  return ep.opts.rack && ep.rcv.sackEnabled;
}

/**
 * Made by the first ACK that SACKs something or leaves data in flight: a connection whose every ACK covers
 * all it sent (request/response) never needs it, and saves its memory. With RACK, what is in flight then is
 * logged as sent at the last transmission: later than it really was, so RACK can only mark it lost later
 * (RACK_sent_after orders the records by sequence number), never sooner.
 */
function newSackRecovery(ep: TcpEndpoint): SackRecovery {
  const s = ep.snd;
  const rec = new SackRecovery(s.una, ep.maxPayload(), rackOn(ep));
  s.sack = rec;
  // RFC 8985 §6.2 step 1: the RTT samples so far.
  if (s.minRtt !== Number.POSITIVE_INFINITY) rec.rack?.onRttSample(s.minRtt, ep.now());
  if (rec.log !== undefined && seqLessThan(s.una, s.max)) {
    rec.lastXmitTs = s.lastSendTime;
    rec.log.onTransmit(s.una, seqSize(s.una, s.max), s.lastSendTime, ep.maxPayload());
  }
  return rec;
}

/**
 * Every transmission of data or FIN (`len` sequence numbers from `seq`; `rxt` for a retransmission):
 * logged for RACK (RFC 8985 §5.2), and retransmissions remembered for D-SACK matching and undo.
 */
export function noteTransmit(ep: TcpEndpoint, seq: number, len: number, rxt: boolean): void {
  if (len <= 0) return;
  const s = ep.snd;
  if (rxt) s.rxtSegs++;
  const rec = s.sack;
  if (rec === undefined) return;
  if (rec.log !== undefined) {
    // Send times strictly increase in transmission order: RACK_sent_after (RFC 8985 §6.2) breaks a tie by
    // sequence number, which is wrong for a retransmission sent in the same clock tick after new data (a
    // simulated clock sends whole flights in one instant). A nanosecond apart models a finer clock.
    const now = ep.now();
    const t = now > rec.lastXmitTs ? now : rec.lastXmitTs + XMIT_TS_STEP;
    rec.lastXmitTs = t;
    rec.log.onTransmit(seq, len, t, ep.maxPayload());
  }
  if (!rxt) return;
  rec.noteRetransmit(seq, seqAdd(seq, len));
  if (rec.undoMarker !== undefined && rec.active) {
    if (rec.undoFirstEnd === undefined) {
      rec.undoFirstEnd = seqAdd(seq, len);
      rec.undoTsVal = ep.rcv.tsEnabled ? ep.tsNow() : 0;
    }
    rec.undoRetrans++;
    rec.undoRxtTotal++;
  }
}

/** RFC 6675 §4 Update() for one acceptable ACK; with RACK, the log's view of it too (RFC 8985 §6.2 step 2). */
export function sackOnAck(ep: TcpEndpoint, ack: number, blocks: readonly number[]): SackUpdate {
  const s = ep.snd;
  const rec = s.sack ?? newSackRecovery(ep);
  const sb = rec.sb;
  sb.smss = ep.maxPayload();
  rec.prr.mss = sb.smss;
  const u = sb.update(ack, blocks, s.max);
  if (u.dsack) onDsack(ep, rec, u.dsackStart, u.dsackEnd);
  if (rec.log !== undefined) {
    rec.newlyAcked.length = 0;
    rec.log.onAck(ack, blocks, u.dsack, rec.newlyAcked);
  }
  return u;
}

/**
 * A D-SACK block (RFC 2883 §4): retransmissions it reports received twice were spurious (counted);
 * with RACK they show reordering (RFC 8985 §6.2 step 3, as Linux's tcp_check_sack_reordering does for a
 * D-SACKed retransmission) and count toward undoing the episode (RFC 3708 §3).
 */
function onDsack(ep: TcpEndpoint, rec: SackRecovery, start: number, end: number): void {
  const n = rec.matchDsack(start, end);
  if (n === 0) return;
  ep.stack.stats.tcp.spuriousRetransmits += n;
  ep.snd.spuriousRxtSegs += n;
  if (rec.rack === undefined) return;
  rec.rack.reorderingSeen = true;
  if (rec.undoMarker !== undefined && seqGreaterThan(end, rec.undoMarker)) rec.undoRetrans -= n;
}

/** RFC 8985 §6.2 step 1: an RTT sample (RFC 6298 / RFC 7323 rules) for RACK.min_RTT. */
export function rackOnRttSample(ep: TcpEndpoint, rttMs: number): void {
  ep.snd.sack?.rack?.onRttSample(rttMs, ep.now());
}

/** RFC 8985 §6.2 steps 2–5 for one ACK: feed RACK, mark losses, arm the reordering timer. */
function rackOnAck(ep: TcpEndpoint, rec: SackRecovery, u: SackUpdate, tsEcr: number): void {
  const s = ep.snd;
  const rack = rec.rack!;
  const a = rec.rackAck!;
  const now = ep.now();
  a.now = now;
  // RFC 8985 §6.2 step 2 with timestamps: the send time of the echoed segment, on our clock. TSvals tick
  // per whole millisecond; the upper bound of the echoed send time keeps the test against a
  // retransmission's (fractional) send time on the safe side. Only an ACK that moved SND.UNA echoes the
  // segment that made it: a receiver does not take TS.Recent from out-of-order segments (RFC 7323 §4.3),
  // so a SACK-only ACK echoes an older in-order one and would make every SACKed retransmission look
  // like the original's delivery (Linux uses only the min_RTT test).
  a.echoedXmitTs =
    ep.rcv.tsEnabled && tsEcr !== 0 && u.cumulative
      ? Math.floor(now) - ((ep.tsNow() - tsEcr) | 0) + 1
      : undefined;
  a.dsack = u.dsack;
  a.sndUna = s.una;
  a.sndNxt = s.max;
  a.inRecovery = rec.active || rec.sb.rtoRecovery || u.exitedRecovery;
  a.exitingRecovery = u.exitedRecovery;
  a.segsSacked = rec.log!.sackedCount;
  a.srtt = s.rtt.srtt;
  rack.onAck(a);
  rackDetectLoss(ep, rec, now);
}

/** Apart from `rackDetectLoss` (run per ACK): a closure there cost a scope object on every call (issue 10). */
function newReoTimer(ep: TcpEndpoint): EndpointTimer {
  return new EndpointTimer(ep.stack.clock, () => onReoTimer(ep), ep);
}

/** RFC 8985 §6.2 step 5: mark losses; arm (or stop) the reordering timer for the segments not yet due. */
function rackDetectLoss(ep: TcpEndpoint, rec: SackRecovery, now: number): void {
  const log = rec.log!;
  const rack = rec.rack!;
  const timeout = rack.detectLoss(log, now);
  log.lostCount += rack.newlyLost;
  if (timeout > 0) {
    if (rec.reoTimer === undefined) rec.reoTimer = newReoTimer(ep);
    rec.reoTimer.arm(timeout);
  } else {
    rec.reoTimer?.stop();
  }
}

/** RFC 8985 §6.2 step 5: the reordering timer fired; detect losses again and repair what is due. */
function onReoTimer(ep: TcpEndpoint): void {
  const rec = ep.snd.sack;
  if (rec?.rack === undefined || !sendRuns(ep.state) || ep.snd.una === ep.snd.max) return;
  ep.stack.stats.tcp.rackReorderTimeouts++;
  rackDetectLoss(ep, rec, ep.now());
  if (rec.active || rec.sb.rtoRecovery) sackSend(ep);
  else if (rec.log!.lostCount > 0) enterFastRecovery(ep, rec);
}

/** Stops RACK's reordering timer (the connection closed). */
export function stopRecoveryTimers(ep: TcpEndpoint): void {
  ep.snd.sack?.reoTimer?.stop();
}

/** After the ACK moved SND.UNA (if it did): recovery entry, PRR, exit, undo, and the sending loop. */
export function sackAfterAck(ep: TcpEndpoint, u: SackUpdate, ack: number, acked: number, tsEcr = 0): void {
  const s = ep.snd;
  const rec = s.sack!;
  const sb = rec.sb;
  const log = rec.log;
  if (log !== undefined) {
    rackOnAck(ep, rec, u, tsEcr);
    eifelCheck(rec, ack, tsEcr);
  }
  if (rec.active) {
    if (u.exitedRecovery) {
      // RFC 6675 §5: recovery ends when the cumulative ACK covers RecoveryPoint; RFC 6937 §3 "cwnd = ssthresh"
      // (the controller's RFC 6582 full-ACK rule bounds it by FlightSize + SMSS, avoiding a burst).
      rec.active = false;
      rec.prr.end();
      s.cc.onAckInRecovery(ack, acked, s.flight);
    } else {
      // RFC 6937 §3: on every ACK in recovery, DeliveredData and the RFC 6675 pipe give sndcnt (with RACK,
      // pipe counts what is neither SACKed nor marked lost, RFC 8985 §9.3).
      rec.prr.onAck(u.delivered, log !== undefined ? log.pipe() : sb.setPipe());
    }
  }
  if (log !== undefined) {
    if (!rec.active) tryUndo(ep, rec);
    // RFC 8985 §6.2: a loss RACK marked starts fast recovery (RFC 6675 §5 step 4 with RACK's marks in place
    // of DupThresh, as Linux); also right after an episode ends with newer losses marked.
    if (!rec.active && !sb.rtoRecovery && log.lostCount > 0) {
      enterFastRecovery(ep, rec);
      return;
    }
  } else if (!rec.active && u.enterRecovery) {
    enterFastRecovery(ep, rec);
    return;
  }
  sackSend(ep);
}

/** RFC 6675 §5 step 4 (with RFC 6937 PRR): the reduction, RecoveryPoint, the first retransmission, SetPipe. */
function enterFastRecovery(ep: TcpEndpoint, rec: SackRecovery): void {
  const s = ep.snd;
  const sb = rec.sb;
  rec.tlp.reset();
  if (rec.ptoDeadline !== 0) {
    // No probe in recovery (RFC 8985 §7.2): the timer goes back to the RTO.
    rec.ptoDeadline = 0;
    ep.armRto();
  }
  const stats = ep.stack.stats.tcp;
  stats.fastRetransmit++;
  stats.sackRecovery++;
  const flight = s.flight;
  if (rec.rack !== undefined) {
    // RFC 3708 §3 / Linux tcp_init_undo: what to restore if the episode proves spurious.
    rec.undoMarker = s.una;
    rec.undoRetrans = 0;
    rec.undoRxtTotal = 0;
    rec.undoCwnd = s.cc.cwnd;
    rec.undoSsthresh = s.cc.ssthresh;
    rec.undoFirstEnd = undefined;
  }
  // RFC 3168 §6.1.2: no second reduction in a window already reduced for ECE (as Linux's
  // tcp_enter_recovery in CWR state): PRR brings the window down to the ssthresh that reduction chose.
  // Nothing of this episode is then undone either: the reduction it would undo was ECN's.
  const ecnReduced = ecnReductionUnderway(ep);
  s.cc.enterRecovery(flight, s.max, ecnReduced);
  if (ecnReduced) rec.undoMarker = undefined;
  s.recover = s.max;
  ecnNoteReduction(ep);
  rec.prr.start(s.cc.ssthresh, flight);
  rec.active = true;
  const first = sb.enterRecovery();
  if (rec.log !== undefined) {
    // RFC 8985 §6.2 hands the marked segments to the recovery loop; the first goes at once (RFC 6675 §5
    // step 4.3, counted in PRR's prr_out).
    const lost = rec.log.nextLost(s.una);
    if (lost !== undefined) rec.prr.onSent(retransmitAt(ep, lost.seq, seqSize(lost.seq, lost.endSeq)));
    if (!sendRunsStill(ep)) return;
  } else {
    rec.prr.onSent(retransmitAt(ep, first.seq, first.len));
    sb.setPipe();
  }
  sackSend(ep);
}

/**
 * RFC 3522 §3.2 (Eifel detection), for an episode with one retransmission: the first ACK covering it
 * echoes a TSval older than the retransmission's, so the original arrived (RFC 7323 §4.3 TS.Recent).
 */
function eifelCheck(rec: SackRecovery, ack: number, tsEcr: number): void {
  const end = rec.undoFirstEnd;
  if (rec.undoMarker === undefined || end === undefined || rec.undoTsVal === 0) return;
  if (!seqGreaterThanEq(ack, end)) return;
  rec.undoFirstEnd = undefined;
  if (rec.undoRetrans === 1 && tsEcr !== 0 && ((tsEcr - rec.undoTsVal) | 0) < 0) rec.undoRetrans = 0;
  rec.undoTsVal = 0;
}

/**
 * RFC 3708 §3 / Linux tcp_try_undo_dsack: out of recovery, when every retransmission of the episode was
 * shown spurious, the reduction is undone (cwnd and ssthresh back to at least their values before it).
 */
function tryUndo(ep: TcpEndpoint, rec: SackRecovery): void {
  if (rec.undoMarker === undefined || rec.undoRetrans > 0 || rec.undoRxtTotal === 0) return;
  rec.undoMarker = undefined;
  rec.undoFirstEnd = undefined;
  const cc = ep.snd.cc;
  if (cc.undo === undefined) return;
  cc.undo(rec.undoCwnd, rec.undoSsthresh);
  ep.stack.stats.tcp.spuriousRecovery++;
}

/** RFC 6675 §5.1: the retransmission timer expired (the controller already collapsed cwnd). */
export function sackOnTimeout(ep: TcpEndpoint): boolean {
  const rec = ep.snd.sack!;
  rec.active = false;
  rec.prr.active = false;
  rec.tlp.reset();
  // An RTO ends any undo episode of a fast recovery (a timeout is undone only by F-RTO, frto.ts).
  rec.undoMarker = undefined;
  rec.undoFirstEnd = undefined;
  rec.sb.onRetransmitTimeout(ep.snd.max);
  const before = ep.stack.stats.tcp.retransmits;
  sackSend(ep);
  return ep.stack.stats.tcp.retransmits !== before;
}

/** Whether SACK recovery controls what is sent now (trySend leaves it alone). */
export function sackRecovering(ep: TcpEndpoint): boolean {
  return ep.snd.sack?.active === true;
}

/** RFC 6675 §5 (C) in fast recovery (within PRR's sndcnt) and §5.1 after an RTO (within cwnd − pipe). */
function sackSend(ep: TcpEndpoint): void {
  const s = ep.snd;
  const rec = s.sack!;
  const sb = rec.sb;
  if (rec.active && rec.log !== undefined) {
    rackSend(ep, rec);
    return;
  }
  if (rec.active) {
    for (;;) {
      const room = seqSize(s.una, s.nxt) < s.wnd ? s.wnd - seqSize(s.una, s.nxt) : 0;
      const avail = seqLessThan(s.nxt, s.dataEnd) ? seqSize(s.nxt, s.dataEnd) : 0;
      const newLen = Math.min(avail, ep.maxPayload(), room);
      const seg = sb.nextSeg(newLen > 0 && s.nxt === s.max);
      if (seg.kind === NextSegKind.None) return;
      const kind = seg.kind;
      const seq = seg.seq;
      const len = kind === NextSegKind.NewData ? newLen : seg.len;
      if (len > rec.prr.sndcnt) return;
      const sent = kind === NextSegKind.NewData ? sendNew(ep, len) : retransmitAt(ep, seq, len);
      if (sent === 0) return;
      sb.markSent(kind, seq, sent);
      rec.prr.onSent(sent);
      if (!sendRunsStill(ep)) return;
    }
  }
  // While F-RTO tests a timeout (RFC 5682 steps 2 and 3) it alone chooses what is sent: new data, not holes.
  if (!sb.rtoRecovery || s.frtoStep !== 0) return;
  let budget = Math.max(0, s.cc.cwnd - sb.setPipe());
  if (rec.log !== undefined) {
    // With RACK, a retransmission of this RTO recovery that is lost again (RFC 8985 §6.2: something sent
    // after it was delivered, and it is older than RACK.rtt + reo_wnd) is resent first, as Linux resends
    // marked segments in its Loss state, instead of waiting for the next (backed-off) RTO: RFC 6675's
    // NextSeg has already moved HighRxt past it.
    let from = s.una;
    while (budget > 0) {
      const lost = rec.log.nextLost(from);
      if (lost === undefined || !seqLessThan(lost.seq, sb.highRxt)) break;
      from = lost.endSeq;
      const seq = seqLessThan(lost.seq, s.una) ? s.una : lost.seq;
      const sent = retransmitAt(ep, seq, seqSize(seq, lost.endSeq));
      if (sent === 0) break;
      budget -= sent;
      if (!sendRunsStill(ep)) return;
    }
  }
  while (budget > 0) {
    const seg = sb.nextSeg(false);
    if (seg.kind === NextSegKind.None) return;
    const kind = seg.kind;
    const seq = seg.seq;
    const sent = retransmitAt(ep, seq, seg.len);
    if (sent === 0) return;
    sb.markSent(kind, seq, sent);
    budget -= sent;
    if (!sendRunsStill(ep)) return;
  }
}

/**
 * Fast recovery with RACK (RFC 8985 §6.2 and §9.3 with RFC 6937): within PRR's sndcnt, the segments RACK
 * marked lost, lowest first, then new data.
 */
function rackSend(ep: TcpEndpoint, rec: SackRecovery): void {
  const s = ep.snd;
  const log = rec.log!;
  let from = s.una;
  for (;;) {
    const lost = log.nextLost(from);
    if (lost !== undefined) {
      const seq = seqLessThan(lost.seq, s.una) ? s.una : lost.seq;
      const len = seqSize(seq, lost.endSeq);
      if (len > rec.prr.sndcnt) return;
      from = lost.endSeq;
      const sent = retransmitAt(ep, seq, len);
      if (sent === 0) return;
      rec.prr.onSent(sent);
    } else {
      if (s.nxt !== s.max) return;
      const room = seqSize(s.una, s.nxt) < s.wnd ? s.wnd - seqSize(s.una, s.nxt) : 0;
      const avail = seqLessThan(s.nxt, s.dataEnd) ? seqSize(s.nxt, s.dataEnd) : 0;
      const len = Math.min(avail, ep.maxPayload(), room);
      const fin = s.finQueued && seqAdd(s.nxt, len) === s.finSeq && s.nxt !== seqAdd(s.finSeq, 1);
      if ((len === 0 && !fin) || len + (fin ? 1 : 0) > rec.prr.sndcnt) return;
      const sent = sendNew(ep, len);
      if (sent === 0) return;
      rec.prr.onSent(sent);
    }
    if (!sendRunsStill(ep) || !rec.active) return;
  }
}

function sendRunsStill(ep: TcpEndpoint): boolean {
  return ep.snd.sack !== undefined && ep.state !== "CLOSED";
}

/** New data at SND.NXT = SND.MAX during recovery (RFC 6675 NextSeg rule 2). */
function sendNew(ep: TcpEndpoint, len: number): number {
  const s = ep.snd;
  const seq = s.nxt;
  const now = ep.now();
  const fin = s.finQueued && seqAdd(seq, len) === s.finSeq;
  s.nxt = seqAdd(seq, len + (fin ? 1 : 0));
  s.max = seqMax(s.max, s.nxt);
  s.lastSendTime = now;
  noteTransmit(ep, seq, len + (fin ? 1 : 0), false);
  ep.emit(
    TCP_ACK | (fin ? TCP_FIN : 0) | (seqAdd(seq, len) === s.dataEnd ? TCP_PSH : 0),
    seq,
    seqSize(s.una, seq),
    len,
  );
  return len + (fin ? 1 : 0);
}

/**
 * Retransmits up to `len` sequence numbers from `seq` (at or above SND.UNA), data from the send buffer
 * and the FIN if it falls inside; SND.NXT does not move back. Returns the sequence space sent.
 */
export function retransmitAt(ep: TcpEndpoint, seq: number, len: number): number {
  const s = ep.snd;
  if (seqLessThan(seq, s.una)) return 0;
  const from = seqSize(s.una, seq);
  const dataLen = Math.max(0, Math.min(len, s.buf.size - from, ep.maxPayload()));
  const fin = s.finQueued && seqAdd(seq, dataLen) === s.finSeq && len > dataLen;
  if (dataLen === 0 && !fin) return 0;
  ep.stack.stats.tcp.retransmits++;
  s.rttTiming = false;
  s.lastSendTime = ep.now();
  const end = seqAdd(seq, dataLen + (fin ? 1 : 0));
  s.max = seqMax(s.max, end);
  if (seqLessThan(s.nxt, end)) s.nxt = end;
  const psh = dataLen > 0 && from + dataLen === s.buf.size ? TCP_PSH : 0;
  noteTransmit(ep, seq, dataLen + (fin ? 1 : 0), true);
  ep.emit(TCP_ACK | (fin ? TCP_FIN : 0) | psh, seq, from, dataLen, true);
  return dataLen + (fin ? 1 : 0);
}

/**
 * RFC 8985 §7.2: after an ACK of new data, with data in flight and no recovery under way, the
 * retransmission timer (just armed as the RTO) is re-armed as the probe timeout, never later than the RTO.
 */
export function armPto(ep: TcpEndpoint): void {
  const s = ep.snd;
  const rec = s.sack;
  if (rec === undefined || !ep.opts.rack) return;
  rec.ptoDeadline = 0;
  if (!rec.tlp.canSchedule(true, rec.active || rec.sb.rtoRecovery, s.flight)) return;
  if (ep.rtxMode !== "rto" || !ep.rtxTimer.pending) return;
  const now = ep.now();
  const srtt = s.rtt.srtt > 0 ? s.rtt.srtt : undefined;
  const pto = rec.tlp.pto(srtt, s.flight, ep.maxPayload(), now, ep.rtxTimer.deadline);
  ep.rtxTimer.arm(pto);
  rec.ptoDeadline = ep.rtxTimer.deadline;
}

/**
 * The retransmission timer fired: if it was armed as the PTO, send the tail loss probe (RFC 8985 §7.3),
 * re-arm the RTO and return true.
 */
export function onPto(ep: TcpEndpoint): boolean {
  const s = ep.snd;
  const rec = s.sack;
  if (rec === undefined || rec.ptoDeadline === 0 || rec.ptoDeadline !== ep.rtxTimer.deadline) return false;
  rec.ptoDeadline = 0;
  if (!rec.tlp.canSendProbe()) {
    ep.armRto();
    return true;
  }
  const avail = seqLessThan(s.nxt, s.dataEnd) ? seqSize(s.nxt, s.dataEnd) : 0;
  const room = seqSize(s.una, s.nxt) < s.wnd ? s.wnd - seqSize(s.una, s.nxt) : 0;
  const newLen = Math.min(avail, ep.maxPayload(), room);
  let sent = 0;
  let retrans = false;
  if (rec.tlp.chooseProbe(avail > 0 && s.nxt === s.max, newLen > 0) === "new") {
    sent = sendNew(ep, newLen);
  } else {
    // "retransmit the highest-sequence segment sent so far".
    const len = Math.min(ep.maxPayload(), seqSize(s.una, s.max));
    sent = retransmitAt(ep, (s.max - len) >>> 0, len);
    retrans = true;
  }
  if (sent > 0) {
    ep.stack.stats.tcp.tlpRetransmits++;
    rec.tlp.onProbeSent(s.nxt, retrans);
  }
  // RFC 8985 §7.3: "re-arm the RTO timer, not the PTO timer, if FlightSize is not zero".
  ep.armRto();
  return true;
}

/** RFC 8985 §7.4.2 for one ACK: a probe that repaired a loss makes the controller react as to a loss. */
export function tlpOnAck(ep: TcpEndpoint, u: SackUpdate | undefined, ack: number): void {
  const s = ep.snd;
  const rec = s.sack;
  if (rec === undefined || rec.tlp.endSeq === undefined) return;
  const outcome = rec.tlp.processAck(ack, u?.dsack ? u.dsackEnd : undefined, false);
  if (outcome === "loss-repaired" && !rec.active) {
    // RFC 8985 §7.4.2: "invoke the congestion control to react to the loss event the probe has repaired".
    s.cc.enterRecovery(s.flight, s.max, ecnReductionUnderway(ep));
    s.cc.onAckInRecovery(s.max, 0, s.flight);
    ecnNoteReduction(ep);
  }
}

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
 */
import { TCP_ACK, TCP_FIN, TCP_PSH } from "../../header/tcp.ts";
import { seqAdd, seqLessThan, seqMax, seqSize } from "../../seqnum/seqnum.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { Prr } from "./prr.ts";
import { Tlp } from "./rack.ts";
import { NextSegKind, SackScoreboard, type SackUpdate } from "./sack-scoreboard.ts";

/** The SACK recovery state of one connection (created when the first ACK arrives on a SACK connection). */
export class SackRecovery {
  readonly sb: SackScoreboard;
  readonly prr: Prr;
  /** In RFC 6675 fast recovery (not the RTO recovery window). */
  active = false;
  /** Tail loss probe state (RFC 8985 §7). */
  readonly tlp = new Tlp();
  /** The retransmission timer's deadline when it was armed as the PTO (0: armed as the RTO). */
  ptoDeadline = 0;

  constructor(una: number, mss: number) {
    this.sb = new SackScoreboard(una, mss);
    this.prr = new Prr(mss);
  }
}

/** RFC 6675 §4 Update() for one acceptable ACK. */
export function sackOnAck(ep: TcpEndpoint, ack: number, blocks: readonly number[]): SackUpdate {
  const s = ep.snd;
  if (s.sack === undefined) s.sack = new SackRecovery(s.una, ep.maxPayload());
  const sb = s.sack.sb;
  sb.smss = ep.maxPayload();
  s.sack.prr.mss = sb.smss;
  return sb.update(ack, blocks, s.max);
}

/** After the ACK moved SND.UNA (if it did): recovery entry, PRR, exit, and the NextSeg loop. */
export function sackAfterAck(ep: TcpEndpoint, u: SackUpdate, ack: number, acked: number): void {
  const s = ep.snd;
  const rec = s.sack!;
  const sb = rec.sb;
  if (rec.active) {
    if (u.exitedRecovery) {
      // RFC 6675 §5: recovery ends when the cumulative ACK covers RecoveryPoint; RFC 6937 §3 "cwnd = ssthresh"
      // (the controller's RFC 6582 full-ACK rule bounds it by FlightSize + SMSS, avoiding a burst).
      rec.active = false;
      rec.prr.end();
      s.cc.onAckInRecovery(ack, acked, s.flight);
    } else {
      // RFC 6937 §3: on every ACK in recovery, DeliveredData and the RFC 6675 pipe give sndcnt.
      rec.prr.onAck(u.delivered, sb.setPipe());
    }
  } else if (u.enterRecovery) {
    rec.tlp.reset();
    if (rec.ptoDeadline !== 0) {
      // No probe in recovery (RFC 8985 §7.2): the timer goes back to the RTO.
      rec.ptoDeadline = 0;
      ep.armRto();
    }
    // RFC 6675 §5 step 4: the reduction (4.2), RecoveryPoint and the first retransmission (4.1, 4.3), SetPipe (4.4).
    const stats = ep.stack.stats.tcp;
    stats.fastRetransmit++;
    stats.sackRecovery++;
    const flight = s.flight;
    s.cc.enterRecovery(flight, s.max);
    s.recover = s.max;
    rec.prr.start(s.cc.ssthresh, flight);
    rec.active = true;
    const first = sb.enterRecovery();
    const sent = retransmitAt(ep, first.seq, first.len);
    rec.prr.onSent(sent);
    sb.setPipe();
  }
  sackSend(ep);
}

/** RFC 6675 §5.1: the retransmission timer expired (the controller already collapsed cwnd). */
export function sackOnTimeout(ep: TcpEndpoint): boolean {
  const rec = ep.snd.sack!;
  rec.active = false;
  rec.prr.active = false;
  rec.tlp.reset();
  rec.sb.onRetransmitTimeout();
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
  if (!sb.rtoRecovery) return;
  let budget = Math.max(0, s.cc.cwnd - sb.setPipe());
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
  ep.emit(TCP_ACK | (fin ? TCP_FIN : 0) | psh, seq, from, dataLen);
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
    s.cc.enterRecovery(s.flight, s.max);
    s.cc.onAckInRecovery(s.max, 0, s.flight);
  }
}

/**
 * The send side of a connection: the send buffer, segmentation at the MSS,
 * Nagle and sender-side silly window avoidance, ACK processing with RTT
 * measurement, duplicate-ACK fast retransmit, the retransmission timer with
 * exponential backoff, and zero-window probes (persist timer).
 */
import { VectorisedView } from "../../buffer/vectorised-view.ts";
import { TCP_ACK, TCP_FIN, TCP_PSH } from "../../header/tcp.ts";
import {
  seqAdd,
  seqGreaterThan,
  seqLessThan,
  seqLessThanEq,
  seqMax,
  seqSize,
  seqSub,
} from "../../seqnum/seqnum.ts";
import { ErrTimeout } from "../../tcpip/errors.ts";
import type { CongestionControl } from "./congestion.ts";
import { ecnNoteReduction, ecnReductionUnderway } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { EventOut } from "./events.ts";
import { frtoOnAck, frtoOnTimeout } from "./frto.ts";
import {
  armPto,
  noteTransmit,
  onPto,
  rackOnRttSample,
  type SackRecovery,
  sackAfterAck,
  sackOnAck,
  sackOnTimeout,
  sackRecovering,
  tlpOnAck,
} from "./recovery.ts";
import type { RttEstimator } from "./rtt.ts";
import { sendRuns } from "./state.ts";

/** Longest time a partial segment is held by cork or WriteOptions.more. */
export const CORK_MAX_MS = 200;

export class SendState {
  /** ISS (RFC 9293 §3.3.1). */
  iss = 0;
  /** SND.UNA: oldest unacknowledged sequence number. */
  una = 0;
  /** SND.NXT: next sequence number to send (rewound to SND.UNA after a timeout). */
  nxt = 0;
  /** The highest sequence number sent so far (SND.MAX). */
  max = 0;
  /** SND.WND, scaled, in bytes. */
  wnd = 0;
  /** SND.WL1 / SND.WL2: segment sequence and ack numbers of the last window update. */
  wl1 = 0;
  wl2 = 0;
  /** The largest window the peer has offered (MAX.SND.WND, RFC 5961 §5.2; RFC 9293 §3.8.6.2.1). */
  maxWnd = 0;
  /** Snd.Wind.Shift (RFC 7323 §2.3). */
  scale = 0;
  /** The sending MSS: min(peer's MSS option, route MTU - 20, user limit), before option space. */
  mss = 536;
  /** Unacknowledged and unsent data, starting at SND.UNA. */
  readonly buf = new VectorisedView();
  /** Whether the user closed the sending direction; FIN takes sequence number `finSeq`. */
  finQueued = false;
  finSeq = 0;
  dupAcks = 0;
  /** RFC 6582 §3.2 "recover". */
  recover = 0;
  /** Consecutive retransmission timeouts without progress. */
  retries = 0;
  /** RTO doublings (RFC 6298 §5.5). */
  backoff = 0;
  /** Karn-safe RTT timing of one segment when timestamps are off (RFC 6298 §3). */
  rttTiming = false;
  rttSeq = 0;
  rttTime = 0;
  /** Zero-window probes sent without the window opening. */
  probes = 0;
  persistBackoff = 0;
  /** When the oldest unacknowledged data was (first) sent, for the user timeout (RFC 5482). */
  unaTime = 0;
  lastSendTime = 0;
  /** End of the last segment sent smaller than the MSS (Nagle, Minshall's variant). */
  smallEnd = 0;
  /** A write asked to hold a partial segment (WriteOptions.more). */
  held = false;
  /** Send one segment now even if Nagle or SWS avoidance would wait (persist override, RFC 9293 §3.8.6.2.1). */
  force = false;
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  /** RFC 6675 scoreboard and PRR (recovery.ts), once an ACK arrived on a connection that negotiated SACK. */
  sack: SackRecovery | undefined = undefined;
  /** When a SYN or SYN-ACK was first sent, for the handshake RTT sample. */
  synTime = 0;
  /** The smallest RTT sample (ms): RACK's min_RTT starts from it when SACK recovery state is made. */
  minRtt = Number.POSITIVE_INFINITY;
  /** Segments retransmitted (TCP_INFO tcpi_total_retrans). */
  rxtSegs = 0;
  /** Retransmissions a D-SACK reported received twice (RFC 2883 §4: spurious). */
  spuriousRxtSegs = 0;
  /** ECN (ecn.ts, RFC 3168 §6.1.2): the next new data segment carries CWR. */
  cwrPending = false;
  /** ECN: a window reduction is under way until SND.UNA passes `cwrEnd` (SND.MAX when it began). */
  cwrActive = false;
  cwrEnd = 0;
  /**
   * RTO recovery (RFC 5682 §2.1 step 1): a timeout fired and `rtoHigh` (SND.MAX then) is not yet
   * acknowledged; a spurious timeout (F-RTO) ends it.
   */
  rtoRecovery = false;
  rtoHigh = 0;
  /** F-RTO (frto.ts, RFC 5682): the step waited for (0: none; 2: the first new ACK; 3: the next ACK). */
  frtoStep = 0;
  /**
   * F-RTO runs its SACK-enhanced variant (RFC 5682 §3): the timeout found the SACK scoreboard made, so RTO
   * recovery walks its holes; otherwise the basic one (§2.1) with go-back-N, as the timeout itself chose.
   */
  frtoSack = false;
  /** F-RTO's "recover": SND.MAX at the timeout (one past its highest sequence number). */
  frtoRecover = 0;
  /** End of the segment the timeout retransmitted (§2.1 step 2a: the first ACK must cover it). */
  frtoRxtEnd = 0;
  /** cwnd and ssthresh before the timeout's reduction, for the undo (RFC 4015 response, as Linux). */
  frtoCwnd = 0;
  frtoSsthresh = 0;
  /** SACKed bytes below `frtoRecover` when step 3 began (§3 step 3b: newly SACKed old data). */
  frtoSacked = 0;
  /** Bytes of new data `trySend` may send beyond cwnd (F-RTO step 2b's two segments). */
  frtoAllow = 0;

  constructor(
    public bufSize: number,
    rto: RttEstimator,
    cc: CongestionControl,
  ) {
    this.rtt = rto;
    this.cc = cc;
  }

  /** Sequence number after the last queued data byte. */
  get dataEnd(): number {
    return seqAdd(this.una, this.buf.size);
  }

  /** Whether our FIN was sent and acknowledged. */
  get finAcked(): boolean {
    return this.finQueued && seqGreaterThan(this.una, this.finSeq);
  }

  /** Bytes in flight (SND.NXT - SND.UNA). */
  get flight(): number {
    return seqSize(this.una, this.nxt);
  }

  /** Room left in the send buffer. */
  get space(): number {
    return Math.max(0, this.bufSize - this.buf.size);
  }
}

/**
 * Sends what the windows, Nagle and silly window avoidance allow, from
 * SND.NXT on (RFC 9293 §3.8.6.2.1, RFC 896, RFC 5681 §3.1).
 */
export function trySend(ep: TcpEndpoint): void {
  if (!sendRuns(ep.state)) return;
  // RFC 6675 fast recovery sends through the NextSeg loop within PRR's sndcnt (recovery.ts).
  if (sackRecovering(ep)) return;
  const s = ep.snd;
  const now = ep.now();
  if (s.una === s.max && s.lastSendTime > 0 && now - s.lastSendTime > s.rtt.rto) {
    // RFC 5681 §4.1: after an idle period longer than the RTO, restart from the restart window.
    s.cc.onIdleRestart();
  }
  for (;;) {
    const dataEnd = s.dataEnd;
    const avail = seqLessThan(s.nxt, dataEnd) ? seqSize(s.nxt, dataEnd) : 0;
    const finToSend = s.finQueued && s.nxt === s.finSeq;
    if (avail === 0 && !finToSend) break;
    const flight = s.flight;
    const maxPayload = ep.maxPayload();
    const limit = Math.min(s.wnd, s.cc.cwnd);
    let usable = Math.max(0, limit - flight);
    // RFC 5682 §2.1 step 2b: F-RTO's new segments take the place of the retransmissions cwnd allows.
    if (s.frtoAllow > 0) usable = Math.max(usable, Math.min(s.frtoAllow, s.wnd - flight));
    // A HardwareGSO link takes one super-segment of whole MSS parts (issue 8); only the queue's tail
    // may end in a partial part, unless a cork or MSG_MORE holds it.
    const gsoMax = ep.gsoPayload();
    let len = Math.min(avail, Math.max(gsoMax, maxPayload), usable);
    // A CWR segment goes alone, not in a GSO super-segment (RFC 3168 §6.1.2: on "the first new data
    // packet"; a device repeating the header would set it on every part, as Linux avoids with SKB_GSO_TCP_ECN).
    if (s.cwrPending && len > maxPayload && ep.ecn) len = maxPayload;
    if (len > maxPayload && (len < avail || s.held || ep.cork)) len -= len % maxPayload;
    if (avail > 0 && len === 0) {
      // Window (or cwnd) closed: the persist timer probes a zero window (RFC 9293 §3.8.6.1).
      if (flight === 0) ep.armPersist();
      break;
    }
    // GSO deferral (as Linux's tcp_tso_should_defer): with data in flight, more queued than the windows
    // allow and under a third of the window free, the coming ACKs make room for a fuller super-segment.
    if (gsoMax > 0 && flight > 0 && len < avail && len < gsoMax && usable < limit / 3 && !s.force) {
      if (!seqLessThan(s.nxt, s.max)) break;
    }
    // Data sent before (go-back after a timeout or a smaller path MTU) is not held back again.
    if (avail > 0 && len < maxPayload && !s.force && !seqLessThan(s.nxt, s.max)) {
      if (len < avail) {
        // RFC 9293 §3.8.6.2.1: with more data queued than fits, send only if "at least a fraction Fs
        // [1/2] of the maximum window can be sent"; otherwise wait for the window or the override timeout.
        if (len < s.maxWnd / 2) {
          if (flight === 0) ep.armPersist();
          break;
        }
      } else {
        // The tail of the queued data. Held by MSG_MORE/cork; Nagle (RFC 896; RFC 9293 §3.7.4):
        // "if there is unacknowledged data, then the sending TCP buffers all user data ... until
        // the outstanding data has been acknowledged or until ... a full-sized segment".
        if (s.held || ep.cork) {
          // Linux caps corking at 200 ms (TCP_CORK in tcp(7)); so do we, for MSG_MORE-style writes too.
          ep.corkTimer.armIfIdle(CORK_MAX_MS);
          break;
        }
        // Minshall's variant, as Linux (tcp_minshall_check): hold only while an earlier small
        // segment is unacknowledged, so a partial tail after full segments goes at once.
        if (!ep.noDelay && flight > 0 && seqGreaterThan(s.smallEnd, s.una)) break;
      }
    }
    s.force = false;
    if (len < 0) len = 0;
    if (len > 0 && len < maxPayload) ep.corkTimer.stop();
    let flags = TCP_ACK;
    const fin = s.finQueued && seqAdd(s.nxt, len) === s.finSeq;
    if (fin) flags |= TCP_FIN;
    if (len > 0 && len === avail) flags |= TCP_PSH;
    const seq = s.nxt;
    const retransmit = seqLessThan(seq, s.max);
    if (flight === 0) s.unaTime = now;
    if (retransmit) ep.stack.stats.tcp.retransmits++;
    else if (!s.rttTiming && !ep.rcv.tsEnabled && len > 0) {
      s.rttTiming = true;
      s.rttSeq = seq;
      s.rttTime = now;
    }
    // State first, then the segment: a link that delivers synchronously may bring the peer's
    // answer back while we are still inside `emit`.
    s.nxt = seqAdd(seq, len + (fin ? 1 : 0));
    s.max = seqMax(s.max, s.nxt);
    if (len < maxPayload || len % maxPayload !== 0) s.smallEnd = s.nxt;
    s.lastSendTime = now;
    if (s.frtoAllow > 0) s.frtoAllow = Math.max(0, s.frtoAllow - len);
    if (ep.rtxMode !== "rto" || !ep.rtxTimer.pending) ep.armRto();
    noteTransmit(ep, seq, len + (fin ? 1 : 0), retransmit);
    ep.emit(flags, seq, seqSize(s.una, seq), len, retransmit);
    if (!sendRuns(ep.state)) return;
  }
}

/** Retransmits the segment at SND.UNA (fast retransmit, partial ACK, timeout) without moving SND.NXT back. */
export function retransmitFirst(ep: TcpEndpoint): number {
  const s = ep.snd;
  const len = Math.min(s.buf.size, ep.maxPayload());
  const fin = s.finQueued && seqAdd(s.una, len) === s.finSeq;
  if (len === 0 && !fin) return 0;
  const una = s.una;
  ep.stack.stats.tcp.retransmits++;
  s.rttTiming = false;
  s.lastSendTime = ep.now();
  const end = seqAdd(una, len + (fin ? 1 : 0));
  if (seqLessThan(s.nxt, end)) s.nxt = end;
  s.max = seqMax(s.max, s.nxt);
  noteTransmit(ep, una, len + (fin ? 1 : 0), true);
  ep.emit(TCP_ACK | (fin ? TCP_FIN : 0) | (len > 0 && len === s.buf.size ? TCP_PSH : 0), una, 0, len, true);
  return len + (fin ? 1 : 0);
}

/**
 * RFC 9293 §3.10.7.4 "fifth, check the ACK field" for synchronized states.
 * Returns false when the segment must be dropped.
 */
export function processAck(
  ep: TcpEndpoint,
  ack: number,
  seq: number,
  window: number,
  hasData: boolean,
  synFin: boolean,
  tsEcr: number,
  sackBlocks?: readonly number[],
  ece = false,
): boolean {
  const s = ep.snd;
  // RFC 9293 §3.10.7.4: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK,
  // drop the segment". SND.MAX stands for SND.NXT since a timeout rewinds SND.NXT.
  if (seqGreaterThan(ack, s.max)) {
    ep.sendAck();
    return false;
  }
  // RFC 5961 §5.2: acceptable only if "(SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT"; otherwise
  // "discarded and an ACK sent back".
  if (seqLessThan(ack, seqSub(s.una, Math.max(s.maxWnd, 1)))) {
    ep.sendChallengeAck();
    return false;
  }
  const wndBefore = s.wnd;
  let windowChanged = false;
  // RFC 9293 §3.10.7.4: update the send window "If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK))".
  if (
    seqLessThanEq(s.una, ack) &&
    (seqLessThan(s.wl1, seq) || (s.wl1 === seq && seqLessThanEq(s.wl2, ack)))
  ) {
    const w = window * 2 ** s.scale;
    windowChanged = w !== s.wnd;
    s.wnd = w;
    s.wl1 = seq;
    s.wl2 = ack;
    if (w > s.maxWnd) s.maxWnd = w;
  }
  // RFC 6675 §4 Update() on every acceptable ACK of a SACK connection.
  // The scoreboard is made when the first SACK block arrives (idle connections carry none).
  const sackUpd =
    ep.rcv.sackEnabled &&
    (s.sack !== undefined ||
      (sackBlocks !== undefined && sackBlocks.length > 0) ||
      (ep.opts.rack && seqGreaterThan(ack, s.una) && ack !== s.max))
      ? sackOnAck(ep, ack, sackBlocks ?? [])
      : undefined;
  const acked = seqGreaterThan(ack, s.una) ? seqSize(s.una, ack) : 0;
  // RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT": outstanding data, no data, no SYN/FIN, SEG.ACK = SND.UNA,
  // and an unchanged advertised window.
  const dup = acked === 0 && ack === s.una && s.max !== s.una && !hasData && !synFin && !windowChanged;
  if (acked > 0) newAck(ep, ack, tsEcr);
  else if (dup) onDupAck(ep);
  // F-RTO (RFC 5682 steps 2 and 3) after a timeout, before SACK recovery sends anything for this ACK.
  if (s.frtoStep !== 0 && sendRuns(ep.state)) frtoOnAck(ep, ack, acked, dup, ece, sackBlocks, sackUpd);
  if (sackUpd !== undefined && sendRuns(ep.state)) {
    sackAfterAck(ep, sackUpd, ack, acked, tsEcr);
    // RFC 8985 §7.4.2 and §7.2: settle an outstanding probe; re-arm the PTO on an ACK of new data.
    tlpOnAck(ep, sackUpd, ack);
    if (acked > 0 && s.una !== s.max) armPto(ep);
  }
  if (s.wnd > 0 && wndBefore === 0) {
    s.probes = 0;
    s.persistBackoff = 0;
    if (ep.rtxMode === "persist") ep.rtxTimer.stop();
  }
  return true;
}

function newAck(ep: TcpEndpoint, ack: number, tsEcr: number): void {
  const s = ep.snd;
  const now = ep.now();
  const acked = seqSize(s.una, ack);
  const dataAcked = Math.min(acked, s.buf.size);
  s.buf.trimFront(dataAcked);
  s.una = ack;
  if (seqLessThan(s.nxt, s.una)) s.nxt = s.una;
  // RTT sample: RFC 7323 §4.1 from the echoed timestamp, else one timed segment (RFC 6298 §3, Karn's rule).
  let sample = -1;
  if (ep.rcv.tsEnabled && tsEcr !== 0) {
    sample = (ep.tsNow() - tsEcr) | 0;
  } else if (s.rttTiming && seqGreaterThan(ack, s.rttSeq)) {
    sample = now - s.rttTime;
    s.rttTiming = false;
  }
  if (sample >= 0) {
    s.rtt.sample(sample);
    s.sack?.tlp.onRttSample();
    if (sample < s.minRtt) s.minRtt = sample;
    rackOnRttSample(ep, sample);
    s.cc.onRttSample?.(sample);
  }
  s.cc.onAckSeq?.(ack, s.nxt);
  // RFC 6298 §5.7 (backoff kept until new data is acknowledged, then recomputed).
  s.backoff = 0;
  s.retries = 0;
  s.probes = 0;
  if (s.sack !== undefined) {
    // SACK recovery (recovery.ts) owns the window in recovery; outside it the controller grows as usual.
    if (!s.sack.active) s.cc.onAck(acked, now);
  } else if (s.cc.inRecovery) {
    if (s.cc.onAckInRecovery(ack, acked, s.flight) === "partial") {
      // RFC 6582 §3.2 step 3: "retransmit the first unacknowledged segment".
      retransmitFirst(ep);
    }
  } else {
    s.cc.onAck(acked, now);
  }
  s.dupAcks = 0;
  if (s.una === s.max) {
    // RFC 6298 §5.2: "When all outstanding data has been acknowledged, turn off the retransmission timer."
    if (ep.rtxMode === "rto") ep.rtxTimer.stop();
  } else {
    // RFC 6298 §5.3: "When an ACK is received that acknowledges new data, restart the retransmission timer".
    s.unaTime = now;
    ep.armRto();
  }
  if (dataAcked > 0) ep.notify(EventOut);
}

function onDupAck(ep: TcpEndpoint): void {
  const s = ep.snd;
  s.dupAcks++;
  // With SACK the scoreboard decides (RFC 6675 §5), not the third duplicate ACK.
  if (s.sack !== undefined) return;
  if (s.cc.inRecovery) {
    s.cc.onDupAckInRecovery();
    return;
  }
  // RFC 6582 §3.2 step 1: enter fast retransmit on the third duplicate only if "the Cumulative
  // Acknowledgment field ... covers more than recover".
  if (s.dupAcks === 3 && seqGreaterThan(s.una, s.recover)) {
    ep.stack.stats.tcp.fastRetransmit++;
    ep.stack.stats.tcp.fastRecovery++;
    // RFC 3168 §6.1.2: a window already reduced for ECE is not reduced again.
    s.cc.enterRecovery(s.flight, s.max, ecnReductionUnderway(ep));
    s.recover = s.max;
    ecnNoteReduction(ep);
    retransmitFirst(ep);
  }
}

/** The retransmission timer expired (RFC 6298 §5.4–5.6) in a synchronized state. */
export function onRetransmitTimeout(ep: TcpEndpoint): void {
  const s = ep.snd;
  if (!sendRuns(ep.state) || s.una === s.max) return;
  // The timer was armed as the tail loss probe timeout (RFC 8985 §7.3).
  if (onPto(ep)) return;
  const now = ep.now();
  // RFC 5482 §2 / Linux TCP_USER_TIMEOUT: give up when data stayed unacknowledged this long.
  if (ep.userTimeout > 0 && now - s.unaTime >= ep.userTimeout) {
    ep.abort(new ErrTimeout(), false);
    return;
  }
  // RFC 9293 §3.8.3 R2: after enough retransmissions, "close the connection". A peer that keeps
  // answering with a zero window is alive (Linux tcp_retransmit_timer): it does not use up retries.
  const peerAlive = s.wnd === 0 && now - ep.lastRcvTime < ep.opts.maxRtoMs;
  if (s.retries >= ep.opts.maxRetries && !peerAlive) {
    ep.abort(new ErrTimeout(), false);
    return;
  }
  if (!peerAlive) s.retries++;
  s.backoff++;
  ep.stack.stats.tcp.timeouts++;
  if (s.cc.cwnd < s.cc.ssthresh) ep.stack.stats.tcp.slowStartRetransmits++;
  // RFC 5682 step 1 (F-RTO), before the reduction it may later undo.
  const frto = frtoOnTimeout(ep);
  s.cc.onRetransmitTimeout(s.flight);
  ecnNoteReduction(ep);
  // RFC 6582 §3.2 step 4: "After a retransmit timeout, record the highest sequence number transmitted in recover".
  s.recover = s.max;
  s.dupAcks = 0;
  s.rttTiming = false;
  if (s.sack !== undefined) {
    // RFC 6675 §5.1: resend the holes the scoreboard knows, skipping SACKed data, within cwnd − pipe.
    if (!sackOnTimeout(ep)) retransmitFirst(ep);
    // RFC 5682 §3 step 1: the first unacknowledged segment went; F-RTO waits for its ACK (step 2), and
    // sends nothing more until then (`sackSend` holds RTO recovery back while `frtoStep` is set).
    if (frto) s.frtoStep = 2;
    ep.armRto();
    return;
  }
  // Go back to SND.UNA: resend the first segment now, the rest as ACKs open the window. F-RTO (RFC 5682
  // §2.1 step 1) resends the first segment alone and keeps SND.NXT, to send new data on the next ACK.
  if (!frto) s.nxt = s.una;
  retransmitFirst(ep);
  if (frto) s.frtoStep = 2;
  ep.armRto();
}

/** The persist timer expired: probe the zero window, or override SWS avoidance (RFC 9293 §3.8.6.1, §3.8.6.2.1). */
export function onPersistTimeout(ep: TcpEndpoint): void {
  const s = ep.snd;
  if (!sendRuns(ep.state)) return;
  const avail = seqLessThan(s.nxt, s.dataEnd) ? seqSize(s.nxt, s.dataEnd) : 0;
  if (avail === 0) return;
  if (ep.userTimeout > 0 && s.probes > 0 && ep.now() - ep.lastRcvTime >= ep.userTimeout) {
    ep.abort(new ErrTimeout(), false);
    return;
  }
  if (s.wnd === 0) {
    if (s.probes >= ep.opts.maxRetries && ep.now() - ep.lastRcvTime > ep.opts.maxRtoMs) {
      ep.abort(new ErrTimeout(), false);
      return;
    }
    // A zero-window probe as Linux sends it (tcp_xmit_probe_skb): an old sequence number makes the
    // peer answer with an ACK carrying its current window (RFC 9293 §3.10.7.4 first check).
    ep.emitAck(seqSub(s.una, 1));
    s.probes++;
    s.persistBackoff++;
    ep.armPersist();
    return;
  }
  s.force = true;
  trySend(ep);
  s.force = false;
}

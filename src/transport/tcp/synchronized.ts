/**
 * Segment arrival in the synchronized states, SYN-RECEIVED through LAST-ACK
 * (RFC 9293 §3.10.7.4), in the RFC's order: PAWS, sequence check, RST, SYN,
 * ACK, text, FIN. What differs per state sits in the small handler tables
 * at the bottom (`ON_FIN_ACKED`, `ON_FIN`), not in one switch.
 */
import { TCP_ECE } from "../../header/tcp.ts";
import {
  inWindow,
  seqAdd,
  seqGreaterThanEq,
  seqLessThan,
  seqLessThanEq,
  seqSize,
} from "../../seqnum/seqnum.ts";
import { ErrConnectionAborted, ErrConnectionRefused, ErrConnectionReset } from "../../tcpip/errors.ts";
import { expandSendBuffer, onDataReceived } from "./buffer-autotune.ts";
import { ecnOnAck, ecnOnData } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { EventHUp, EventIn } from "./events.ts";
import type { Segment } from "./segment.ts";
import { processAck } from "./snd.ts";
import { acceptsData, type TcpState } from "./state.ts";

/** RFC 7323 §5.5: TS.Recent older than 24 days is no longer valid for PAWS. */
const PAWS_IDLE_MS = 24 * 24 * 60 * 60 * 1000;

/** RFC 9293 §3.10.7.4 "first check sequence number", the four cases of segment acceptability. */
export function acceptable(seq: number, len: number, nxt: number, wnd: number): boolean {
  if (len === 0) return wnd === 0 ? seq === nxt : inWindow(seq, nxt, wnd);
  // Zero window: "special allowance should be made to accept valid ACKs, URGs, and RSTs" — a segment
  // at RCV.NXT goes on to ACK processing; its text is trimmed away.
  if (wnd === 0) return seq === nxt;
  return inWindow(seq, nxt, wnd) || inWindow(seqAdd(seq, len - 1), nxt, wnd);
}

export function handleSynchronized(ep: TcpEndpoint, seg: Segment): void {
  const r = ep.rcv;
  const stats = ep.stack.stats.tcp;
  const now = ep.now();

  // A retransmitted SYN in SYN-RECEIVED asks for our SYN-ACK again (its sequence number is old).
  if (ep.state === "SYN-RECEIVED" && seg.syn && !seg.hasAck && !seg.rst && seg.seq === r.irs) {
    ep.sendSyn();
    return;
  }
  // Simultaneous open (RFC 9293 §3.5 figure 8): the peer's SYN-ACK crossing ours acknowledges our SYN.
  // Its sequence number is RCV.NXT - 1; like Linux (tcp_validate_incoming) take it as the ACK it carries.
  if (
    ep.state === "SYN-RECEIVED" &&
    !ep.listener &&
    seg.syn &&
    seg.hasAck &&
    !seg.rst &&
    seqAdd(seg.seq, 1) === r.nxt &&
    seg.ack === ep.snd.max
  ) {
    if (synReceivedAck(ep, seg)) r.ackNow = true;
    return;
  }

  // RFC 7323 §5.3 R1: "If there is a Timestamps option in the arriving segment, SEG.TSval < TS.Recent,
  // TS.Recent is valid, and if the RST bit is not set, then treat the arriving segment as not acceptable".
  const opt = seg.options;
  if (r.tsEnabled && opt.timestamp && !seg.rst && seqLessThan(opt.tsVal, r.tsRecent)) {
    if (now - r.tsRecentTime < PAWS_IDLE_MS) {
      stats.pawsRejected++;
      // RFC 2883 §4: a D-SACK reports data received twice; only the part below RCV.NXT is known to be
      // (Linux tcp_send_dupack likewise). The rest was not accepted and must not look SACKed.
      if (seg.payload.length > 0 && seqLessThan(seg.seq, r.nxt)) {
        const end = seqAdd(seg.seq, seg.payload.length);
        r.setDsack(seg.seq, seqLessThan(end, r.nxt) ? end : r.nxt);
      }
      ep.sendOutOfWindowAck(seg.seqLen === 0);
      return;
    }
  }

  // First: sequence number.
  if (!acceptable(seg.seq, seg.seqLen, r.nxt, r.window)) {
    // "If an incoming segment is not acceptable, an acknowledgment should be sent in reply (unless the RST
    // bit is set, if so drop the segment and return)".
    if (seg.rst) return;
    const end = seqAdd(seg.seq, seg.payload.length);
    // RFC 2883 §4.1: report a duplicate segment in a D-SACK block.
    if (seg.payload.length > 0 && seqLessThanEq(end, r.nxt)) r.setDsack(seg.seq, end);
    ep.sendOutOfWindowAck(seg.seqLen === 0);
    return;
  }
  ep.lastRcvTime = now;
  ep.keepaliveProbes = 0;

  // RFC 7323 §4.3 (2): "If SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent, then SEG.TSval is copied to TS.Recent".
  if (
    r.tsEnabled &&
    opt.timestamp &&
    seqGreaterThanEq(opt.tsVal, r.tsRecent) &&
    seqLessThanEq(seg.seq, r.lastAckSent)
  ) {
    r.tsRecent = opt.tsVal;
    r.tsRecentTime = now;
  }

  // Second: RST. RFC 5961 §3.2: reset only on an exact match of RCV.NXT; otherwise a challenge ACK.
  if (seg.rst) {
    stats.resetsReceived++;
    if (seg.seq === r.nxt) onReset(ep);
    else ep.sendChallengeAck();
    return;
  }

  // Fourth: SYN. RFC 5961 §4.2: any SYN in a synchronized state gets a challenge ACK, never a reset.
  if (seg.syn) {
    ep.sendChallengeAck();
    return;
  }

  // Fifth: ACK. "if the ACK bit is off, drop the segment and return".
  if (!seg.hasAck) return;
  if (ep.state === "SYN-RECEIVED" && !synReceivedAck(ep, seg)) return;
  if (
    !processAck(
      ep,
      seg.ack,
      seg.seq,
      seg.window,
      seg.payload.length > 0,
      seg.fin,
      opt.timestamp ? opt.tsEcr : 0,
      opt.sackBlocks,
      ep.ecn && (seg.flags & TCP_ECE) !== 0,
    )
  )
    return;
  if (ep.ecn) {
    // RFC 3168 §6.1.2 (ECE: reduce once per window) and §6.1.3 (CE data: ECE until CWR).
    ecnOnAck(ep, seg.flags);
    if (seg.payload.length > 0) ecnOnData(ep, seg.flags, seg.ipEcn);
  }
  expandSendBuffer(ep);
  if (ep.snd.finAcked) ON_FIN_ACKED[ep.state]?.(ep);
  if (ep.state === "CLOSED") return;

  // Sixth (URG) is not supported: urgent data is delivered inline. Seventh and eighth: text and FIN.
  processText(ep, seg, seg.seq);
}

/** RFC 9293 §3.10.7.4 SYN-RECEIVED: "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state". */
function synReceivedAck(ep: TcpEndpoint, seg: Segment): boolean {
  const s = ep.snd;
  if (!(seqLessThan(s.una, seg.ack) && seqLessThanEq(seg.ack, s.max))) {
    // "If the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
    ep.sendRst(seg.ack, 0, false);
    return false;
  }
  const l = ep.listener;
  if (l) {
    if (l.state !== "LISTEN") {
      ep.abort(new ErrConnectionAborted(), true);
      return false;
    }
    if (l.acceptQueue.length >= l.backlog) {
      // Linux drops the ACK while the accept queue is full; our SYN-ACK retransmission retries.
      ep.stack.stats.tcp.listenOverflowAckDrop++;
      return false;
    }
  }
  s.una = seg.ack;
  s.wnd = seg.window * 2 ** s.scale;
  s.maxWnd = Math.max(s.maxWnd, s.wnd);
  s.wl1 = seg.seq;
  s.wl2 = seg.ack;
  const opt = seg.options;
  if (ep.rcv.tsEnabled && opt.timestamp && opt.tsEcr !== 0)
    s.rtt.sample(Math.max(0, (ep.tsNow() - opt.tsEcr) | 0));
  else if (s.retries === 0) s.rtt.sample(ep.now() - s.synTime);
  ep.established();
  if (l) {
    l.synQueue.delete(ep);
    l.acceptQueue.push(ep);
    l.notify(EventIn);
  }
  return true;
}

/** RFC 9293 §3.10.7.4 "second, check the RST bit", per state. */
function onReset(ep: TcpEndpoint): void {
  const stats = ep.stack.stats.tcp;
  switch (ep.state) {
    case "SYN-RECEIVED":
      // "If this connection was initiated with a passive OPEN ... then return this connection to LISTEN";
      // the listener never kept it, so the child just goes. An active open is refused.
      if (ep.listener) ep.cleanup();
      else ep.abort(new ErrConnectionRefused(), false);
      return;
    case "ESTABLISHED":
    case "CLOSE-WAIT":
      stats.establishedResets++;
      ep.abort(new ErrConnectionReset(), false);
      return;
    case "FIN-WAIT-1":
    case "FIN-WAIT-2":
      ep.abort(new ErrConnectionReset(), false);
      return;
    default:
      // CLOSING, LAST-ACK: "enter the CLOSED state, delete the TCB, and return".
      ep.cleanup();
  }
}

/** Seventh and eighth steps: segment text and FIN, from sequence number `seq` (after any SYN). */
export function processText(ep: TcpEndpoint, seg: Segment, start: number): void {
  const r = ep.rcv;
  if (!acceptsData(ep.state)) return;
  let seq = start;
  let data = seg.payload;
  let fin = seg.fin;
  // Trim what we already have (RFC 9293 §3.10.7.4: segments are "trimmed ... to lie within the window").
  if (seqLessThan(seq, r.nxt)) {
    const dup = seqSize(seq, r.nxt);
    if (data.length > 0) r.setDsack(seq, seqAdd(seq, Math.min(dup, data.length)));
    if (dup >= data.length) {
      if (dup > data.length) fin = false;
      data = data.subarray(data.length);
    } else {
      data = data.subarray(dup);
    }
    seq = r.nxt;
    if (data.length === 0 && !fin) {
      r.ackNow = true;
      return;
    }
  }
  // And what lies beyond the right window edge.
  const off = seqSize(r.nxt, seq);
  const room = Math.max(0, r.window - off);
  if (data.length > room) {
    data = data.subarray(0, room);
    fin = false;
    r.ackNow = true;
  }
  if (data.length === 0 && !fin) return;
  // New data after the user closed: no one will read it. RFC 9293 §3.10.4 / RFC 2525 §2.17, as Linux: reset.
  if (data.length > 0 && ep.closedByUser) {
    ep.abort(new ErrConnectionAborted(), true);
    return;
  }
  const readable = r.accept(seq, data, fin, seg.keepable, seg.lease);
  onDataReceived(ep, data.length, seg.options.timestamp ? seg.options.tsEcr : 0);
  if (readable > 0 && !ep.rcvShutdown) ep.notify(EventIn);
  if (ep.rcvShutdown && r.queue.size > 0) r.dropQueued();
  if (r.finReceived && !ep.finNoted) {
    ep.finNoted = true;
    ON_FIN[ep.state]?.(ep);
    ep.notify(EventIn | (ep.sndShutdown ? EventHUp : 0));
  }
}

/** What our FIN being acknowledged does, per state (RFC 9293 §3.10.7.4 "fifth", state list). */
const ON_FIN_ACKED: Partial<Record<TcpState, (ep: TcpEndpoint) => void>> = {
  // "FIN-WAIT-1 STATE: ... if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
  "FIN-WAIT-1": (ep) => {
    ep.setState("FIN-WAIT-2");
    ep.rtxTimer.stop();
    if (ep.closedByUser) ep.stateTimer.arm(ep.opts.finTimeoutMs);
  },
  // "CLOSING STATE: ... if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
  CLOSING: (ep) => ep.enterTimeWait(),
  // "LAST-ACK STATE: The only thing that can arrive in this state is an acknowledgment of our FIN. If our
  // FIN is now acknowledged, delete the TCB, enter the CLOSED state, and return."
  "LAST-ACK": (ep) => {
    ep.stack.stats.tcp.establishedClosed++;
    ep.cleanup();
  },
};

/** What the peer's FIN does, per state (RFC 9293 §3.10.7.4 "eighth, check the FIN bit"). */
const ON_FIN: Partial<Record<TcpState, (ep: TcpEndpoint) => void>> = {
  ESTABLISHED: (ep) => ep.setState("CLOSE-WAIT"),
  // "FIN-WAIT-1 STATE: If our FIN has been ACKed ... enter TIME-WAIT ...; otherwise, enter the CLOSING state."
  "FIN-WAIT-1": (ep) => {
    if (ep.snd.finAcked) ep.enterTimeWait();
    else ep.setState("CLOSING");
  },
  // "FIN-WAIT-2 STATE: Enter the TIME-WAIT state."
  "FIN-WAIT-2": (ep) => ep.enterTimeWait(),
};

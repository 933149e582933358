/**
 * TCP connection tracking for one connection, seen from the middle: the
 * tracker never sends, it watches segments in both directions and decides
 * whether each one fits the connection as both ends must see it.
 *
 * Read RFC 9293 §3.3.2 (states), §3.5 (opening, simultaneous open), §3.6
 * (closing) and §3.10.7 (segment arrives), RFC 7323 §2 (window scale) and
 * RFC 5961 (blind in-window attacks) first.
 *
 * Pure: no clock, no I/O, no packet buffers. Callers pass the parsed fields of
 * each segment (`TcpSegment`) and say which direction it travelled. The
 * "original" direction is the one that sent the first SYN, the "reply"
 * direction the other (Linux conntrack's words).
 *
 * Each connection state has a handler function (`HANDLERS`), as in the seed's
 * tcpconntrack; a handler checks a segment, updates the two `TcbStream`s and
 * the TCB then derives its state from the streams.
 */
import { seqAdd, seqLessThanEq as seqLe, seqLessThan as seqLt, seqMax } from "../seqnum/seqnum.ts";

// Flag bits of the TCP header (RFC 9293 §3.1), as numbers so the tracker does not depend on packet code.
export const FLAG_FIN = 1;
export const FLAG_SYN = 2;
export const FLAG_RST = 4;
export const FLAG_ACK = 16;

/** The parsed fields of one segment, all the tracker reads. */
export interface TcpSegment {
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit Window field (unscaled). */
  window: number;
  payloadLength: number;
  /** Window Scale option shift count (RFC 7323 §2.2), -1 when absent. Read only on SYN segments. */
  windowScale: number;
}

/** What a segment means for the connection (the seed's results). */
export const ResultDrop = 0;
/** The handshake is under way. */
export const ResultConnecting = 1;
/** The connection is established (possibly half closed). */
export const ResultAlive = 2;
/** The connection was reset. */
export const ResultReset = 3;
/** Both directions closed gracefully; the reply direction (the peer of the originator) closed first. */
export const ResultClosedByPeer = 4;
/** Both directions closed gracefully; the original direction (the originator itself) closed first. */
export const ResultClosedBySelf = 5;
export type Result = 0 | 1 | 2 | 3 | 4 | 5;

export const RESULT_NAMES = ["drop", "connecting", "alive", "reset", "closedByPeer", "closedBySelf"] as const;

/**
 * Connection states, named and timed like Linux's nf_conntrack (so
 * `nf_conntrack_tcp_timeout_*` maps one to one), derived from the two streams.
 */
export const TCP_SYN_SENT = 0;
/** Simultaneous open: a SYN in each direction, neither acknowledged yet (RFC 9293 §3.5 Figure 7). */
export const TCP_SYN_SENT2 = 1;
export const TCP_SYN_RECV = 2;
export const TCP_ESTABLISHED = 3;
/** One direction sent a FIN that is not acknowledged yet. */
export const TCP_FIN_WAIT = 4;
/** One direction's FIN is acknowledged; the other still sends. */
export const TCP_CLOSE_WAIT = 5;
/** Both directions sent a FIN; at least one is not acknowledged yet. */
export const TCP_LAST_ACK = 6;
/** Both FINs acknowledged. */
export const TCP_TIME_WAIT = 7;
/** Reset. */
export const TCP_CLOSE = 8;
export type TcpState = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

export const TCP_STATE_NAMES = [
  "syn_sent",
  "syn_sent2",
  "syn_recv",
  "established",
  "fin_wait",
  "close_wait",
  "last_ack",
  "time_wait",
  "close",
] as const;

/** One direction's progress: what its sender has done and what the other side acknowledged of it. */
export const STREAM_NONE = 0;
export const STREAM_SYN_SENT = 1;
/** Its SYN is acknowledged. */
export const STREAM_ESTABLISHED = 2;
export const STREAM_FIN_SENT = 3;
/** Its FIN is acknowledged. */
export const STREAM_CLOSED = 4;
export const STREAM_RESET = 5;
export type StreamState = 0 | 1 | 2 | 3 | 4 | 5;

/** RFC 7323 §2.3: a shift count above 14 is used as 14. */
const MAX_WINDOW_SCALE = 14;

/** The sequence space of one direction, in the words of its sender. */
export class TcbStream {
  state: StreamState = STREAM_NONE;
  /** Initial sequence number. */
  iss = 0;
  /** One past the furthest sequence number sent (the sender's SND.NXT as far as anyone can tell). */
  nxt = 0;
  /** Right edge of what the other side allows: the largest SEG.ACK + SEG.WND it advertised. */
  end = 0;
  /** Highest acknowledgment this sender sent about the other direction (its RCV.NXT as last announced). */
  ackSent = 0;
  /** Largest window this sender advertised, scaled (RFC 5961 §5.2's MAX.SND.WND as the other side sees it). */
  maxWindow = 0;
  /** Shift applied to this sender's Window field: its SYN's option when both SYNs carried one, else 0. */
  scale = 0;
  /** The Window Scale option of this sender's SYN, -1 when absent. */
  synScale = -1;
  /** Sequence number of the FIN (meaningful from `STREAM_FIN_SENT`). */
  finSeq = 0;

  /** RFC 9293 §3.4: SYN and FIN occupy a sequence number each. */
  static logicalLength(seg: TcpSegment): number {
    return seg.payloadLength + (seg.flags & FLAG_SYN ? 1 : 0) + (seg.flags & FLAG_FIN ? 1 : 0);
  }
}

type Handler = (t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment) => Result;

/** One tracked TCP connection. */
export class Tcb {
  readonly original = new TcbStream();
  readonly reply = new TcbStream();
  state: TcpState = TCP_SYN_SENT;
  /** Which direction sent the first FIN: 0 none yet, 1 original, 2 reply. */
  firstFin: 0 | 1 | 2 = 0;
  private handler: Handler = synSent;

  /**
   * Starts tracking from the originator's SYN. Returns `ResultDrop` (and tracks
   * nothing) unless the segment is a SYN without ACK or RST.
   */
  init(syn: TcpSegment): Result {
    if ((syn.flags & (FLAG_SYN | FLAG_ACK | FLAG_RST)) !== FLAG_SYN) return ResultDrop;
    resetStream(this.reply);
    const o = this.original;
    o.state = STREAM_SYN_SENT;
    o.iss = syn.seq >>> 0;
    o.nxt = seqAdd(o.iss, TcbStream.logicalLength(syn));
    // The reply's ISN is unknown, so nothing bounds the originator yet.
    o.end = o.nxt;
    o.ackSent = 0;
    // RFC 7323 §2.2: "The window field in a segment where the SYN bit is set MUST NOT be scaled."
    o.maxWindow = Math.max(syn.window, 1);
    o.synScale = syn.windowScale;
    o.scale = 0;
    o.finSeq = 0;
    if (syn.flags & FLAG_FIN) {
      o.state = STREAM_FIN_SENT;
      o.finSeq = seqAdd(o.iss, 1 + syn.payloadLength);
    }
    this.firstFin = syn.flags & FLAG_FIN ? 1 : 0;
    this.state = TCP_SYN_SENT;
    this.handler = synSent;
    return ResultConnecting;
  }

  /** A segment sent by the originator. */
  updateOriginal(seg: TcpSegment): Result {
    return this.handler(this, this.original, this.reply, seg);
  }

  /** A segment sent by the responder. */
  updateReply(seg: TcpSegment): Result {
    return this.handler(this, this.reply, this.original, seg);
  }

  update(fromOriginal: boolean, seg: TcpSegment): Result {
    return fromOriginal ? this.updateOriginal(seg) : this.updateReply(seg);
  }

  /** The result the current state stands for (what the last accepted segment returned). */
  get result(): Result {
    return resultOf(this);
  }

  get stateName(): (typeof TCP_STATE_NAMES)[number] {
    return TCP_STATE_NAMES[this.state];
  }

  /** Recomputes the state from the streams and installs its handler. */
  settle(): Result {
    this.state = deriveState(this.original, this.reply);
    this.handler = HANDLERS[this.state]!;
    return resultOf(this);
  }
}

function resetStream(s: TcbStream): void {
  s.state = STREAM_NONE;
  s.iss = 0;
  s.nxt = 0;
  s.end = 0;
  s.ackSent = 0;
  s.maxWindow = 0;
  s.scale = 0;
  s.synScale = -1;
  s.finSeq = 0;
}

function deriveState(o: TcbStream, r: TcbStream): TcpState {
  if (o.state === STREAM_RESET || r.state === STREAM_RESET) return TCP_CLOSE;
  if (r.state === STREAM_NONE) return TCP_SYN_SENT;
  if (o.state === STREAM_SYN_SENT && r.state === STREAM_SYN_SENT) return TCP_SYN_SENT2;
  if (o.state === STREAM_SYN_SENT || r.state === STREAM_SYN_SENT) return TCP_SYN_RECV;
  const finO = o.state >= STREAM_FIN_SENT;
  const finR = r.state >= STREAM_FIN_SENT;
  if (!finO && !finR) return TCP_ESTABLISHED;
  if (finO && finR)
    return o.state === STREAM_CLOSED && r.state === STREAM_CLOSED ? TCP_TIME_WAIT : TCP_LAST_ACK;
  const closing = finO ? o : r;
  return closing.state === STREAM_CLOSED ? TCP_CLOSE_WAIT : TCP_FIN_WAIT;
}

function resultOf(t: Tcb): Result {
  switch (t.state) {
    case TCP_SYN_SENT:
    case TCP_SYN_SENT2:
    case TCP_SYN_RECV:
      return ResultConnecting;
    case TCP_CLOSE:
      return ResultReset;
    case TCP_TIME_WAIT:
      return t.firstFin === 2 ? ResultClosedByPeer : ResultClosedBySelf;
    default:
      return ResultAlive;
  }
}

// ---------------------------------------------------------------------------
// Handlers, one per state. `from` sent the segment, `to` is the other direction.

/** Only the originator's SYN seen so far. */
function synSent(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): Result {
  const f = seg.flags;
  if (from === t.original) {
    if (f & FLAG_RST) {
      // The originator gives up; its RST carries SND.NXT (RFC 9293 §3.5.2, reset generation).
      if (seg.seq >>> 0 !== from.nxt && seg.seq >>> 0 !== from.iss) return ResultDrop;
      from.state = STREAM_RESET;
      return t.settle();
    }
    if ((f & (FLAG_SYN | FLAG_ACK)) !== FLAG_SYN) return ResultDrop;
    // Same ISN: a retransmitted SYN. A new ISN: a new attempt on the same ports; start over (as Linux does).
    if (seg.seq >>> 0 === from.iss) return ResultConnecting;
    return t.init(seg);
  }
  // From the responder. RFC 9293 §3.10.7.3 (SYN-SENT): "If SEG.ACK =< ISS or SEG.ACK > SND.NXT ... drop".
  const hasAck = (f & FLAG_ACK) !== 0;
  if (hasAck && !(seqLt(to.iss, seg.ack) && seqLe(seg.ack, to.nxt))) return ResultDrop;
  if (f & FLAG_RST) {
    // "If the ACK was acceptable then signal ... connection reset ... Otherwise (no ACK), drop the segment."
    if (!hasAck) return ResultDrop;
    from.state = STREAM_RESET;
    return t.settle();
  }
  if (!(f & FLAG_SYN)) return ResultDrop;

  from.state = STREAM_SYN_SENT;
  from.iss = seg.seq >>> 0;
  from.nxt = seqAdd(from.iss, TcbStream.logicalLength(seg));
  from.synScale = seg.windowScale;
  // RFC 7323 §2.2: scaling is on only when both SYNs carried the option ("both sides MUST send Window
  // Scale options in their <SYN> segments to enable window scaling in either direction").
  if (from.synScale >= 0 && to.synScale >= 0) {
    from.scale = Math.min(from.synScale, MAX_WINDOW_SCALE);
    to.scale = Math.min(to.synScale, MAX_WINDOW_SCALE);
  } else {
    from.scale = 0;
    to.scale = 0;
  }
  // SYN windows are never scaled (RFC 7323 §2.2). The originator's SYN window bounds the reply's data.
  from.end = seqAdd(from.nxt, to.maxWindow);
  from.maxWindow = Math.max(seg.window, 1);
  to.end = seqAdd(hasAck ? seg.ack : seqAdd(to.iss, 1), seg.window);
  // Until an ACK says more, each side has acknowledged nothing of the other (SND.UNA = ISS).
  from.ackSent = hasAck ? seg.ack >>> 0 : to.iss;
  to.ackSent = from.iss;
  if (hasAck) {
    if (to.state === STREAM_SYN_SENT) to.state = STREAM_ESTABLISHED;
    ackFin(to, seg.ack >>> 0);
  }
  // Otherwise both sides sent a SYN: simultaneous open (RFC 9293 §3.5 Figure 7).
  if (seg.flags & FLAG_FIN) markFin(t, from, seg);
  return t.settle();
}

/** Both SYNs seen, at least one not acknowledged: SYN_SENT2 and SYN_RECV. */
function handshake(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): Result {
  const f = seg.flags;
  if (f & FLAG_RST) return reset(t, from, to, seg);
  // A SYN repeated with its ISN is a retransmission (the SYN-ACK or final ACK was lost); in a
  // simultaneous open it is the SYN-ACK of RFC 9293 §3.5 Figure 7 line 4. Any other SYN is bogus.
  if (f & FLAG_SYN && seg.seq >>> 0 !== from.iss) return ResultDrop;
  if (!(f & FLAG_ACK)) return f & FLAG_SYN ? ResultConnecting : ResultDrop;
  if (!accept(t, from, to, seg)) return ResultDrop;
  return t.settle();
}

/** ESTABLISHED, FIN_WAIT, CLOSE_WAIT and LAST_ACK: data, acknowledgments and FINs within the windows. */
function synchronized(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): Result {
  const f = seg.flags;
  if (f & FLAG_RST) return reset(t, from, to, seg);
  // RFC 5961 §4.2: a SYN in a synchronized state is answered with a challenge ACK and dropped, "irrespective
  // of the sequence number". The connection lives on, so the entry does too.
  if (f & FLAG_SYN) return ResultDrop;
  // RFC 9293 §3.10.7.4, fifth check: "if the ACK bit is off, drop the segment and return".
  if (!(f & FLAG_ACK)) return ResultDrop;
  if (!accept(t, from, to, seg)) return ResultDrop;
  return t.settle();
}

/**
 * Both FINs acknowledged. Only retransmissions fit (of data, FIN or ACK; `accept` refuses data past a FIN). An in-window RST moves to
 * CLOSE as Linux does (RFC 1337 asks endpoints to ignore it; the shorter CLOSE timeout is harmless here).
 * A new SYN reopens the connection: that is the table's job, the TCB drops it.
 */
function timeWait(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): Result {
  const f = seg.flags;
  if (f & FLAG_RST) return reset(t, from, to, seg);
  if (f & FLAG_SYN || !(f & FLAG_ACK)) return ResultDrop;
  if (!accept(t, from, to, seg)) return ResultDrop;
  return t.settle();
}

/** Reset: nothing more belongs to this connection. */
function closed(_t: Tcb, _from: TcbStream, _to: TcbStream, _seg: TcpSegment): Result {
  return ResultDrop;
}

const HANDLERS: readonly Handler[] = [
  synSent, // TCP_SYN_SENT
  handshake, // TCP_SYN_SENT2
  handshake, // TCP_SYN_RECV
  synchronized, // TCP_ESTABLISHED
  synchronized, // TCP_FIN_WAIT
  synchronized, // TCP_CLOSE_WAIT
  synchronized, // TCP_LAST_ACK
  timeWait, // TCP_TIME_WAIT
  closed, // TCP_CLOSE
];

// ---------------------------------------------------------------------------
// Checks shared by the handlers.

/**
 * RST in a synchronized state, RFC 5961 §3.2: out of the receive window it is dropped; exactly at the
 * receiver's RCV.NXT it resets; anywhere else in the window the receiver sends a challenge ACK and
 * ignores it, so the entry is kept. A tracker cannot know RCV.NXT exactly: it takes the last
 * acknowledgment the receiver sent, or the sender's SND.NXT (everything sent has arrived).
 */
function reset(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): Result {
  const seq = seg.seq >>> 0;
  if (seq !== to.ackSent && seq !== from.nxt) return ResultDrop;
  from.state = STREAM_RESET;
  return t.settle();
}

/**
 * Whether a segment fits both windows; if so, advances the streams. After the checks of RFC 9293
 * §3.10.7.4 with the tracker's bounds (the receive-window test of its table, loosened by one
 * window to the left for retransmissions, and the ACK test of RFC 5961 §5.2).
 */
function accept(t: Tcb, from: TcbStream, to: TcbStream, seg: TcpSegment): boolean {
  const seq = seg.seq >>> 0;
  const ack = seg.ack >>> 0;
  const len = TcbStream.logicalLength(seg);
  const segEnd = seqAdd(seq, len);
  // Sequence: the segment starts at or before the right edge the receiver advertised (a zero-window
  // probe starts exactly there), and ends no more than one receive window before the furthest data sent.
  if (!seqLe(seq, from.end)) return false;
  if (seqLt(segEnd, seqAdd(from.nxt, -Math.max(to.maxWindow, 1)))) return false;
  // RFC 9293 §3.10.7.4: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then ... drop".
  if (seqLt(to.nxt, ack)) return false;
  // RFC 5961 §5.2: "(SND.UNA - MAX.SND.WND) <= SEG.ACK" or the ACK is too old to be real.
  if (seqLt(ack, seqAdd(from.ackSent, -Math.max(from.maxWindow, 1)))) return false;
  // RFC 9293 §3.6: nothing follows a FIN; data past it (or a FIN elsewhere) is not this connection's.
  if (from.state >= STREAM_FIN_SENT) {
    const dataEnd = seqAdd(seq, seg.payloadLength + (seg.flags & FLAG_SYN ? 1 : 0));
    if (seg.payloadLength > 0 && seqLt(from.finSeq, dataEnd)) return false;
    if (seg.flags & FLAG_FIN && dataEnd !== from.finSeq) return false;
  }

  from.nxt = seqMax(from.nxt, segEnd);
  from.ackSent = seqMax(from.ackSent, ack);
  // RFC 7323 §2.2: windows are scaled except in SYN segments.
  const window = seg.flags & FLAG_SYN ? seg.window : seg.window * 2 ** from.scale;
  from.maxWindow = Math.max(from.maxWindow, window);
  to.end = seqMax(to.end, seqAdd(ack, window));
  if (to.state === STREAM_SYN_SENT && seqLt(to.iss, ack)) to.state = STREAM_ESTABLISHED;
  if (seg.flags & FLAG_FIN) markFin(t, from, seg);
  ackFin(to, ack);
  return true;
}

function markFin(t: Tcb, from: TcbStream, seg: TcpSegment): void {
  if (from.state >= STREAM_FIN_SENT) return;
  from.state = STREAM_FIN_SENT;
  from.finSeq = seqAdd(seg.seq, seg.payloadLength + (seg.flags & FLAG_SYN ? 1 : 0));
  if (t.firstFin === 0) t.firstFin = from === t.original ? 1 : 2;
}

/** `s`'s FIN is acknowledged once the other side acknowledges past it. */
function ackFin(s: TcbStream, ack: number): void {
  if (s.state === STREAM_FIN_SENT && seqLt(s.finSeq, ack)) s.state = STREAM_CLOSED;
}

/**
 * Buffer auto-tuning (issue 8): the receive buffer grows from measured
 * throughput and RTT (dynamic right-sizing, "DRS", as Linux's
 * tcp_rcv_space_adjust and gVisor's receive-buffer moderation do), and the
 * send buffer grows with the congestion window (as Linux's tcp_sndbuf_expand
 * does), both bounded by the stack-wide `receiveBufferSize.max` /
 * `sendBufferSize.max`. Setting `ReceiveBufferSize` or `SendBufferSize` on an
 * endpoint locks that direction at the size given (like SO_RCVBUF/SO_SNDBUF
 * set by the user in Linux).
 *
 * Buffer sizes are limits, not allocations: the queues hold only what was
 * written or received, so a larger limit costs nothing until data fills it.
 *
 * Receive side. Once per receiver-side RTT, when the application reads, the
 * bytes it read during that RTT are compared with the most it read in any
 * RTT before (`space`). If the rate grew, the buffer grows to
 * `rcvBufferTarget`: twice the last RTT's bytes (so the window still covers a
 * full RTT of new data while one RTT of data waits out of order behind a loss
 * being repaired), times the growth just seen (at most 2, slow start: the
 * window advertised now is used by a sender about one RTT further on), plus a
 * few segments of slack. The buffer never shrinks, and RFC 9293 §3.8.6.2.2 /
 * RFC 7323 §2.4's rule that the right edge never moves left is kept by
 * `ReceiveState.selectWindow` whatever the size. It also never grows past what
 * the window scale chosen at SYN time can advertise (RFC 7323 §2.3): 0xffff
 * shifted by our shift. A reader slower than the network reads less per RTT,
 * so its buffer stays small.
 *
 * The receiver's RTT (RFC 7323 §4 and the "DRS" receiver-side estimate): with
 * timestamps, a full-sized data segment echoes the TSval of the ACK that let
 * it go, so now − TSecr is one round trip plus queueing; without them, the
 * time to receive one advertised window is an upper bound on the RTT. The
 * smallest sample is kept and larger ones enter slowly, since a sender that
 * paused makes samples that are too large. Until a sample arrives the
 * sender-side SRTT (from the handshake, or from our own data) stands in, and
 * without timestamps it is used whenever it is the smaller.
 *
 * Send side. The send buffer must hold what is in flight plus the next round
 * of data, so on each ACK its limit grows to twice min(cwnd, largest peer
 * window), at least twice the initial window (RFC 6928), and a writer that
 * was blocked is woken when the limit grows. Memory follows what the path
 * carries rather than the stack maximum.
 */
import { seqAdd, seqLessThan } from "../../seqnum/seqnum.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { EventOut } from "./events.ts";

/** The first per-RTT estimate, in segments: what a peer sends in its first RTT (RFC 6928 initial window). */
const INITIAL_SPACE_SEGMENTS = 10;
/** Segments of slack on top of the receive target (rounding, delayed ACKs, a burst a little above the mean). */
const CUSHION_SEGMENTS = 4;
/** How much of a larger receiver RTT sample enters the estimate (1/8, as RFC 6298's alpha). */
const RTT_GAIN = 1 / 8;

/** Per-connection state of both directions' auto-tuning. */
export class BufferAutoTune {
  /** ReceiveBufferSize was set on the endpoint: no receive auto-tuning (like SOCK_RCVBUF_LOCK). */
  rcvLocked = false;
  /** SendBufferSize was set on the endpoint: no send auto-sizing (like SOCK_SNDBUF_LOCK). */
  sndLocked = false;
  /** Receiver-side RTT estimate in ms; 0 until the first sample. */
  rcvRtt = 0;
  /** Bytes the application has read from the connection in all. */
  copied = 0;
  /** The most bytes read in one measured RTT so far (Linux's rcvq_space.space); 0 until the first measurement. */
  space = 0;
  /** Start of the current measurement (ms; -1 before the first read) and `copied` at that time. */
  private epochTime = -1;
  private epochCopied = 0;
  /** Without timestamps: the sequence number that ends the window being timed, and when timing began (-1: idle). */
  private winSeq = 0;
  private winTime = -1;

  /** Takes one receiver-side RTT sample (ms); `upperBound` samples (window timing) only ever lower the estimate. */
  rttSample(sample: number, upperBound: boolean): void {
    if (!(sample >= 0)) return;
    // The timestamp clock ticks in milliseconds: a sub-millisecond path reads as 0.
    const s = Math.max(1, sample);
    if (this.rcvRtt === 0 || s < this.rcvRtt) this.rcvRtt = s;
    else if (!upperBound) this.rcvRtt += (s - this.rcvRtt) * RTT_GAIN;
  }

  /**
   * Window timing without timestamps: called with RCV.NXT and the advertised
   * window after data arrived; a sample when RCV.NXT passed the edge being timed.
   */
  windowTiming(now: number, nxt: number, window: number): void {
    if (this.winTime >= 0) {
      if (seqLessThan(nxt, this.winSeq)) return;
      this.rttSample(now - this.winTime, true);
    }
    this.winSeq = seqAdd(nxt, window);
    this.winTime = now;
  }

  /**
   * The application read `n` bytes at `now` with `rtt` the RTT estimate (ms, 0 if none). When this
   * ends a measurement whose bytes beat the most read in one RTT before, returns both (the buffer
   * should grow to `rcvBufferTarget(copied, prev)`); otherwise undefined. `initialSpace` seeds `space`.
   */
  onRead(
    n: number,
    now: number,
    rtt: number,
    initialSpace: number,
  ): { copied: number; prev: number } | undefined {
    this.copied += n;
    if (this.epochTime < 0) {
      this.epochTime = now;
      this.epochCopied = this.copied - n;
      return undefined;
    }
    if (!(rtt > 0) || now - this.epochTime < rtt) return undefined;
    const copied = this.copied - this.epochCopied;
    this.epochTime = now;
    this.epochCopied = this.copied;
    if (this.space === 0) this.space = initialSpace;
    if (copied <= this.space) return undefined;
    const prev = this.space;
    this.space = copied;
    return { copied, prev };
  }
}

/**
 * The receive buffer DRS asks for after the application read `copied` bytes in the last RTT, where
 * the most read in one RTT before was `prev`: 2 × copied × growth (growth = copied / prev, at most 2)
 * plus a few segments of `mss` (see the file comment).
 */
export function rcvBufferTarget(copied: number, prev: number, mss: number): number {
  const growth = Math.min(2, copied / Math.max(prev, 1));
  return Math.ceil(2 * copied * growth) + CUSHION_SEGMENTS * mss;
}

/** The send buffer for a congestion window of `cwnd` bytes, a peer window of at most `peerWnd` and `iw` bytes of initial window. */
export function sndBufferTarget(cwnd: number, peerWnd: number, iw: number): number {
  return 2 * Math.max(Math.min(cwnd, peerWnd), iw);
}

/** The largest receive buffer the window can advertise: 0xffff scaled by our shift (RFC 7323 §2.3). */
export function maxAdvertisable(ep: TcpEndpoint): number {
  const r = ep.rcv;
  return 0xffff * 2 ** (r.wsEnabled ? r.scale : 0);
}

/**
 * In-window data arrived (after it was queued): a receiver RTT sample. With timestamps only from a
 * full-sized segment (a short one may have waited for the application, not for our ACK), RFC 7323 §4.
 */
export function onDataReceived(ep: TcpEndpoint, len: number, tsEcr: number): void {
  const t = ep.autoTune;
  const r = ep.rcv;
  if (t.rcvLocked || len === 0) return;
  if (r.tsEnabled) {
    if (tsEcr !== 0 && len >= r.mss) t.rttSample((ep.tsNow() - tsEcr) | 0, false);
    return;
  }
  t.windowTiming(ep.now(), r.nxt, Math.max(r.window, r.mss));
}

/** The application read `n` bytes: once per RTT, grow the receive buffer from what it read (DRS). */
export function onApplicationRead(ep: TcpEndpoint, n: number): void {
  const t = ep.autoTune;
  if (t.rcvLocked) return;
  const r = ep.rcv;
  // Window timing (no timestamps) only bounds the RTT from above: a handshake or data SRTT below it is better.
  const srtt = ep.snd.rtt.srtt;
  const rtt = t.rcvRtt === 0 || (!r.tsEnabled && srtt > 0 && srtt < t.rcvRtt) ? srtt : t.rcvRtt;
  const m = t.onRead(n, ep.now(), rtt, Math.min(r.bufSize, INITIAL_SPACE_SEGMENTS * r.mss));
  if (m === undefined) return;
  const limit = Math.min(ep.opts.receiveBufferSize.max, maxAdvertisable(ep));
  const want = Math.min(limit, rcvBufferTarget(m.copied, m.prev, r.mss));
  if (want > r.bufSize) r.bufSize = want;
}

/** After an ACK (and at establishment): grow the send buffer with the congestion window, waking a blocked writer. */
export function expandSendBuffer(ep: TcpEndpoint): void {
  if (ep.autoTune.sndLocked) return;
  const s = ep.snd;
  const iw = ep.opts.initialWindowSegments * ep.maxPayload();
  const want = Math.min(ep.opts.sendBufferSize.max, sndBufferTarget(s.cc.cwnd, s.maxWnd, iw));
  if (want <= s.bufSize) return;
  const blocked = s.space === 0;
  s.bufSize = want;
  if (blocked) ep.notify(EventOut);
}

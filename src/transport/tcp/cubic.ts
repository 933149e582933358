/**
 * CUBIC congestion control (RFC 9438) with HyStart++ slow start (RFC 9406),
 * behind the sender's `CongestionControl` interface (congestion.ts).
 *
 * Read RFC 9438 §4 first. Windows are kept internally in segments as the RFC
 * writes them (a float, so growth of a fraction of a segment per ACK is not
 * lost) and reported in bytes; time is in milliseconds from the sender's
 * clock, converted to the RFC's seconds where the formula needs them.
 *
 * What `CongestionControl` does not carry, and CUBIC needs: RTT samples
 * (RFC 9438 §4.2 grows toward W_cubic(t + RTT); HyStart++ watches the
 * minimum RTT of each round, RFC 9406 §4.2) and the ACK number with SND.NXT
 * (HyStart++ rounds end when "the ACK ... acknowledges windowEnd"). They come
 * through `CubicSignals`, an adapter in this file; see its comment for where
 * the sender calls it. Without those calls CUBIC still works: it grows toward
 * W_cubic(t) (RTT taken as 0) and HyStart++ never leaves slow start early.
 *
 * To use it: accept "cubic" for the `congestionControl` option, construct
 * `new Cubic(mss, initialWindowSegments)` where `NewReno` is constructed
 * now, and call the `CubicSignals` methods (below) from the ACK path.
 *
 * Loss recovery itself stays with the sender, as for `NewReno`: on entering
 * recovery the window is reduced by β_cubic (RFC 9438 §4.6) instead of 1/2,
 * and the recovery window follows the same RFC 5681 §3.2 / RFC 6582 rules the
 * sender's fast recovery loop expects (inflation by duplicate ACKs, deflation
 * on partial ACKs). A sender with PRR (prr.ts) takes cwnd from PRR during
 * recovery and uses only `ssthresh` from here.
 */
import type { CongestionControl } from "./congestion.ts";

/** RFC 9438 §5.1: "C SHOULD be set to 0.4". */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: "β_cubic SHOULD be set to 0.7". */
export const CUBIC_BETA = 0.7;
/**
 * RFC 9438 §4.3: α_cubic = 3 · (1 − β_cubic) / (1 + β_cubic) ≈ 0.53, so the
 * Reno-friendly estimate grows like AIMD(α, β) with Reno's average rate.
 */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/**
 * RFC 9438 §4.2 eq. 2: K = ∛((W_max − cwnd_epoch) / C), the time in seconds
 * the window function takes to climb from `cwndEpoch` back to `wMax`
 * (segments). 0 when the epoch starts at or above W_max.
 */
export function cubicK(wMax: number, cwndEpoch: number, c = CUBIC_C): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / c) : 0;
}

/** RFC 9438 §4.2 eq. 1: W_cubic(t) = C · (t − K)³ + W_max, in segments, `t` in seconds. */
export function wCubic(tSeconds: number, k: number, wMax: number, c = CUBIC_C): number {
  const d = tSeconds - k;
  return c * d * d * d + wMax;
}

/** RFC 9406 §4.3 constants. */
export const HYSTART_MIN_RTT_THRESH_MS = 4;
export const HYSTART_MAX_RTT_THRESH_MS = 16;
export const HYSTART_MIN_RTT_DIVISOR = 8;
export const HYSTART_N_RTT_SAMPLE = 8;
export const HYSTART_CSS_GROWTH_DIVISOR = 4;
export const HYSTART_CSS_ROUNDS = 5;

/**
 * The ADAPTER: what CUBIC needs beyond `CongestionControl`. The sender calls,
 * for each ACK that acknowledges new data, first `onRttSample(r)` when the ACK
 * yields an RTT sample (the same Karn-safe sample it feeds
 * `RttEstimator.sample`), then `onAckSeq(SEG.ACK, SND.NXT)`, then `onAck` /
 * `onAckInRecovery` as today. The order matters: the ACK that covers a
 * round's windowEnd is the last ACK of that round, so its RTT sample counts
 * in it, and the next round starts after it. If `CongestionControl` grows these as optional members later, this
 * type is what they should look like.
 */
export interface CubicSignals {
  /** A new cumulative ACK: `ack` is SEG.ACK, `sndNxt` the sender's SND.NXT (RFC 9406 §4.2 rounds). */
  onAckSeq(ack: number, sndNxt: number): void;
  /** One RTT measurement in milliseconds (RFC 6298 §3 rules: none from retransmitted segments). */
  onRttSample(rttMs: number): void;
}

export interface CubicOptions {
  /** RFC 9438 §4.7 fast convergence (default true: "SHOULD"). */
  fastConvergence?: boolean;
  /** Use HyStart++ (RFC 9406) in the initial slow start (default true). */
  hystart?: boolean;
  /**
   * What the reduction multiplies by β_cubic (RFC 9438 §4.6): "flight" (default), the RFC's
   * "ssthresh = flight_size * β_cubic"; or "cwnd", which the RFC allows only to implementations that
   * also keep cwnd from growing while the flow is application-limited (this class does not).
   */
  reduceFrom?: "flight" | "cwnd";
}

type SlowStartPhase = "ss" | "css" | "done";

export class Cubic implements CongestionControl, CubicSignals {
  readonly name = "cubic";
  /** Congestion window in segments (fractional). */
  private w: number;
  /** Slow start threshold in segments. */
  private ssthreshSeg = Number.POSITIVE_INFINITY;
  inRecovery = false;
  private recover = 0;

  /** RFC 9438 §4.1 "W_max": the window before the last reduction (segments); undefined before any. */
  private wMax: number | undefined;
  /** RFC 9438 §4.6 "cwnd_prior": cwnd before the last reduction (segments). */
  private cwndPrior = 0;
  /** Start of the current congestion avoidance stage (ms), undefined until its first ACK. */
  private epochStart: number | undefined;
  /** RFC 9438 §4.2 "cwnd_epoch" and K of the current stage. */
  private cwndEpoch = 0;
  private k = 0;
  /** RFC 9438 §4.3 "W_est" (segments) and the α it grows with. */
  private wEst = 0;
  private alpha = CUBIC_ALPHA;
  /** RFC 9438 §4.8: the first congestion avoidance stage after a timeout uses K = 0, W_max = cwnd_epoch. */
  private afterTimeout = false;

  /** The state `reduce` replaced, for `undo` (RFC 9438 §4.9). */
  private prior:
    | {
        wMax: number | undefined;
        cwndPrior: number;
        epochStart: number | undefined;
        cwndEpoch: number;
        k: number;
        wEst: number;
        alpha: number;
        afterTimeout: boolean;
      }
    | undefined;

  /** Smoothed RTT (ms) from `onRttSample`, RFC 6298 §2.3 weights; 0 until a sample. */
  private srtt = 0;

  /** HyStart++ (RFC 9406 §4.2) state. */
  private phase: SlowStartPhase;
  private windowEnd: number | undefined;
  private lastRoundMinRtt = Number.POSITIVE_INFINITY;
  private currentRoundMinRtt = Number.POSITIVE_INFINITY;
  private rttSampleCount = 0;
  private cssBaselineMinRtt = Number.POSITIVE_INFINITY;
  private cssRounds = 0;

  private readonly fastConvergence: boolean;
  private readonly reduceFromCwnd: boolean;

  constructor(
    private mss: number,
    private readonly initialWindowSegments = 10,
    opts: CubicOptions = {},
  ) {
    this.fastConvergence = opts.fastConvergence ?? true;
    this.reduceFromCwnd = opts.reduceFrom === "cwnd";
    this.phase = (opts.hystart ?? true) ? "ss" : "done";
    this.w = this.initialWindow() / mss;
  }

  /** Congestion window in bytes. */
  get cwnd(): number {
    return Math.floor(this.w * this.mss + 1e-6);
  }

  /** Slow start threshold in bytes (`Number.MAX_SAFE_INTEGER` until the first reduction). */
  get ssthresh(): number {
    return this.ssthreshSeg === Number.POSITIVE_INFINITY
      ? Number.MAX_SAFE_INTEGER
      : Math.floor(this.ssthreshSeg * this.mss + 1e-6);
  }

  /** For tests and diagnostics: the RFC's variables (segments, seconds). */
  get state(): {
    wMax: number | undefined;
    k: number;
    cwndEpoch: number;
    wEst: number;
    epochStart: number | undefined;
    hystart: SlowStartPhase;
  } {
    return {
      wMax: this.wMax,
      k: this.k,
      cwndEpoch: this.cwndEpoch,
      wEst: this.wEst,
      epochStart: this.epochStart,
      hystart: this.phase,
    };
  }

  /** RFC 6928 §2 initial window, as `NewReno` computes it. */
  private initialWindow(): number {
    const n = this.initialWindowSegments;
    return Math.min(n * this.mss, Math.max(2 * this.mss, 14600 * (n / 10)));
  }

  setMss(mss: number): void {
    // Windows are counted in segments: rescale every one so it keeps its size in bytes (W_max, cwnd_prior,
    // cwnd_epoch and W_est too), and, as `NewReno` does, let the window keep its segment count when that
    // stays within the initial window. K is recomputed in the new units (C is per segment, RFC 9438 §5.1).
    const f = this.mss / mss;
    const segs = this.w;
    this.mss = mss;
    this.w = Math.max(segs * f, Math.min(segs, this.initialWindow() / mss));
    this.ssthreshSeg *= f;
    if (this.wMax !== undefined) this.wMax *= f;
    this.cwndPrior *= f;
    this.cwndEpoch *= f;
    this.wEst *= f;
    if (this.epochStart !== undefined) this.k = cubicK(this.wMax!, this.cwndEpoch);
  }

  onAckSeq(ack: number, sndNxt: number): void {
    if (this.phase === "done") return;
    // RFC 9406 §4.2: "At the start of each round during standard slow start and CSS, initialize ...
    // lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT = infinity; rttSampleCount = 0".
    // A round ends with the ACK that covers windowEnd, the SND.NXT recorded when it began; the first
    // ACK seen only records windowEnd (its RTT sample already counts in the first round).
    if (this.windowEnd === undefined) {
      this.windowEnd = sndNxt;
      return;
    }
    if (((ack - this.windowEnd) | 0) >= 0) {
      if (this.phase === "css") {
        this.cssRounds++;
        // RFC 9406 §4.2: "If CSS_ROUNDS rounds are complete, enter congestion avoidance by setting
        // the ssthresh to the current cwnd."
        if (this.cssRounds >= HYSTART_CSS_ROUNDS) {
          this.ssthreshSeg = this.w;
          this.phase = "done";
          return;
        }
      }
      this.windowEnd = sndNxt;
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Number.POSITIVE_INFINITY;
      this.rttSampleCount = 0;
    }
  }

  onRttSample(rttMs: number): void {
    if (!(rttMs >= 0)) return;
    // RFC 9438 §4.2 takes "RTT" as the smoothed round-trip time; RFC 6298 §2.2/§2.3 smoothing.
    this.srtt = this.srtt === 0 ? rttMs : 0.875 * this.srtt + 0.125 * rttMs;
    if (this.phase === "done" || this.w >= this.ssthreshSeg) return;
    // RFC 9406 §4.2: "For each arriving ACK in slow start, where N is the number of previously
    // unacknowledged bytes acknowledged in the arriving ACK: ... currentRoundMinRTT =
    // min(currentRoundMinRTT, RTT); rttSampleCount += 1".
    if (rttMs < this.currentRoundMinRtt) this.currentRoundMinRtt = rttMs;
    this.rttSampleCount++;
    if (
      this.rttSampleCount < HYSTART_N_RTT_SAMPLE ||
      this.currentRoundMinRtt === Number.POSITIVE_INFINITY ||
      this.lastRoundMinRtt === Number.POSITIVE_INFINITY
    ) {
      return;
    }
    if (this.phase === "ss") {
      // RFC 9406 §4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH));
      // "if (currentRoundMinRTT >= (lastRoundMinRTT + RttThresh)) cssBaselineMinRtt = currentRoundMinRTT;
      // exit slow start and enter CSS".
      const thresh = Math.max(
        HYSTART_MIN_RTT_THRESH_MS,
        Math.min(this.lastRoundMinRtt / HYSTART_MIN_RTT_DIVISOR, HYSTART_MAX_RTT_THRESH_MS),
      );
      if (this.currentRoundMinRtt >= this.lastRoundMinRtt + thresh) {
        this.cssBaselineMinRtt = this.currentRoundMinRtt;
        this.phase = "css";
        this.cssRounds = 0;
      }
    } else if (this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // RFC 9406 §4.2: "If the currentRoundMinRTT of the CSS round is less than cssBaselineMinRtt,
      // then the slow start exit was spurious: set cssBaselineMinRtt = infinity; resume slow start."
      this.cssBaselineMinRtt = Number.POSITIVE_INFINITY;
      this.phase = "ss";
    }
  }

  onAck(ackedBytes: number, nowMs: number): void {
    const segs = ackedBytes / this.mss;
    if (this.w < this.ssthreshSeg) {
      // RFC 5681 §3.1 eqn. 2 "cwnd += min (N, SMSS)" (RFC 9406 §4.2's min(N, L·SMSS) with L = 1);
      // in HyStart++'s conservative slow start the increase is divided by CSS_GROWTH_DIVISOR.
      const inc = Math.min(segs, 1);
      this.w += this.phase === "css" ? inc / HYSTART_CSS_GROWTH_DIVISOR : inc;
      return;
    }
    if (this.phase !== "done") this.phase = "done";
    this.congestionAvoidance(segs, nowMs);
  }

  /** RFC 9438 §4.2–§4.5: one ACK of `segs` segments in congestion avoidance at `nowMs`. */
  private congestionAvoidance(segs: number, nowMs: number): void {
    if (this.epochStart === undefined) this.startEpoch(nowMs);
    const t = (nowMs - this.epochStart!) / 1000;
    const rtt = this.srtt / 1000;
    const wMax = this.wMax!;
    // RFC 9438 §4.3: "W_est = W_est + α_cubic · segments_acked / cwnd", with α_cubic = 1 once
    // "W_est >= cwnd_prior".
    this.wEst += (this.alpha * segs) / this.w;
    if (this.wEst >= this.cwndPrior) this.alpha = 1;
    // RFC 9438 §4.3: "When receiving a new ACK in congestion avoidance (where cwnd could be greater than
    // or less than W_max), CUBIC checks whether W_cubic(t) is less than W_est. If so, CUBIC is in the
    // Reno-friendly region and cwnd SHOULD be set to W_est at each reception of a new ACK."
    // (cwnd is not lowered to W_est when it is already above: it got there toward W_cubic(t + RTT).)
    if (wCubic(t, this.k, wMax) < this.wEst) {
      if (this.wEst > this.w) this.w = this.wEst;
      return;
    }
    // RFC 9438 §4.2 eq. 4: target = cwnd if W_cubic(t + RTT) < cwnd; 1.5·cwnd if W_cubic(t + RTT) > 1.5·cwnd;
    // W_cubic(t + RTT) otherwise. §4.4/§4.5 (concave and convex regions): "cwnd MUST be incremented by
    // (target − cwnd)/cwnd for each received new ACK" — per acknowledged segment here, so delayed ACKs
    // (one ACK per two segments) do not halve the growth.
    const next = wCubic(t + rtt, this.k, wMax);
    const target = next < this.w ? this.w : Math.min(next, 1.5 * this.w);
    this.w += ((target - this.w) / this.w) * segs;
  }

  /** RFC 9438 §4.2: the first ACK of a congestion avoidance stage fixes t = 0, cwnd_epoch, K and W_est. */
  private startEpoch(nowMs: number): void {
    this.epochStart = nowMs;
    this.cwndEpoch = this.w;
    if (this.wMax === undefined || this.afterTimeout) {
      // RFC 9438 §4.10: leaving slow start without a loss (HyStart++) leaves W_max undefined; "CUBIC sets
      // cwnd_prior = cwnd and W_max = cwnd". RFC 9438 §4.8: in the first stage after a timeout "K is set
      // to 0, and W_max is set to the congestion window size at the beginning of the current congestion
      // avoidance stage".
      this.wMax = this.w;
      if (!this.afterTimeout) this.cwndPrior = this.w;
      this.afterTimeout = false;
    }
    this.k = cubicK(this.wMax, this.cwndEpoch);
    // RFC 9438 §4.3: "W_est is set equal to cwnd_epoch at the start of the congestion avoidance stage."
    this.wEst = this.cwndEpoch;
  }

  /**
   * RFC 9438 §4.6 multiplicative decrease with §4.7 fast convergence, for a congestion event with
   * `flightSize` bytes in flight; returns the new ssthresh (segments).
   */
  private reduce(flightSize: number): number {
    const cwnd = this.w;
    if (this.prior === undefined)
      this.prior = {
        wMax: 0,
        cwndPrior: 0,
        epochStart: 0,
        cwndEpoch: 0,
        k: 0,
        wEst: 0,
        alpha: 0,
        afterTimeout: false,
      };
    const p = this.prior;
    p.wMax = this.wMax;
    p.cwndPrior = this.cwndPrior;
    p.epochStart = this.epochStart;
    p.cwndEpoch = this.cwndEpoch;
    p.k = this.k;
    p.wEst = this.wEst;
    p.alpha = this.alpha;
    p.afterTimeout = this.afterTimeout;
    // RFC 9438 §4.7: "if (cwnd < W_max and fast convergence enabled) W_max = cwnd * (1 + β_cubic) / 2
    // else W_max = cwnd".
    this.wMax =
      this.fastConvergence && this.wMax !== undefined && cwnd < this.wMax
        ? (cwnd * (1 + CUBIC_BETA)) / 2
        : cwnd;
    // RFC 9438 §4.6: "ssthresh = flight_size * β_cubic; cwnd_prior = cwnd; ...; ssthresh = max(ssthresh, 2)".
    this.cwndPrior = cwnd;
    const base = this.reduceFromCwnd ? cwnd : flightSize / this.mss;
    this.ssthreshSeg = Math.max(base * CUBIC_BETA, 2);
    this.alpha = CUBIC_ALPHA;
    this.epochStart = undefined;
    // RFC 9406 §4.2: a congestion signal in slow start or CSS ends HyStart++.
    this.phase = "done";
    return this.ssthreshSeg;
  }

  enterRecovery(flightSize: number, recover: number, alreadyReduced = false): void {
    // RFC 9438 §4.6 "cwnd = max(ssthresh, 2)", here as the RFC 5681 §3.2 step 3 recovery window
    // (ssthresh + 3 segments) that the sender's fast recovery loop inflates and deflates. After an ECN
    // reduction in this window (RFC 3168 §6.1.2), from that ssthresh, without a second decrease.
    const ssthresh = alreadyReduced ? this.ssthreshSeg : this.reduce(flightSize);
    this.w = ssthresh + 3;
    this.recover = recover;
    this.inRecovery = true;
  }

  onDupAckInRecovery(): void {
    // RFC 5681 §3.2 step 4: inflate by one segment per additional duplicate ACK.
    this.w += 1;
  }

  onAckInRecovery(ack: number, ackedBytes: number, flightSize: number): "exit" | "partial" {
    if (((ack - this.recover) | 0) >= 0) {
      // RFC 6582 §3.2 step 3 full acknowledgment, option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
      this.w = Math.min(this.ssthreshSeg, Math.max(flightSize / this.mss, 1) + 1);
      this.inRecovery = false;
      return "exit";
    }
    // RFC 6582 §3.2 step 3 partial acknowledgment: deflate by the data acknowledged, add back one SMSS
    // if at least one SMSS was acknowledged.
    const segs = ackedBytes / this.mss;
    this.w = Math.max(1, this.w - segs + (ackedBytes >= this.mss ? 1 : 0));
    return "partial";
  }

  onRetransmitTimeout(flightSize: number): void {
    // RFC 9438 §4.8: "CUBIC follows Reno to reduce cwnd [RFC5681] but sets ssthresh using β_cubic".
    // RFC 5681 §3.1 reduces ssthresh only for a segment "not yet ... resent by way of the retransmission
    // timer": a window still at one segment means no ACK came since the last timeout (a backed-off
    // repeat), and ssthresh stays.
    if (this.w > 1) this.reduce(flightSize);
    this.w = 1;
    this.inRecovery = false;
    this.afterTimeout = true;
  }

  /**
   * RFC 9438 §4.9 (spurious congestion events): "restore the values of cwnd, ssthresh, W_max, K,
   * epoch_start, W_est" saved at the reduction; cwnd and ssthresh at least as before it (RFC 3708 §3).
   */
  undo(priorCwnd: number, priorSsthresh: number): void {
    const p = this.prior;
    if (p !== undefined) {
      this.wMax = p.wMax;
      this.cwndPrior = p.cwndPrior;
      this.epochStart = p.epochStart;
      this.cwndEpoch = p.cwndEpoch;
      this.k = p.k;
      this.wEst = p.wEst;
      this.alpha = p.alpha;
      // An undone timeout (F-RTO) takes back RFC 9438 §4.8's first stage after it, too.
      this.afterTimeout = p.afterTimeout;
    }
    this.w = Math.max(this.w, priorCwnd / this.mss);
    const ss = priorSsthresh >= Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : priorSsthresh / this.mss;
    this.ssthreshSeg = Math.max(this.ssthreshSeg, ss);
    this.inRecovery = false;
  }

  onIdleRestart(): void {
    // RFC 5681 §4.1 restart window RW = min(IW, cwnd). RFC 9438 §5.8: the idle time must not count in t,
    // so the next ACK in congestion avoidance starts a new epoch (K from the current cwnd and W_max).
    this.w = Math.min(this.w, this.initialWindow() / this.mss);
    this.epochStart = undefined;
  }
}

/** A `CongestionControlFactory` for CUBIC. */
export function newCubic(mss: number, initialWindowSegments: number): Cubic {
  return new Cubic(mss, initialWindowSegments);
}

/**
 * Reno congestion control (RFC 5681) with the NewReno fast-recovery
 * modification (RFC 6582) and an initial window of 10 segments (RFC 6928).
 */
import { seqGreaterThanEq } from "../../seqnum/seqnum.ts";
import type { CongestionControl } from "./congestion.ts";

export class NewReno implements CongestionControl {
  readonly name = "reno";
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  inRecovery = false;
  /** RFC 6582 §3.2 "recover": the highest sequence number sent when recovery began. */
  private recover = 0;
  /** RFC 5681 §3.1: bytes acknowledged in congestion avoidance, counted toward one MSS of growth per RTT. */
  private bytesAcked = 0;

  constructor(
    private mss: number,
    private readonly initialWindowSegments = 10,
  ) {
    this.cwnd = this.initialWindow();
  }

  /** RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)) with 10 segments. */
  private initialWindow(): number {
    const n = this.initialWindowSegments;
    return Math.min(n * this.mss, Math.max(2 * this.mss, 14600 * (n / 10)));
  }

  setMss(mss: number): void {
    const segments = Math.max(1, Math.round(this.cwnd / this.mss));
    this.mss = mss;
    this.cwnd = Math.max(this.cwnd, Math.min(segments * mss, this.initialWindow()));
  }

  onAck(ackedBytes: number): void {
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eqn. 2: in slow start "cwnd += min (N, SMSS)" per ACK.
      this.cwnd += Math.min(ackedBytes, this.mss);
      return;
    }
    // RFC 5681 §3.1 eqn. 3 (byte counting form): grow by one SMSS per cwnd of acknowledged bytes.
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  enterRecovery(flightSize: number, recover: number, alreadyReduced = false): void {
    // RFC 5681 §3.2 step 2, eqn. 4: ssthresh = max (FlightSize / 2, 2*SMSS) (unless RFC 3168 §6.1.2 ECN
    // reduced it in this window already).
    if (!alreadyReduced) this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    // Step 3: "cwnd must be set to ssthresh plus 3*SMSS".
    this.cwnd = this.ssthresh + 3 * this.mss;
    this.recover = recover;
    this.inRecovery = true;
  }

  onDupAckInRecovery(): void {
    // RFC 5681 §3.2 step 4: "cwnd MUST be incremented by SMSS" for each additional duplicate ACK.
    this.cwnd += this.mss;
  }

  onAckInRecovery(ack: number, ackedBytes: number, flightSize: number): "exit" | "partial" {
    if (seqGreaterThanEq(ack, this.recover)) {
      // RFC 6582 §3.2 step 3, full acknowledgment: "Set cwnd to either (1) min (ssthresh, max(FlightSize, SMSS) + SMSS)
      // or (2) ssthresh". We use (1) to avoid a burst.
      this.cwnd = Math.min(this.ssthresh, Math.max(flightSize, this.mss) + this.mss);
      this.inRecovery = false;
      this.bytesAcked = 0;
      return "exit";
    }
    // Partial acknowledgment: "deflate the congestion window by the amount of new data acknowledged ...
    // If the partial ACK acknowledges at least one SMSS of new data, then add back SMSS bytes".
    this.cwnd = Math.max(this.mss, this.cwnd - ackedBytes + (ackedBytes >= this.mss ? this.mss : 0));
    return "partial";
  }

  onRetransmitTimeout(flightSize: number): void {
    // RFC 5681 §3.1 eqn. 4 and "Furthermore, upon a timeout cwnd MUST be set to no more than the loss window, LW,
    // which equals 1 full-sized segment".
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.inRecovery = false;
    this.bytesAcked = 0;
  }

  undo(priorCwnd: number, priorSsthresh: number): void {
    // RFC 3708 §3 (Linux tcp_undo_cwnd_reduction): "cwnd = max(cwnd, prior_cwnd)", "ssthresh = max(ssthresh,
    // prior_ssthresh)"; the episode is over.
    this.cwnd = Math.max(this.cwnd, priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, priorSsthresh);
    this.inRecovery = false;
    this.bytesAcked = 0;
  }

  onIdleRestart(): void {
    // RFC 5681 §4.1: "cwnd to no more than RW before beginning transmission"; RW = min(IW, cwnd).
    this.cwnd = Math.min(this.cwnd, this.initialWindow());
  }
}

/**
 * The retransmission timer's estimator (RFC 6298). Times in milliseconds.
 *
 * Minimum RTO: we use 200 ms like Linux (TCP_RTO_MIN) rather than RFC 6298
 * §2.4's 1 s "SHOULD": on today's paths 1 s makes every loss after the
 * handshake a long stall, and Linux, the peer we talk to most, uses 200 ms.
 * The maximum is 120 s (RFC 6298 §2.5 allows "at least 60 seconds"; Linux
 * uses TCP_RTO_MAX = 120 s).
 */
export interface RtoLimits {
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
}

export class RttEstimator {
  /** Smoothed round-trip time; 0 until the first measurement. */
  srtt = 0;
  rttvar = 0;
  /** The current RTO before backoff. */
  rto: number;
  /** Whether at least one measurement was taken. */
  measured = false;

  constructor(private readonly limits: RtoLimits) {
    // RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made ... the sender SHOULD set RTO <- 1 second".
    this.rto = limits.initialRtoMs;
  }

  /** Feeds one RTT sample `r` (ms). Callers follow Karn's rule (RFC 6298 §3): no samples from retransmitted segments. */
  sample(r: number): void {
    if (r < 0) return;
    // Clock granularity G: we measure in 1 ms units.
    const g = 1;
    if (!this.measured) {
      // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2, RTO <- SRTT + max(G, K*RTTVAR).
      this.srtt = r;
      this.rttvar = r / 2;
      this.measured = true;
    } else {
      // RFC 6298 §2.3 with alpha = 1/8, beta = 1/4; RTTVAR is updated before SRTT.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = this.clamp(this.srtt + Math.max(g, 4 * this.rttvar));
  }

  /** RTO after `backoff` doublings (RFC 6298 §5.5), clamped to the maximum. */
  backedOff(backoff: number): number {
    return this.clamp(this.rto * 2 ** Math.min(backoff, 30));
  }

  private clamp(v: number): number {
    // RFC 6298 §2.4: "Whenever RTO is computed, if it is less than [the minimum] ... it SHOULD be rounded up".
    return Math.min(this.limits.maxRtoMs, Math.max(this.limits.minRtoMs, v));
  }
}

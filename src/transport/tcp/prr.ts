/**
 * Proportional Rate Reduction (RFC 6937): how much a sender may send on each
 * ACK during loss recovery, so the window comes down to ssthresh smoothly
 * (instead of halving at once and then stalling, or bursting after a long
 * recovery).
 *
 * RFC 6937 §3: while the estimated pipe is above ssthresh, the sender sends
 * in proportion to what was delivered ("sndcnt = CEIL(prr_delivered *
 * ssthresh / RecoverFS) - prr_out"), so by the end of recovery it has sent
 * about ssthresh; once pipe falls below ssthresh (heavy loss), a reduction
 * bound lets it catch up: PRR-CRB (conservative, never more than delivered)
 * or PRR-SSRB (slow start reduction bound, the RFC's recommendation: one
 * extra MSS per ACK, like slow start). All quantities are octets.
 *
 * Wiring (RFC 6937 §3 pseudocode): `start(ssthresh, RecoverFS)` when recovery
 * begins (after the congestion controller chose ssthresh); on every ACK in
 * recovery `onAck(DeliveredData, pipe)` with DeliveredData from the SACK
 * scoreboard (`SackUpdate.delivered`) and pipe from `SackScoreboard.setPipe()`,
 * then send up to `sndcnt` octets (cwnd = pipe + sndcnt) and report each
 * transmission with `onSent`; at the end of recovery set cwnd = `ssthresh`.
 */

export type PrrBound = "ssrb" | "crb";

export class Prr {
  /** The target window when recovery ends (RFC 6937 "ssthresh"). */
  ssthresh = 0;
  /** RFC 6937 "RecoverFS": FlightSize when recovery began. */
  recoverFs = 0;
  /** RFC 6937 "prr_delivered": octets delivered to the receiver since recovery began. */
  prrDelivered = 0;
  /** RFC 6937 "prr_out": octets sent (new or retransmitted) since recovery began. */
  prrOut = 0;
  /** What the last ACK allows to be sent now (≥ 0). */
  sndcnt = 0;
  /** Whether `start` was called and `end` not yet. */
  active = false;

  constructor(
    public mss: number,
    readonly bound: PrrBound = "ssrb",
  ) {}

  /**
   * RFC 6937 §3 "At the beginning of recovery": ssthresh from the congestion
   * controller, prr_delivered = prr_out = 0, RecoverFS = snd.nxt − snd.una.
   */
  start(ssthresh: number, recoverFs: number): void {
    this.ssthresh = ssthresh;
    this.recoverFs = Math.max(recoverFs, 1);
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.sndcnt = 0;
    this.active = true;
  }

  /**
   * RFC 6937 §3 "On every ACK during recovery": returns sndcnt, the octets
   * the sender may send in response to this ACK.
   */
  onAck(deliveredData: number, pipe: number): number {
    this.prrDelivered += deliveredData;
    let sndcnt: number;
    if (pipe > this.ssthresh) {
      // Proportional Rate Reduction: "sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out".
      sndcnt = Math.ceil((this.prrDelivered * this.ssthresh) / this.recoverFs) - this.prrOut;
    } else {
      // Reduction bound. PRR-CRB: "limit = prr_delivered - prr_out"; PRR-SSRB: "limit =
      // MAX(prr_delivered - prr_out, DeliveredData) + MSS". Then "sndcnt = MIN(ssthresh - pipe, limit)".
      const limit =
        this.bound === "crb"
          ? this.prrDelivered - this.prrOut
          : Math.max(this.prrDelivered - this.prrOut, deliveredData) + this.mss;
      sndcnt = Math.min(this.ssthresh - pipe, limit);
    }
    // A negative allowance (more was sent than the proportion, e.g. the fast retransmit on the first
    // ACK) means: send nothing now.
    this.sndcnt = Math.max(0, sndcnt);
    return this.sndcnt;
  }

  /** RFC 6937 §3 "On any data transmission or retransmission: prr_out += (data sent)". */
  onSent(octets: number): void {
    this.prrOut += octets;
    this.sndcnt = Math.max(0, this.sndcnt - octets);
  }

  /** The congestion window PRR implies after the last ACK: pipe + sndcnt (RFC 6937 §3 "cwnd = pipe + sndcnt"). */
  cwnd(pipe: number): number {
    return pipe + this.sndcnt;
  }

  /** RFC 6937 §3: at the end of recovery "cwnd = ssthresh". Returns that window. */
  end(): number {
    this.active = false;
    return this.ssthresh;
  }
}

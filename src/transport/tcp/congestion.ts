/**
 * The congestion controller's interface. The sender owns loss detection
 * (duplicate ACKs, RTO) and asks the controller how the window changes; a
 * later controller (CUBIC) or loss detector (SACK recovery, RACK-TLP) replaces
 * one side without touching the other. All sizes are bytes.
 */
export interface CongestionControl {
  readonly name: string;
  /** Congestion window (RFC 5681 §2 "cwnd"). */
  readonly cwnd: number;
  /** Slow-start threshold (RFC 5681 §2 "ssthresh"). */
  readonly ssthresh: number;
  /** Whether the controller is in fast recovery. */
  readonly inRecovery: boolean;
  /** New data was cumulatively acknowledged outside recovery. */
  onAck(ackedBytes: number, nowMs: number): void;
  /**
   * The sender saw its third duplicate ACK (RFC 5681 §3.2 step 2). `recover` is the highest sequence sent.
   * `alreadyReduced` (optional, for ECN): the window was reduced for this window of data already (RFC 3168
   * §6.1.2, an ECE): keep ssthresh and enter recovery from it, without a second multiplicative decrease.
   */
  enterRecovery(flightSize: number, recover: number, alreadyReduced?: boolean): void;
  /** Another duplicate ACK in recovery (RFC 5681 §3.2 step 4). */
  onDupAckInRecovery(): void;
  /**
   * An ACK in recovery: returns whether recovery ended (full ACK, RFC 6582 §3.2 step 3)
   * or the caller should retransmit the next hole (partial ACK, step 3 second part).
   */
  onAckInRecovery(ack: number, ackedBytes: number, flightSize: number): "exit" | "partial";
  /** The retransmission timer expired (RFC 5681 §3.1 eqn. 4, cwnd = loss window). */
  onRetransmitTimeout(flightSize: number): void;
  /** The connection sat idle longer than an RTO (RFC 5681 §4.1 restart window). */
  onIdleRestart(): void;
  /** The sending MSS changed (after the handshake or PMTU). */
  setMss(mss: number): void;
  /**
   * Optional signals for controllers that need them (CUBIC, HyStart++). For each ACK of new data the
   * sender calls `onRttSample` (when the ACK gave a Karn-safe sample), then `onAckSeq`, then `onAck` /
   * `onAckInRecovery`.
   */
  onRttSample?(rttMs: number): void;
  onAckSeq?(ack: number, sndNxt: number): void;
  /**
   * The last fast recovery proved spurious (every retransmission D-SACKed, RFC 3708 §3; or Eifel, RFC 3522):
   * undo its reduction. `priorCwnd` and `priorSsthresh` are the values from just before `enterRecovery`;
   * the window returns to at least them (Linux tcp_undo_cwnd_reduction). Optional: without it, no undo.
   */
  undo?(priorCwnd: number, priorSsthresh: number): void;
}

export type CongestionControlFactory = (mss: number, initialWindowSegments: number) => CongestionControl;

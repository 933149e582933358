/**
 * F-RTO (RFC 5682): detecting spurious retransmission timeouts, with the
 * response Linux gives (its tcp_frto): the timeout's window reduction is
 * undone (RFC 5682 §4 leaves the response to e.g. RFC 4015, the Eifel
 * response, which reverses the congestion control state; we take it as
 * Linux's tcp_try_undo_loss does: cwnd and ssthresh back to at least their values
 * before the timeout, through the controller's `undo`, the same hook the
 * D-SACK / Eifel undo of fast recoveries uses in recovery.ts).
 *
 * A timeout whose segments were only delayed (a delay spike on the path, ACKs
 * held back) makes a conventional sender go back over a window that all
 * arrived, at cwnd = 1 MSS: every retransmission of it is a duplicate, and the
 * window starts again from slow start. F-RTO instead:
 *
 *  1. (step 1, `frtoOnTimeout`) retransmits only the first unacknowledged
 *     segment and remembers "recover" (SND.MAX now) and the window before the
 *     reduction; SND.NXT stays where it was.
 *  2. (step 2) on the first ACK that advances SND.UNA, sends up to two
 *     segments of new data instead of retransmissions (`frtoAllow` lets
 *     `trySend` past cwnd for them: RFC 5682 §2.1 step 2b notes that
 *     congestion control allows two segments here, F-RTO only picks other
 *     ones).
 *  3. (step 3) if the next ACK acknowledges data that was never retransmitted
 *     (and, with SACK, shows no newer data arriving past a hole), the timeout
 *     was spurious: undo, and go on with new data (RFC 4015: SND.NXT stays at
 *     SND.MAX). Otherwise the loss was real and conventional RTO recovery goes
 *     on: go-back-N from SND.UNA without SACK, RFC 6675 §5.1's hole walk with it.
 *
 * The SACK-enhanced variant (RFC 5682 §3) runs when the timeout finds the
 * connection's SACK scoreboard (recovery.ts: made on a SACK connection by the
 * first ACK that SACKs something or, with `rack`, leaves data in flight), as
 * RTO recovery then walks its holes; the basic one (§2.1) otherwise, with the
 * go-back-N the timeout does there. As Linux, F-RTO does not start on a
 * timeout during fast recovery (a loss is already known there), nor on a
 * timeout during conventional RTO recovery (§2.1 step 1: "If the TCP sender
 * is already in RTO recovery AND "recover" is larger than or equal to
 * SND.UNA, do not enter step 2"); a timeout that recurs while F-RTO still
 * waits for its first new ACK starts it again (§3 step 2, Linux alike).
 *
 * Where the RFC's "recover" is the highest sequence number sent, `frtoRecover`
 * is one past it (SND.MAX): an ACK "covers recover" at `ack === frtoRecover`
 * and "covers more than recover" above it.
 */
import { seqAdd, seqGreaterThan, seqLessThan, seqLessThanEq, seqSub } from "../../seqnum/seqnum.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import type { SackUpdate } from "./sack-scoreboard.ts";
import { trySend } from "./snd.ts";

/** F-RTO's steps (`SendState.frtoStep`). */
const STEP_NONE = 0;
const STEP_FIRST_ACK = 2;
const STEP_SECOND_ACK = 3;

/**
 * RFC 5682 §2.1 / §3 step 1, at a retransmission timeout before the controller's reduction: whether F-RTO
 * runs for it. Records RTO recovery ("recover") either way, and the window to restore if F-RTO runs; the
 * caller retransmits the first segment (without moving SND.NXT back) and then sets step 2.
 */
export function frtoOnTimeout(ep: TcpEndpoint): boolean {
  const s = ep.snd;
  // §3 step 2: "If the retransmission timeout expires again, go to step 1": a timeout that recurs while
  // F-RTO still waits for the first new ACK (SND.UNA unmoved) is tested again, against the window from
  // before the first one (Linux likewise restarts F-RTO on timeouts that recur at the same SND.UNA). Once conventional RTO
  // recovery has begun, a later timeout of it is not (§2.1 step 1).
  const recurring = s.frtoStep === STEP_FIRST_ACK;
  const inRtoRecovery = s.rtoRecovery && seqLessThan(s.una, s.rtoHigh) && !recurring;
  const inFastRecovery = s.sack !== undefined ? s.sack.active : s.cc.inRecovery;
  s.rtoRecovery = true;
  s.rtoHigh = s.max;
  s.frtoStep = STEP_NONE;
  s.frtoAllow = 0;
  if (!ep.opts.frto || inRtoRecovery || inFastRecovery) return false;
  s.frtoRecover = s.max;
  s.frtoSack = s.sack !== undefined;
  const len = Math.min(s.buf.size, ep.maxPayload());
  s.frtoRxtEnd = seqAdd(s.una, len > 0 ? len : 1);
  if (!recurring) {
    s.frtoCwnd = s.cc.cwnd;
    s.frtoSsthresh = s.cc.ssthresh;
  }
  return true;
}

/**
 * One acceptable ACK while F-RTO waits (after `newAck` / `onDupAck`, before SACK recovery sends):
 * `acked` bytes newly acknowledged, `dup` an RFC 5681 duplicate ACK, `ece` its ECN-Echo.
 */
export function frtoOnAck(
  ep: TcpEndpoint,
  ack: number,
  acked: number,
  dup: boolean,
  ece: boolean,
  blocks: readonly number[] | undefined,
  u: SackUpdate | undefined,
): void {
  const s = ep.snd;
  // The variant the timeout chose stays, even if this ACK's SACK blocks made the scoreboard since.
  const sack = s.frtoSack ? s.sack : undefined;
  const recover = s.frtoRecover;
  if (ece && (acked > 0 || dup)) {
    // A congestion signal during the test: the reduction stands (RFC 4015's response does not restore the
    // window on an ACK with ECN-Echo either). Conventional recovery goes on.
    revert(ep);
    return;
  }
  if (s.frtoStep === STEP_FIRST_ACK) {
    if (acked === 0) {
      // §3 step 2: duplicate ACKs before the retransmission's ACK only update the scoreboard ("Stay in
      // step 2"). §2.1 step 2a: without SACK, a duplicate ACK means conventional recovery.
      if (dup && sack === undefined) revert(ep);
      return;
    }
    // §2.1 / §3 step 2a: an ACK of everything up to "recover" (nothing left to test with), or (basic
    // variant) one not covering the retransmitted segment: conventional RTO recovery.
    if (ack === recover || seqGreaterThan(ack, recover)) {
      revert(ep);
      return;
    }
    if (sack === undefined && seqLessThan(ack, s.frtoRxtEnd)) {
      revert(ep);
      return;
    }
    // Step 2b: up to two new (never sent) segments, then step 3; with no new data or no receive window
    // for it, the RFC recommends not entering step 3 but recovering conventionally.
    if (!sendNewData(ep)) {
      revert(ep);
      return;
    }
    ep.stack.stats.tcp.frtoAttempts++;
    s.frtoStep = STEP_SECOND_ACK;
    if (sack !== undefined) s.frtoSacked = sack.sb.sackedBelow(recover);
    return;
  }
  // Step 3: "Either a duplicate ACK or a new cumulative ACK (advancing the window) applies in this step.
  // Other types of ACKs are ignored without any action" (§3; §2.1 alike).
  if (acked === 0 && !dup) return;
  if (sack !== undefined && acked === 0 && u?.dsack === true && u.newlySacked === 0) {
    // A D-SACK alone reports a segment received twice (RFC 2883 §4), here the timeout's retransmission of
    // data that had arrived: no sign of a loss, so it does not decide the test (RFC 5682 §3 step 3a
    // reads it as a duplicate ACK without newly SACKed data).
    return;
  }
  if (seqGreaterThan(ack, recover)) {
    // The cumulative ACK passed "recover": everything sent before the timeout arrived, and only its first
    // segment was retransmitted. RFC 5682 §3 step 3a sends this case to conventional recovery (which has
    // nothing left to resend); we follow Linux (tcp_process_loss: never-retransmitted data acknowledged
    // undoes the timeout) and call it spurious.
    spurious(ep);
    return;
  }
  if (sack !== undefined) {
    // §3 step 3a: "If the Cumulative Acknowledgment field or the SACK information covers more than
    // recover": the new segments arrived while data below "recover" is still missing, a loss.
    if (sackBeyond(blocks, u, recover, s.max)) {
      revert(ep);
      return;
    }
    // §3 step 3b: data below "recover", sent before the timeout and never retransmitted, newly
    // acknowledged cumulatively or by SACK: the timeout was spurious.
    if (acked > 0 || sack.sb.sackedBelow(recover) > s.frtoSacked) spurious(ep);
    else revert(ep);
    return;
  }
  // §2.1 step 3b: "If the ACK advances the window (i.e., if the ACK acknowledges data that was not
  // retransmitted after the timeout), declare the timeout spurious"; step 3a: a duplicate ACK means the
  // new segments arrived past a hole, so "continue with the slow start algorithm retransmitting
  // unacknowledged segments".
  if (acked > 0) spurious(ep);
  else revert(ep);
}

/**
 * Conventional RTO recovery from here (RFC 5682 steps 2a and 3a): without SACK, go back to SND.UNA (past
 * the segment the timeout resent, if it is not yet acknowledged); with SACK, RFC 6675 §5.1's walk over
 * the holes resumes in `sackSend`. cwnd is what slow start made of the timeout's one segment: at most
 * 2 MSS after step 2's ACK and 3 MSS after step 3's, as steps 2a and 3a require.
 */
function revert(ep: TcpEndpoint): void {
  const s = ep.snd;
  s.frtoStep = STEP_NONE;
  s.frtoAllow = 0;
  if (!s.frtoSack) s.nxt = seqLessThan(s.una, s.frtoRxtEnd) ? s.frtoRxtEnd : s.una;
}

/**
 * Step 3b with the RFC 4015 response (RFC 5682 §4) as Linux takes it (tcp_try_undo_loss with F-RTO): the timeout was
 * spurious, RTO recovery ends, the controller gets its window back, and sending goes on with new data.
 */
function spurious(ep: TcpEndpoint): void {
  const s = ep.snd;
  s.frtoStep = STEP_NONE;
  s.frtoAllow = 0;
  s.rtoRecovery = false;
  ep.stack.stats.tcp.spuriousRtos++;
  // RFC 4015's response resumes with previously unsent data (no go-back-N): SND.NXT never went back.
  // RFC 5682 step 3b moves "recover" to SND.UNA, so that a later loss in this window may start fast
  // retransmit; here one below it, as `onDupAck` (RFC 6582 §3.2 step 1) wants SND.UNA above `recover`.
  s.recover = seqSub(s.una, 1);
  // SACK: end RFC 6675 §5.1's RTO recovery, so losses are again found by RACK or DupThresh.
  s.sack?.sb.endRtoRecovery();
  // RFC 3708 §3 / Linux tcp_undo_cwnd_reduction: cwnd and ssthresh at least their values before the
  // timeout (CUBIC also restores W_max, K and its epoch, RFC 9438 §4.9).
  s.cc.undo?.(s.frtoCwnd, s.frtoSsthresh);
}

/**
 * Step 2b: up to two segments of new data from SND.NXT = SND.MAX, within the receive window but past cwnd,
 * overriding Nagle for the first (§2.1 step 2b allows it).
 * Returns whether any was sent.
 */
function sendNewData(ep: TcpEndpoint): boolean {
  const s = ep.snd;
  if (s.nxt !== s.max) return false;
  const before = s.max;
  s.frtoAllow = 2 * ep.maxPayload();
  s.force = true;
  trySend(ep);
  s.force = false;
  s.frtoAllow = 0;
  return s.max !== before;
}

/** Whether a SACK block of this ACK (past a D-SACK) reaches above `recover` (and no further than SND.MAX). */
function sackBeyond(
  blocks: readonly number[] | undefined,
  u: SackUpdate | undefined,
  recover: number,
  max: number,
): boolean {
  if (blocks === undefined) return false;
  for (let i = u?.dsack === true ? 2 : 0; i + 1 < blocks.length; i += 2) {
    const e = blocks[i + 1]! >>> 0;
    if (seqGreaterThan(e, recover) && seqLessThanEq(e, max)) return true;
  }
  return false;
}

/**
 * Explicit Congestion Notification for TCP (RFC 3168 §6.1), with the stack-wide
 * mode of Linux's net.ipv4.tcp_ecn (option `ecn`: 0 off, 1 request and accept,
 * 2 accept only, the default) and the per-endpoint `Ecn` socket option.
 *
 * - Negotiation (§6.1.1): an active open sends an ECN-setup SYN (ECE and CWR);
 *   a passive open answers one with an ECN-setup SYN-ACK (ECE, not CWR). A
 *   retransmitted SYN is not ECN-setup (§6.1.1.1, Linux's tcp_ecn_fallback),
 *   and a SYN cookie's SYN-ACK never is (the cookie has no room for it).
 * - IP bits (§5, §6.1.2, §6.1.4–6.1.6): new data segments of an ECN connection
 *   leave with ECT(0); SYNs, SYN-ACKs, pure ACKs, FIN-only segments, window
 *   probes, keep-alives, RSTs and retransmissions leave Not-ECT.
 * - Receiver (§6.1.3): a CE-marked data segment makes every later segment
 *   carry ECE, until a data segment with CWR arrives (a CWR segment that is
 *   itself CE-marked starts it again). The first CE asks for an immediate ACK.
 * - Sender (§6.1.2): ECE reduces the window once per window of data, as a loss
 *   would (through `CongestionControl.enterRecovery`, nothing retransmitted),
 *   unless a reduction (ECN, fast recovery, RTO) is already under way; every
 *   reduction makes the next new data segment carry CWR. The reduction lasts
 *   until an ACK covers more than SND.MAX at its start (Linux's CWR state).
 */
import { TCP_CWR, TCP_ECE } from "../../header/tcp.ts";
import { seqGreaterThan } from "../../seqnum/seqnum.ts";
import type { TcpEndpoint } from "./endpoint.ts";

/** The `ecn` option's values (Linux net.ipv4.tcp_ecn). */
export const ECN_OFF = 0;
export const ECN_ON = 1;
export const ECN_ACCEPT = 2;

/** The ECN field, the two low bits of the IPv4 TOS / IPv6 Traffic Class (RFC 3168 §5). */
export const IP_ECN_MASK = 3;
export const IP_ECN_NOT_ECT = 0;
export const IP_ECN_ECT1 = 1;
export const IP_ECN_ECT0 = 2;
export const IP_ECN_CE = 3;

/** Whether `v` is a valid ECN mode. */
export function isEcnMode(v: unknown): v is number {
  return v === ECN_OFF || v === ECN_ON || v === ECN_ACCEPT;
}

/** The endpoint's mode: its `Ecn` socket option if set, else the stack's `ecn`. */
export function ecnMode(ep: TcpEndpoint): number {
  return ep.ecnMode ?? ep.opts.ecn;
}

/** RFC 3168 §6.1.1: "An ECN-setup SYN packet" has both ECE and CWR set. */
export function isEcnSetupSyn(flags: number): boolean {
  return (flags & (TCP_ECE | TCP_CWR)) === (TCP_ECE | TCP_CWR);
}

/**
 * The ECN flags of our SYN or SYN-ACK (`sendSyn`). A SYN asks for ECN in mode 1 on its first transmission
 * only: RFC 3168 §6.1.1.1 lets a host that heard nothing resend it as a non-ECN-setup SYN, against
 * middleboxes that drop them (Linux does so on the first retransmission). A SYN-ACK says yes with ECE
 * alone when the peer's SYN asked and our mode accepts (§6.1.1: "ECE set but CWR not set").
 */
export function synEcnFlags(ep: TcpEndpoint, synAck: boolean): number {
  if (synAck) return ep.ecn ? TCP_ECE : 0;
  ep.ecnRequested = ecnMode(ep) === ECN_ON && ep.snd.retries === 0;
  return ep.ecnRequested ? TCP_ECE | TCP_CWR : 0;
}

/** Passive open (and simultaneous open): the peer's SYN asked for ECN and our mode agrees. */
export function ecnOnSyn(ep: TcpEndpoint, flags: number, weAsked: boolean): void {
  ep.ecn = isEcnSetupSyn(flags) && (weAsked ? ep.ecnRequested : ecnMode(ep) !== ECN_OFF);
}

/** Active open: RFC 3168 §6.1.1 an ECN-setup SYN-ACK (ECE without CWR) answers our ECN-setup SYN. */
export function ecnOnSynAck(ep: TcpEndpoint, flags: number): void {
  ep.ecn = ep.ecnRequested && (flags & (TCP_ECE | TCP_CWR)) === TCP_ECE;
}

/**
 * RFC 3168 §6.1.3 for an acceptable segment with data on an ECN connection: CWR ends our ECE
 * ("until it receives a CWR packet"); CE (after that, so a CE-marked CWR segment keeps it) starts it.
 */
export function ecnOnData(ep: TcpEndpoint, flags: number, ipEcn: number): void {
  const stats = ep.stack.stats.tcp;
  if ((flags & TCP_CWR) !== 0) {
    stats.ecnCwrReceived++;
    ep.eceDemand = false;
  }
  if (ipEcn === IP_ECN_CE) {
    stats.ecnCeReceived++;
    if (!ep.eceDemand) {
      ep.eceDemand = true;
      // Tell the sender in this round trip, not after the delayed-ACK timer (as Linux's quick-ack on CE).
      ep.rcv.ackNow = true;
    }
  }
}

/**
 * The sender's side of an acceptable ACK on an ECN connection (after `processAck`): the reduction
 * under way ends once SND.UNA passes its end; ECE then reduces once (RFC 3168 §6.1.2: "the TCP source
 * halves the congestion window" ... "should not decrease the slow-start threshold, ssthresh, if it has
 * been decreased within the last round trip time").
 */
export function ecnOnAck(ep: TcpEndpoint, flags: number): void {
  const s = ep.snd;
  if (s.cwrActive && seqGreaterThan(s.una, s.cwrEnd)) s.cwrActive = false;
  if ((flags & TCP_ECE) === 0) return;
  const stats = ep.stack.stats.tcp;
  stats.ecnEceReceived++;
  if (s.cwrActive || s.cc.inRecovery || s.sack?.active === true || s.sack?.sb.rtoRecovery === true) return;
  // As a loss would be answered (RFC 3168 §6.1.2 "the same as ... a dropped packet"), with no
  // retransmission: the controller's reduction, and its full-ACK rule ends the episode at once
  // (cwnd = min(ssthresh, FlightSize + SMSS)), as `tlpOnAck` reacts to a repaired loss.
  const flight = s.flight;
  s.cc.enterRecovery(flight, s.max);
  s.cc.onAckInRecovery(s.max, 0, flight);
  stats.ecnCwndReductions++;
  // A congestion signal is real: no later undo may restore the window from before it (Linux's
  // tcp_enter_cwr clears undo_marker).
  if (s.sack !== undefined) {
    s.sack.undoMarker = undefined;
    s.sack.undoFirstEnd = undefined;
  }
  ecnNoteReduction(ep);
}

/** Whether a window reduction of an ECN connection is under way (SND.UNA has not passed its end). */
export function ecnReductionUnderway(ep: TcpEndpoint): boolean {
  const s = ep.snd;
  return ep.ecn && s.cwrActive && !seqGreaterThan(s.una, s.cwrEnd);
}

/**
 * Any window reduction (ECE, fast recovery, RTO, a repaired tail loss): RFC 3168 §6.1.2 "When an
 * ECN-Capable TCP sender reduces its congestion window for any reason ..., the TCP sender sets the CWR
 * flag in the TCP header of the first new data packet sent after the window reduction", and ECE does
 * not reduce again until the data in flight now is acknowledged.
 */
export function ecnNoteReduction(ep: TcpEndpoint): void {
  if (!ep.ecn) return;
  const s = ep.snd;
  s.cwrActive = true;
  s.cwrEnd = s.max;
  s.cwrPending = true;
}

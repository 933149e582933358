/**
 * SYN-SENT (RFC 9293 §3.10.7.3): our SYN is out; a SYN-ACK completes the
 * handshake, a bare SYN means simultaneous open.
 */
import { seqAdd, seqGreaterThan, seqLessThanEq } from "../../seqnum/seqnum.ts";
import type { TransportPacketInfo } from "../../stack/registration.ts";
import { ErrConnectionRefused } from "../../tcpip/errors.ts";
import { ecnOnSyn, ecnOnSynAck } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { negotiate } from "./options.ts";
import type { Segment } from "./segment.ts";
import { processText } from "./synchronized.ts";

export function handleSynSent(ep: TcpEndpoint, seg: Segment, _info: TransportPacketInfo): void {
  const s = ep.snd;
  const r = ep.rcv;
  // "first check the ACK bit": "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST
  // bit is set, if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST>".
  if (seg.hasAck && (seqLessThanEq(seg.ack, s.iss) || seqGreaterThan(seg.ack, s.max))) {
    if (!seg.rst) ep.sendRst(seg.ack, 0, false);
    return;
  }
  // "second check the RST bit": "If the ACK was acceptable, then signal to the user 'error: connection
  // reset', drop the segment, enter CLOSED state ... Otherwise (no ACK), drop the segment and return."
  // (RFC 5961 §3.2 makes the acceptable ACK the proof the RST is not blind.)
  if (seg.rst) {
    if (seg.hasAck) {
      ep.stack.stats.tcp.resetsReceived++;
      ep.stack.stats.tcp.failedConnectionAttempts++;
      ep.abort(new ErrConnectionRefused(), false);
    }
    return;
  }
  // "fourth check the SYN bit"
  if (!seg.syn) return;
  negotiate(ep, seg.options);
  r.init(seg.seq);
  if (seg.hasAck) {
    s.una = seg.ack;
    // RFC 7323 §2.2: the SYN-ACK's window is not scaled.
    s.wnd = seg.window;
    s.maxWnd = s.wnd;
    s.wl1 = seg.seq;
    s.wl2 = seg.ack;
    // First RTT sample: from the echoed timestamp, or the SYN's send time if it was not retransmitted (Karn).
    if (r.tsEnabled && seg.options.tsEcr !== 0)
      s.rtt.sample(Math.max(0, (ep.tsNow() - seg.options.tsEcr) | 0));
    else if (s.retries === 0) s.rtt.sample(ep.now() - s.synTime);
    ecnOnSynAck(ep, seg.flags);
    ep.established();
    // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to ESTABLISHED, form an ACK
    // segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it. Data or controls that were queued for
    // transmission MAY be included."
    r.ackNow = true;
    if (seg.payload.length > 0 || seg.fin) processText(ep, seg, seqAdd(seg.seq, 1));
    return;
  }
  // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>".
  s.wnd = seg.window;
  s.maxWnd = s.wnd;
  s.wl1 = seg.seq;
  ep.setState("SYN-RECEIVED");
  // RFC 3168 §6.1.1 for a simultaneous open: ECN when both SYNs were ECN-setup; our SYN-ACK then says so.
  ecnOnSyn(ep, seg.flags, true);
  s.retries = 0;
  s.backoff = 0;
  ep.sendSyn();
  ep.rtxMode = "handshake";
  ep.rtxTimer.arm(s.rtt.rto);
}

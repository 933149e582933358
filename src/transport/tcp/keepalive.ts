/**
 * Keep-alive (RFC 1122 §4.2.3.6): after `idle` ms without hearing from the
 * peer, send probes every `interval` ms; after `count` unanswered probes, or
 * once the user timeout passed (Linux TCP_USER_TIMEOUT with keep-alive),
 * reset and report ErrTimeout.
 */
import { ErrTimeout } from "../../tcpip/errors.ts";
import type { TcpEndpoint } from "./endpoint.ts";

export function onKeepaliveTimer(ep: TcpEndpoint): void {
  if (!ep.keepalive || (ep.state !== "ESTABLISHED" && ep.state !== "CLOSE-WAIT")) return;
  const now = ep.now();
  const s = ep.snd;
  // Data in flight or a probed zero window: the retransmission and persist timers watch the peer.
  if (s.una !== s.max || s.buf.size > 0) {
    ep.stateTimer.arm(ep.keepaliveIdleMs);
    return;
  }
  const idle = now - ep.lastRcvTime;
  if (ep.keepaliveProbes === 0 && idle < ep.keepaliveIdleMs) {
    ep.stateTimer.arm(ep.keepaliveIdleMs - idle);
    return;
  }
  const userTimedOut = ep.userTimeout > 0 && idle >= ep.userTimeout && ep.keepaliveProbes > 0;
  if (ep.keepaliveProbes >= ep.keepaliveCount || userTimedOut) {
    ep.abort(new ErrTimeout(), true);
    return;
  }
  // RFC 1122 §4.2.3.6: a probe "with SEG.SEQ = SND.NXT-1" and no data (as Linux sends it).
  ep.sendKeepaliveProbe();
  ep.keepaliveProbes++;
  ep.stateTimer.arm(ep.keepaliveIntervalMs);
}

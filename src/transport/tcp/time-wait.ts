/**
 * TIME-WAIT (RFC 9293 §3.10.7.4 and §3.6.1): acknowledge a retransmitted FIN
 * and restart 2MSL; ignore RST (RFC 1337 §3 "TIME-WAIT Assassination" fix
 * F1); accept a new SYN for the same 4-tuple when it is clearly newer (RFC
 * 6191 §2: higher timestamp, or without timestamps a higher sequence number)
 * and hand it to the listener with an ISN above the old connection's.
 */
import { seqAdd, seqGreaterThan, seqLessThan } from "../../seqnum/seqnum.ts";
import type { TransportPacketInfo } from "../../stack/registration.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { newConnection } from "./listen.ts";
import type { Segment } from "./segment.ts";
import { acceptable } from "./synchronized.ts";

export function handleTimeWait(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): void {
  const r = ep.rcv;
  if (seg.rst) {
    ep.stack.stats.tcp.timeWaitAssassinationsBlocked++;
    return;
  }
  const opt = seg.options;
  if (seg.syn && !seg.hasAck) {
    const newer =
      r.tsEnabled && opt.timestamp ? seqGreaterThan(opt.tsVal, r.tsRecent) : seqGreaterThan(seg.seq, r.nxt);
    const listener = newer
      ? ep.proto.findListener(info.nic, info.dst, seg.dstPort, info.netProto)
      : undefined;
    if (listener && listener.acceptQueue.length < listener.backlog) {
      const isn = seqAdd(ep.snd.max, 65535 + 2);
      ep.cleanup();
      newConnection(listener, seg, info, isn);
      return;
    }
    ep.sendAck();
    return;
  }
  // PAWS (RFC 7323 §5.3) holds here too.
  if (r.tsEnabled && opt.timestamp && seqLessThan(opt.tsVal, r.tsRecent)) {
    ep.stack.stats.tcp.pawsRejected++;
    ep.sendAck();
    return;
  }
  if (!acceptable(seg.seq, seg.seqLen, r.nxt, r.window) || seg.fin) {
    // "TIME-WAIT STATE: The only thing that can arrive in this state is a retransmission of the remote FIN.
    // Acknowledge it, and restart the 2 MSL timeout."
    if (seg.fin) ep.stateTimer.arm(ep.opts.timeWaitMs);
    ep.sendAck();
  }
}

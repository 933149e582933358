/**
 * Resets for segments no connection wants (RFC 9293 §3.10.7.1):
 * "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
 *  If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>."
 * An incoming RST is never answered.
 */
import { TCP_ACK, TCP_RST } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import type { StackContext, TransportPacketInfo } from "../../stack/registration.ts";
import { TcpipError } from "../../tcpip/errors.ts";
import { writeSegment } from "./output.ts";
import type { Segment } from "./segment.ts";

export function replyWithReset(stack: StackContext, info: TransportPacketInfo, seg: Segment): void {
  if (seg.rst) return;
  let route: ReturnType<StackContext["findRoute"]>;
  try {
    route = stack.findRoute(info.nic, info.dst, info.src, info.netProto);
  } catch (e) {
    if (e instanceof TcpipError) return;
    throw e;
  }
  const withAck = !seg.hasAck;
  writeSegment(
    route,
    {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: seg.hasAck ? seg.ack : 0,
      ack: withAck ? seqAdd(seg.seq, seg.seqLen) : 0,
      flags: TCP_RST | (withAck ? TCP_ACK : 0),
      window: 0,
    },
    route.defaultTtl,
    0,
    stack.stats,
  );
  stack.stats.tcp.resetsSent++;
  route.release();
}

/**
 * LISTEN (RFC 9293 §3.10.7.2): SYNs make children in SYN-RECEIVED (the SYN
 * queue); children that complete the handshake wait in the accept queue.
 * When the SYN queue is full the listener answers statelessly with a SYN
 * cookie (RFC 4987 §3.6); when the accept queue is full it drops, as Linux
 * does, and the peer retransmits.
 */
import { TCP_ACK, TCP_SYN } from "../../header/tcp.ts";
import { seqAdd, seqSub } from "../../seqnum/seqnum.ts";
import type { TransportPacketInfo } from "../../stack/registration.ts";
import { TcpipError } from "../../tcpip/errors.ts";
import { ecnOnSyn } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { EventIn } from "./events.ts";
import { defaultMss, negotiate } from "./options.ts";
import { writeSegment } from "./output.ts";
import { windowScaleFor } from "./protocol-options.ts";
import { replyWithReset } from "./rst.ts";
import type { Segment } from "./segment.ts";
import { SynCookies } from "./syn-cookies.ts";
import { handleSynchronized } from "./synchronized.ts";

export function handleListen(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): void {
  const stats = ep.stack.stats.tcp;
  // RFC 9293 §3.10.7.2 first: "An incoming RST segment could not be valid ... it should be ignored."
  if (seg.rst) return;
  if (seg.hasAck) {
    // An ACK for a SYN cookie we sent, or else: "Any acknowledgment is bad ... form a reset segment".
    if (!seg.syn && ep.opts.synCookies && acceptCookie(ep, seg, info)) return;
    replyWithReset(ep.stack, info, seg);
    return;
  }
  if (!seg.syn) return;
  if (ep.acceptQueue.length >= ep.backlog) {
    // Linux drops SYNs while the accept queue is full; the peer's SYN retransmission tries again.
    stats.listenOverflowSynDrop++;
    return;
  }
  if (ep.synQueue.size >= ep.backlog) {
    if (ep.opts.synCookies) sendCookie(ep, seg, info);
    else stats.listenOverflowSynDrop++;
    return;
  }
  newConnection(ep, seg, info, undefined);
}

/** Makes a child in SYN-RECEIVED for `seg` and sends the SYN-ACK. `isn` overrides RFC 6528 (TIME-WAIT reuse). */
export function newConnection(
  ep: TcpEndpoint,
  seg: Segment,
  info: TransportPacketInfo,
  isn: number | undefined,
): TcpEndpoint | undefined {
  const child = makeChild(ep, seg, info);
  if (!child) return undefined;
  const s = child.snd;
  const id = child.id;
  const secrets = ep.proto.secrets();
  s.iss = isn ?? secrets.isn.isn(id.localAddress!, id.localPort, id.remoteAddress!, id.remotePort, ep.now());
  s.una = s.iss;
  s.nxt = seqAdd(s.iss, 1);
  s.max = s.nxt;
  s.recover = s.iss;
  negotiate(child, seg.options);
  ecnOnSyn(child, seg.flags, false);
  child.rcv.init(seg.seq);
  // RFC 9293 §3.10.7.2: the window of the SYN is not scaled (RFC 7323 §2.2).
  s.wnd = seg.window;
  s.maxWnd = s.wnd;
  s.wl1 = seg.seq;
  s.wl2 = s.iss;
  child.setState("SYN-RECEIVED");
  ep.synQueue.add(child);
  ep.stack.stats.tcp.passiveConnectionOpenings++;
  s.synTime = ep.now();
  child.sendSyn();
  child.rtxMode = "handshake";
  child.rtxTimer.arm(s.rtt.rto);
  return child;
}

function makeChild(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): TcpEndpoint | undefined {
  let route: ReturnType<TcpEndpoint["stack"]["findRoute"]>;
  try {
    route = ep.stack.findRoute(info.nic, info.dst, info.src, info.netProto);
  } catch (e) {
    if (e instanceof TcpipError) return undefined;
    throw e;
  }
  const child = ep.newChild();
  child.adoptRoute(route);
  try {
    child.register(route.nic, [info.netProto], {
      localPort: seg.dstPort,
      localAddress: info.dst,
      remotePort: seg.srcPort,
      remoteAddress: info.src,
    });
  } catch (e) {
    route.release();
    if (e instanceof TcpipError) return undefined;
    throw e;
  }
  const id = child.id;
  child.tsOffset = ep.proto
    .secrets()
    .isn.tsOffset(id.localAddress!, id.localPort, id.remoteAddress!, id.remotePort);
  child.rcv.offeredScale = ep.opts.windowScaling
    ? windowScaleFor(Math.max(child.rcv.bufSize, ep.opts.receiveBufferSize.max))
    : 0;
  return child;
}

/** RFC 4987 §3.6: a SYN-ACK whose ISN encodes what we would have kept; no state is created. */
function sendCookie(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): void {
  let route: ReturnType<TcpEndpoint["stack"]["findRoute"]>;
  try {
    route = ep.stack.findRoute(info.nic, info.dst, info.src, info.netProto);
  } catch (e) {
    if (e instanceof TcpipError) return;
    throw e;
  }
  const secrets = ep.proto.secrets();
  const peer = seg.options;
  const peerMss = Math.min(peer.mss > 0 ? peer.mss : defaultMss(info.src.length), route.mtu - 20);
  const cookie = secrets.cookies.make(
    info.dst,
    seg.dstPort,
    info.src,
    seg.srcPort,
    seg.seq,
    peerMss,
    ep.now(),
  );
  const o = ep.opts;
  const ourMss = Math.min(route.mtu - 20, 0xffff);
  const options: Parameters<typeof writeSegment>[1]["options"] = { mss: ourMss };
  // Without timestamps there is nowhere to keep window scale and SACK-permitted, so they are not offered.
  // Nor ECN, with or without them: the cookie SYN-ACK has no ECE (RFC 3168 §6.1.1: no ECN connection).
  if (o.timestamps && peer.timestamp) {
    const wsOk = o.windowScaling && peer.windowScale >= 0;
    const sackOk = o.sack && peer.sackPermitted;
    const tsOffset = secrets.isn.tsOffset(info.dst, seg.dstPort, info.src, seg.srcPort);
    const tsNow = (Math.floor(ep.now()) + tsOffset) >>> 0;
    options.timestamp = true;
    // As Linux (cookie_init_timestamp): the peer's shift and SACK-permitted ride in our TSval.
    options.tsVal = SynCookies.encodeTimestamp(tsNow, wsOk ? peer.windowScale : -1, sackOk);
    options.tsEcr = peer.tsVal;
    if (wsOk) options.windowScale = windowScaleFor(Math.max(ep.rcv.bufSize, o.receiveBufferSize.max));
    if (sackOk) options.sackPermitted = true;
  }
  writeSegment(
    route,
    {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: cookie,
      ack: seqAdd(seg.seq, 1),
      flags: TCP_SYN | TCP_ACK,
      window: Math.min(0xffff, ep.rcv.bufSize),
      options,
    },
    route.defaultTtl,
    0,
    ep.stack.stats,
  );
  ep.stack.stats.tcp.synCookiesSent++;
  route.release();
}

/** Checks the ACK of a cookie SYN-ACK and, if valid, makes the established child (RFC 4987 §3.6). */
function acceptCookie(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): boolean {
  const secrets = ep.proto.secrets();
  const cookie = seqSub(seg.ack, 1);
  const peerIsn = seqSub(seg.seq, 1);
  const mss = secrets.cookies.check(info.dst, seg.dstPort, info.src, seg.srcPort, cookie, peerIsn, ep.now());
  if (mss === 0) return false;
  if (ep.acceptQueue.length >= ep.backlog) {
    ep.stack.stats.tcp.listenOverflowAckDrop++;
    return true;
  }
  const child = makeChild(ep, seg, info);
  if (!child) return true;
  ep.stack.stats.tcp.synCookiesValid++;
  ep.stack.stats.tcp.passiveConnectionOpenings++;
  const s = child.snd;
  const r = child.rcv;
  s.iss = cookie;
  s.una = seg.ack;
  s.nxt = seg.ack;
  s.max = seg.ack;
  s.recover = cookie;
  const peer = seg.options;
  const o = ep.opts;
  // Rebuild the negotiated options from the cookie and, with timestamps, from the echoed TSval bits.
  const opts = { ...peer, mss, windowScale: -1, sackPermitted: false, sackBlocks: [] as number[] };
  if (peer.timestamp && o.timestamps) {
    const d = SynCookies.decodeTimestamp(peer.tsEcr);
    opts.windowScale = d.windowScale;
    opts.sackPermitted = d.sackPermitted;
  }
  negotiate(child, opts);
  r.init(peerIsn);
  s.wnd = seg.window * 2 ** s.scale;
  s.maxWnd = s.wnd;
  s.wl1 = seg.seq;
  s.wl2 = seg.ack;
  child.established();
  ep.acceptQueue.push(child);
  ep.notify(EventIn);
  // The ACK may carry data: process it as an established connection would.
  handleSynchronized(child, seg);
  child.output();
  return true;
}

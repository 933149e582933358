/**
 * Socket options of a TCP endpoint (the seed's `SetSockOpt`/`GetSockOpt` for
 * TCP): Nagle and cork, buffer sizes, keep-alive, user timeout (RFC 5482),
 * MSS clamp, TTL, ECN mode (RFC 3168), the pending error and TCP_INFO.
 */
import {
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrUnknownProtocolOption,
} from "../../tcpip/errors.ts";
import type { TcpInfo } from "../../tcpip/options.ts";
import { IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { ecnMode, isEcnMode } from "./ecn.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { trySend } from "./snd.ts";
import { isSynchronized } from "./state.ts";

export function setOption(ep: TcpEndpoint, name: string, value: unknown): void {
  const bool = () => {
    if (typeof value !== "boolean") throw new ErrInvalidOptionValue();
    return value;
  };
  const num = (min = 0, max = Number.MAX_SAFE_INTEGER) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max)
      throw new ErrInvalidOptionValue();
    return value;
  };
  switch (name) {
    case "NoDelay":
      ep.noDelay = bool();
      trySend(ep);
      return;
    case "Cork":
      ep.cork = bool();
      if (!ep.cork) trySend(ep);
      return;
    case "ReceiveBufferSize": {
      // A size set by the user is kept: no auto-tuning of this direction from now on (like Linux's
      // SO_RCVBUF lock). A smaller size never takes back window already advertised (ReceiveState.selectWindow).
      const r = ep.opts.receiveBufferSize;
      ep.rcv.bufSize = Math.min(r.max, Math.max(r.min, num()));
      ep.autoTune.rcvLocked = true;
      return;
    }
    case "SendBufferSize": {
      const r = ep.opts.sendBufferSize;
      ep.snd.bufSize = Math.min(r.max, Math.max(r.min, num()));
      ep.autoTune.sndLocked = true;
      return;
    }
    case "ReuseAddress":
      ep.reuseAddress = bool();
      return;
    case "ReusePort":
      ep.reusePort = bool();
      return;
    case "V6Only":
      if (ep.netProto !== IPV6_PROTOCOL_NUMBER) throw new ErrUnknownProtocolOption();
      if (ep.bound || ep.state !== "CLOSED") throw new ErrInvalidEndpointState();
      ep.v6only = bool();
      return;
    case "KeepaliveEnabled":
      ep.keepalive = bool();
      if (ep.keepalive && (ep.state === "ESTABLISHED" || ep.state === "CLOSE-WAIT")) ep.armKeepalive();
      return;
    case "KeepaliveIdle":
      ep.keepaliveIdleMs = num(1);
      // A new idle time applies now, not after the old one ran out.
      if (
        ep.keepalive &&
        ep.keepaliveProbes === 0 &&
        (ep.state === "ESTABLISHED" || ep.state === "CLOSE-WAIT")
      )
        ep.armKeepalive();
      return;
    case "KeepaliveInterval":
      ep.keepaliveIntervalMs = num(1);
      return;
    case "KeepaliveCount":
      ep.keepaliveCount = num(1, 255);
      return;
    case "UserTimeout":
      ep.userTimeout = num(0);
      return;
    case "MaxSegment":
      ep.userMss = value === 0 ? 0 : num(88, 65535);
      return;
    case "TTL":
      ep.ttl = num(0, 255);
      return;
    case "Linger":
      // SO_LINGER: 0 makes close() abortive (RST, like Linux with l_onoff=1, l_linger=0); a negative value
      // turns it off. A positive timeout cannot block a non-blocking close, so it closes normally.
      ep.linger = num(-1);
      return;
    case "Ecn":
      // RFC 3168 §6.1.1: the mode is read when a SYN is sent or answered (a listener passes it on).
      if (!isEcnMode(value)) throw new ErrInvalidOptionValue();
      ep.ecnMode = value;
      return;
    default:
      throw new ErrUnknownProtocolOption();
  }
}

export function getOption(ep: TcpEndpoint, name: string): unknown {
  switch (name) {
    case "NoDelay":
      return ep.noDelay;
    case "Cork":
      return ep.cork;
    case "ReceiveBufferSize":
      return ep.rcv.bufSize;
    case "SendBufferSize":
      return ep.snd.bufSize;
    case "ReceiveQueueSize":
      return ep.rcv.queue.size;
    case "SendQueueSize":
      return ep.snd.buf.size;
    case "ReuseAddress":
      return ep.reuseAddress;
    case "ReusePort":
      return ep.reusePort;
    case "V6Only":
      return ep.v6only;
    case "KeepaliveEnabled":
      return ep.keepalive;
    case "KeepaliveIdle":
      return ep.keepaliveIdleMs;
    case "KeepaliveInterval":
      return ep.keepaliveIntervalMs;
    case "KeepaliveCount":
      return ep.keepaliveCount;
    case "UserTimeout":
      return ep.userTimeout;
    case "MaxSegment":
      return isSynchronized(ep.state) ? ep.maxPayload() : ep.userMss || 536;
    case "TTL":
      return ep.ttl;
    case "Linger":
      return ep.linger;
    case "Error":
      return ep.takeError();
    case "TCPInfo":
      return tcpInfo(ep);
    case "Ecn":
      return ecnMode(ep);
    default:
      throw new ErrUnknownProtocolOption();
  }
}

export function tcpInfo(ep: TcpEndpoint): TcpInfo {
  const s = ep.snd;
  return {
    state: ep.state,
    rtt: s.rtt.srtt,
    rttVar: s.rtt.rttvar,
    rto: s.rtt.backedOff(s.backoff),
    sndCwnd: s.cc.cwnd,
    sndSsthresh: s.cc.ssthresh,
    sndMss: ep.maxPayload(),
    rcvMss: ep.rcv.mss,
    retransmits: s.retries,
    sndWnd: s.wnd,
    rcvWnd: ep.rcv.window,
    rcvSpace: ep.autoTune.space,
    rcvRtt: ep.autoTune.rcvRtt,
    rcvBuf: ep.rcv.bufSize,
    sndBuf: ep.snd.bufSize,
    totalRetrans: s.rxtSegs,
    spuriousRetrans: s.spuriousRxtSegs,
    dsacks: s.sack?.sb.stats.dsacks ?? 0,
    reorderingSeen: s.sack?.rack?.reorderingSeen ?? false,
    ecn: ep.ecn,
  };
}

/**
 * ICMPv4 (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3 for routers): echo
 * replies, errors sent about datagrams we cannot deliver or forward (rate
 * limited by a token bucket, like Linux `icmp_ratelimit`), and errors received
 * about datagrams we sent, handed to the transport endpoint that sent them.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, checksumUpdate2, finishChecksum } from "../../header/checksum.ts";
import {
  encodeIcmpv4,
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_ECHO,
  ICMPV4_ECHO_REPLY,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_MIN_SIZE,
  ICMPV4_PARAM_PROBLEM,
  ICMPV4_REDIRECT,
  ICMPV4_TIME_EXCEEDED,
} from "../../header/icmpv4.ts";
import {
  IPV4_MIN_SIZE,
  IPV4_OPTION_RECORD_ROUTE,
  IPV4_OPTION_TIMESTAMP,
  Ipv4Header,
  Ipv4OptionIterator,
} from "../../header/ipv4.ts";
import type {
  ControlType,
  NetworkHeaderParams,
  Route,
  TransportPacketInfo,
} from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ICMPV4_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import type { Ipv4Endpoint } from "./ipv4.ts";

/** RFC 1812 §4.3.2.3: an ICMP error "SHOULD contain as much of the original datagram as possible without the length of the ICMP datagram exceeding 576 bytes". */
const ICMP_ERROR_MAX_DATAGRAM = 576;
/** Host routes that redirects may add in all (Linux keeps them in an expiring cache instead). */
const MAX_REDIRECT_ROUTES = 1024;

/** Sets the checksum of the ICMP message at `b[off, off + len)` (RFC 792: over the whole message). */
function fullEchoChecksum(b: Uint8Array, off: number, len: number): void {
  b[off + 2] = 0;
  b[off + 3] = 0;
  const sum = finishChecksum(checksum(b, off, len));
  b[off + 2] = sum >>> 8;
  b[off + 3] = sum & 0xff;
}

/** ICMP query types (not errors): replying to these with an error is allowed (RFC 1122 §3.2.2). */
function isIcmpQuery(type: number): boolean {
  return (
    type === 0 ||
    type === 8 ||
    type === 13 ||
    type === 14 ||
    type === 15 ||
    type === 16 ||
    type === 17 ||
    type === 18
  );
}

export class Icmpv4 {
  constructor(private readonly ep: Ipv4Endpoint) {}

  private get counters() {
    return this.ep.nic.stack.stats.icmp.v4;
  }

  /** An ICMP message for us (`pkt.head` at the ICMP header). */
  handlePacket(pkt: PacketBuffer, info: TransportPacketInfo): void {
    const c = this.counters;
    c.packetsReceived++;
    const b = pkt.data;
    const off = pkt.head;
    const len = pkt.size;
    if (len < ICMPV4_MIN_SIZE) {
      c.malformedReceived++;
      return;
    }
    // RFC 792: the checksum covers the whole ICMP message.
    if (!pkt.checksumVerified && checksum(b, off, len) !== 0xffff) {
      c.checksumErrors++;
      return;
    }
    const type = b[off]!;
    const code = b[off + 1]!;
    switch (type) {
      case ICMPV4_ECHO:
        c.echoRequest.received++;
        this.replyToEcho(pkt, info);
        return;
      case ICMPV4_ECHO_REPLY:
        c.echoReply.received++;
        // Echo replies go to ping endpoints, demultiplexed by ident (the ping "port").
        this.ep.nic.deliverTransportPacket(ICMPV4_PROTOCOL_NUMBER, pkt, info);
        return;
      case ICMPV4_DST_UNREACHABLE: {
        c.dstUnreachable.received++;
        const mtu = (b[off + 6]! << 8) | b[off + 7]!;
        this.deliverError(pkt, info, unreachableType(code), code === ICMPV4_FRAG_NEEDED ? mtu : 0);
        return;
      }
      case ICMPV4_REDIRECT:
        this.handleRedirect(pkt, info);
        return;
      case ICMPV4_TIME_EXCEEDED:
        c.timeExceeded.received++;
        this.deliverError(pkt, info, "timeExceeded", code);
        return;
      case ICMPV4_PARAM_PROBLEM:
        c.paramProblem.received++;
        this.deliverError(pkt, info, "parameterProblem", b[off + 4]!);
        return;
      default:
        return;
    }
  }

  /** RFC 792 echo: "the source and destination addresses are simply reversed, the type code changed to 0". */
  private replyToEcho(pkt: PacketBuffer, info: TransportPacketInfo): void {
    const ep = this.ep;
    const dstNum = info.dst.v4Number;
    // RFC 1122 §3.2.2.6 allows ignoring echo requests to broadcast/multicast; Linux does by default.
    if ((ep.isBroadcastOrMulticast(dstNum) || pkt.linkBroadcastOrMulticast) && !ep.proto.echoBroadcast)
      return;
    const route = this.echoReplyRoute(info);
    if (!route) return;
    const len = pkt.size;
    const options = this.echoReplyOptions(pkt, route.localAddress);
    let reply: PacketBuffer;
    const b = pkt.data;
    const ro = pkt.head;
    if (options === undefined && ep.receivedFromLink()) {
      // The reply is built in the request's own bytes (as lwIP does): nothing is copied, and the
      // consumed IP header in front is the headroom for the reply's. Only a packet read from a real
      // link is reused: a locally delivered one may still belong to its sender. A fresh
      // PacketBuffer over the same bytes drops the request's metadata (offload flags, link addresses).
      const oldWord = (b[ro]! << 8) | b[ro + 1]!;
      b[ro] = ICMPV4_ECHO_REPLY;
      const newWord = (b[ro]! << 8) | b[ro + 1]!;
      if (pkt.gso?.needsChecksum) {
        // A partial checksum (offload) is not the final sum: compute it whole.
        fullEchoChecksum(b, ro, len);
      } else {
        // Only the word holding type and code changed: update the sum (RFC 1624 §3 eqn. 3).
        const sum = checksumUpdate2((b[ro + 2]! << 8) | b[ro + 3]!, oldWord, newWord);
        b[ro + 2] = sum >>> 8;
        b[ro + 3] = sum & 0xff;
      }
      reply = new PacketBuffer(b, ro, ro + len);
    } else {
      reply = PacketBuffer.alloc(route.maxHeaderLength, len);
      reply.data.set(pkt.bytes(), reply.head);
      reply.data[reply.head] = ICMPV4_ECHO_REPLY;
      fullEchoChecksum(reply.data, reply.head, len);
    }
    reply.transportHeader = reply.head;
    const params: NetworkHeaderParams = {
      protocol: ICMPV4_PROTOCOL_NUMBER,
      ttl: route.defaultTtl,
      tos: info.tos,
    };
    if (options) params.options = options;
    try {
      route.writePacket(reply, params);
      this.counters.echoReply.sent++;
      this.counters.packetsSent++;
    } catch {
      ep.nic.stack.stats.ip.outgoingPacketErrors++;
    }
  }

  /** The route of the last echo reply, kept with the request's addresses while it is not `stale`. */
  private echoRoute: Route | undefined;
  private echoRouteSrc = 0;
  private echoRouteDst = 0;

  /**
   * The route back to an echo request's source, from our address it was sent to. Pings come in
   * series from one peer, so the last route is reused until routes, addresses or NICs change
   * (`stale`); only a route that can tell (`stale` defined) is kept.
   */
  private echoReplyRoute(info: TransportPacketInfo): Route | undefined {
    const src = info.src.v4Number;
    const dst = info.dst.v4Number;
    const cached = this.echoRoute;
    if (
      cached !== undefined &&
      cached.stale === false &&
      this.echoRouteSrc === src &&
      this.echoRouteDst === dst
    )
      return cached;
    const stack = this.ep.nic.stack;
    const local = stack.hasAddress(0, info.dst) ? info.dst : undefined;
    let route: Route;
    try {
      route = stack.findRoute(0, local, info.src, IPV4_PROTOCOL_NUMBER);
    } catch {
      stack.stats.ip.noRoute++;
      return undefined;
    }
    this.echoRoute = route;
    this.echoRouteSrc = src;
    this.echoRouteDst = dst;
    return route;
  }

  /**
   * RFC 1122 §3.2.2.2: "A host receiving a Redirect message MUST update its routing information
   * accordingly" — as a host route to the quoted destination via the new gateway. Like Linux
   * (`ip_rt_redirect`), it is believed only from the gateway we use now for that destination, only
   * for a gateway on a directly connected subnet, and never while forwarding (routers ignore them).
   */
  private handleRedirect(pkt: PacketBuffer, info: TransportPacketInfo): void {
    const ep = this.ep;
    const nic = ep.nic;
    const stack = nic.stack;
    if (nic.forwardingFor?.(IPV4_PROTOCOL_NUMBER) ?? nic.forwarding) return;
    const b = pkt.data;
    const off = pkt.head;
    if (pkt.size < ICMPV4_MIN_SIZE + IPV4_MIN_SIZE) {
      this.counters.malformedReceived++;
      return;
    }
    const q = new Ipv4Header(b, off + ICMPV4_MIN_SIZE);
    if (q.version !== 4 || q.headerLength < IPV4_MIN_SIZE) {
      this.counters.malformedReceived++;
      return;
    }
    const target = q.dstAddress();
    const gateway = Address.fromBytes(b, off + 4, 4);
    if (gateway.isMulticast || gateway.isBroadcast || gateway.isUnspecified || stack.hasAddress(0, gateway))
      return;
    let current: Route;
    try {
      current = stack.findRoute(0, undefined, target, IPV4_PROTOCOL_NUMBER);
    } catch {
      return;
    }
    if (current.nic !== nic.id || !current.nextHop.equals(info.src) || current.nextHop.equals(target)) return;
    const onLink = nic
      .addresses(IPV4_PROTOCOL_NUMBER)
      .some((a) => Subnet.fromPrefix(a.address, a.prefixLen).contains(gateway));
    // A bound on what redirects may add, since each is a route table entry.
    if (!onLink || !stack.addRoute || ep.proto.redirectRoutes >= MAX_REDIRECT_ROUTES) return;
    ep.proto.redirectRoutes++;
    stack.addRoute({ destination: Subnet.fromPrefix(target, 32), gateway, nic: nic.id });
  }

  /**
   * RFC 1122 §3.2.2.6: "If a Record Route and/or Time Stamp option is received in an ICMP Echo Request,
   * this option (these options) SHOULD be updated to include the current host and included in the IP
   * header of the Echo Reply message, without truncation." Other options are not returned.
   */
  private echoReplyOptions(pkt: PacketBuffer, local: Address): Uint8Array | undefined {
    const nh = pkt.networkHeader;
    if (nh < 0) return undefined;
    const b = pkt.data;
    const hlen = (b[nh]! & 0x0f) << 2;
    if (hlen <= IPV4_MIN_SIZE) return undefined;
    const out: number[] = [];
    const it = new Ipv4OptionIterator(b, nh + IPV4_MIN_SIZE, hlen - IPV4_MIN_SIZE);
    while (it.next()) {
      if (it.type !== IPV4_OPTION_RECORD_ROUTE && it.type !== IPV4_OPTION_TIMESTAMP) continue;
      const opt = b.slice(it.optionOffset, it.optionOffset + it.length);
      if (opt.length < 4) continue;
      // RFC 791 §3.1: the pointer is 1-based from the option's start; the smallest legal value is 4 (5 for Timestamp).
      const ptr = opt[2]!;
      if (it.type === IPV4_OPTION_RECORD_ROUTE) {
        if (ptr >= 4 && ptr + 3 <= opt.length) {
          opt.set(local.bytes, ptr - 1);
          opt[2] = ptr + 4;
        }
      } else {
        stampTimestamp(opt, local, this.ep.nic.stack.clock.wallNow());
      }
      for (const x of opt) out.push(x);
    }
    if (out.length === 0) return undefined;
    while (out.length % 4 !== 0) out.push(0);
    return Uint8Array.from(out);
  }

  /** Hands an error about a datagram we sent to its transport endpoint (RFC 1122 §3.2.2.1, §4.1.3.3). */
  private deliverError(pkt: PacketBuffer, info: TransportPacketInfo, type: ControlType, extra: number): void {
    const b = pkt.data;
    const qoff = pkt.head + ICMPV4_MIN_SIZE;
    const qlen = pkt.tail - qoff;
    // The quoted datagram: its IP header and at least 8 bytes of transport header (RFC 792).
    if (qlen < IPV4_MIN_SIZE) {
      this.counters.malformedReceived++;
      return;
    }
    const q = new Ipv4Header(b, qoff);
    const qhlen = q.headerLength;
    if (q.version !== 4 || qhlen < IPV4_MIN_SIZE || qhlen + 8 > qlen) {
      this.counters.malformedReceived++;
      return;
    }
    const local = q.srcAddress();
    if (!this.ep.nic.stack.hasAddress(0, local)) return;
    const remote = q.dstAddress();
    this.ep.deliverControl(q.protocol, b.subarray(qoff + qhlen, pkt.tail), local, remote, type, extra, info);
  }

  // ---- errors we send ----

  /** Destination Unreachable about the datagram whose IP header is at `pkt.networkHeader` (`mtu` for code 4). */
  sendDestinationUnreachable(pkt: PacketBuffer, code: number, mtu?: number, _forwarding = false): void {
    const off = pkt.networkHeader >= 0 ? pkt.networkHeader : pkt.head;
    if (
      this.sendError(
        pkt.data,
        off,
        pkt.tail - off,
        pkt.linkBroadcastOrMulticast,
        ICMPV4_DST_UNREACHABLE,
        code,
        mtu,
      )
    ) {
      this.counters.dstUnreachable.sent++;
    }
  }

  /** Redirect for Host (code 1) to `gateway` about the datagram at `pkt.head` (RFC 792, RFC 1812 §5.2.7.2). */
  sendRedirect(pkt: PacketBuffer, gateway: Address): void {
    const off = pkt.networkHeader >= 0 ? pkt.networkHeader : pkt.head;
    this.sendError(
      pkt.data,
      off,
      pkt.tail - off,
      pkt.linkBroadcastOrMulticast,
      ICMPV4_REDIRECT,
      1,
      gateway.v4Number,
    );
  }

  sendTimeExceeded(pkt: PacketBuffer, code: number): void {
    const off = pkt.networkHeader >= 0 ? pkt.networkHeader : pkt.head;
    this.sendError(
      pkt.data,
      off,
      pkt.tail - off,
      pkt.linkBroadcastOrMulticast,
      ICMPV4_TIME_EXCEEDED,
      code,
      undefined,
    );
  }

  sendParameterProblem(pkt: PacketBuffer, pointer: number): void {
    const off = pkt.networkHeader >= 0 ? pkt.networkHeader : pkt.head;
    this.sendError(
      pkt.data,
      off,
      pkt.tail - off,
      pkt.linkBroadcastOrMulticast,
      ICMPV4_PARAM_PROBLEM,
      0,
      pointer,
    );
  }

  /**
   * Sends an ICMP error about the datagram of `len` bytes at `off`, unless
   * RFC 1122 §3.2.2 forbids it: "An ICMP error message MUST NOT be sent as
   * the result of receiving: an ICMP error message, a datagram destined to an
   * IP broadcast or IP multicast address, a datagram sent as a link-layer
   * broadcast, a non-initial fragment, a datagram whose source address does
   * not define a single host". `param` is the pointer (type 12) or MTU (type 3 code 4).
   * Returns whether it was sent.
   */
  sendError(
    b: Uint8Array,
    off: number,
    len: number,
    linkBroadcast: boolean,
    type: number,
    code: number,
    param: number | undefined,
  ): boolean {
    const ep = this.ep;
    const stack = ep.nic.stack;
    if (len < IPV4_MIN_SIZE) return false;
    const h = new Ipv4Header(b, off);
    const hlen = h.headerLength;
    if (hlen < IPV4_MIN_SIZE || hlen > len) return false;
    // RFC 1122 §3.2.2: "An ICMP error message MUST NOT be sent as the result of receiving: an ICMP
    // error message, or a datagram destined to an IP broadcast or IP multicast address, or a datagram
    // sent as a link-layer broadcast, or a non-initial fragment, or a datagram whose source address
    // does not define a single host -- e.g., a zero address, a loopback address, a broadcast address,
    // a multicast address, or a Class E address." (Loopback sources never get here from a real link.)
    if (linkBroadcast) return false;
    if (ep.isBroadcastOrMulticast(h.dstNumber)) return false;
    if (h.fragmentOffset !== 0) return false;
    const srcNum = h.srcNumber;
    if (srcNum === 0 || srcNum === 0xffffffff || srcNum >>> 28 >= 0xe || ep.isSubnetBroadcast(srcNum))
      return false;
    if (h.protocol === ICMPV4_PROTOCOL_NUMBER) {
      if (len < hlen + 1) return false;
      if (!isIcmpQuery(b[off + hlen]!)) return false;
    }
    // RFC 4443 §2.4(f)-style token bucket, as Linux applies to ICMPv4 errors.
    if (!ep.proto.icmpLimiter.take()) {
      this.counters.rateLimited++;
      return false;
    }
    const origSrc = h.srcAddress();
    const origDst = h.dstAddress();
    // The source: the address the datagram was sent to if it is ours, else this NIC's (RFC 1812 §4.3.2.4).
    let local: Address | undefined = stack.hasAddress(0, origDst) ? origDst : undefined;
    local ??= ep.nic.primaryAddress?.(IPV4_PROTOCOL_NUMBER, origSrc);
    let route: Route;
    try {
      route = stack.findRoute(0, local, origSrc, IPV4_PROTOCOL_NUMBER);
    } catch {
      try {
        route = stack.findRoute(0, undefined, origSrc, IPV4_PROTOCOL_NUMBER);
      } catch {
        stack.stats.ip.noRoute++;
        return false;
      }
    }
    const quoted = Math.min(
      len,
      ICMP_ERROR_MAX_DATAGRAM - IPV4_MIN_SIZE - ICMPV4_MIN_SIZE,
      route.mtu - ICMPV4_MIN_SIZE,
    );
    const pkt = PacketBuffer.alloc(route.maxHeaderLength, ICMPV4_MIN_SIZE + quoted);
    const o = pkt.head;
    pkt.data.set(b.subarray(off, off + quoted), o + ICMPV4_MIN_SIZE);
    if (type === ICMPV4_PARAM_PROBLEM) {
      encodeIcmpv4(pkt.data, o, { type, code, pointer: param ?? 0, payloadLength: quoted });
    } else if (type === ICMPV4_REDIRECT) {
      // The gateway address takes the 32 bits after the checksum (RFC 792).
      const g = param ?? 0;
      encodeIcmpv4(pkt.data, o, { type, code, ident: g >>> 16, sequence: g & 0xffff, payloadLength: quoted });
    } else if (type === ICMPV4_DST_UNREACHABLE && code === ICMPV4_FRAG_NEEDED) {
      encodeIcmpv4(pkt.data, o, { type, code, mtu: param ?? 0, payloadLength: quoted });
    } else {
      encodeIcmpv4(pkt.data, o, { type, code, ident: 0, sequence: 0, payloadLength: quoted });
    }
    pkt.transportHeader = o;
    try {
      route.writePacket(pkt, { protocol: ICMPV4_PROTOCOL_NUMBER, ttl: route.defaultTtl, tos: 0 });
    } catch {
      stack.stats.ip.outgoingPacketErrors++;
      return false;
    }
    const c = this.counters;
    c.packetsSent++;
    if (type === ICMPV4_TIME_EXCEEDED) c.timeExceeded.sent++;
    else if (type === ICMPV4_PARAM_PROBLEM) c.paramProblem.sent++;
    return true;
  }
}

/**
 * Adds our entry to an Internet Timestamp option (RFC 791 §3.1): milliseconds since midnight UT, with
 * our address first for flag 1, only into our own slot for flag 3; the overflow count grows when full.
 */
function stampTimestamp(opt: Uint8Array, local: Address, wallMs: number): void {
  const ptr = opt[2]!;
  const flag = opt[3]! & 0x0f;
  const ms = Math.floor(wallMs % 86_400_000);
  const put = (at: number) => {
    opt[at] = (ms >>> 24) & 0xff;
    opt[at + 1] = (ms >>> 16) & 0xff;
    opt[at + 2] = (ms >>> 8) & 0xff;
    opt[at + 3] = ms & 0xff;
  };
  const entry = flag === 0 ? 4 : 8;
  if (ptr < 5 || ptr - 1 + entry > opt.length) {
    const overflow = Math.min(15, (opt[3]! >> 4) + 1);
    opt[3] = (overflow << 4) | flag;
    return;
  }
  if (flag === 0) {
    put(ptr - 1);
  } else if (flag === 1) {
    opt.set(local.bytes, ptr - 1);
    put(ptr + 3);
  } else if (flag === 3) {
    for (let i = 0; i < 4; i++) if (opt[ptr - 1 + i] !== local.bytes[i]) return;
    put(ptr + 3);
  } else {
    return;
  }
  opt[2] = ptr + entry;
}

function unreachableType(code: number): ControlType {
  switch (code) {
    case 0:
    case 6:
    case 9:
      return "networkUnreachable";
    case 1:
    case 7:
    case 10:
    case 13:
      return "hostUnreachable";
    case 2:
      return "protocolUnreachable";
    case 3:
      return "portUnreachable";
    case ICMPV4_FRAG_NEEDED:
      return "packetTooBig";
    default:
      return "unknown";
  }
}

/**
 * ICMPv6 (RFC 4443) for one NIC: echo replies, error messages with the
 * RFC 4443 §2.4 rules (never about errors, redirects, multicast or from
 * unspecified/multicast sources; rate limited), and inbound errors handed to
 * the transport endpoint that sent the invoking packet. Packet Too Big lowers
 * the path MTU (RFC 8201). NDP messages go to `ndp.ts`, MLD to `mld.ts`.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { readU32, writeU16, writeU32 } from "../../header/bytes.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import {
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_HEADER_SIZE,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_NO_ROUTE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNKNOWN_NEXT_HEADER,
} from "../../header/icmpv6.ts";
import {
  encodeIpv6,
  IPV6_DST_OFFSET,
  IPV6_HEADER_SIZE,
  IPV6_MINIMUM_MTU,
  IPV6_SRC_OFFSET,
} from "../../header/ipv6.ts";
import type { ControlType, TransportPacketInfo } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { findTransport, type Ipv6Endpoint } from "./endpoint.ts";
import { MLD_DONE, MLD_QUERY, MLD_REPORT, MLD_V2_REPORT } from "./mld.ts";

/** RFC 4443 §2.4(c): "as much of the invoking packet as possible without the ICMPv6 packet exceeding the minimum IPv6 MTU". */
const MAX_QUOTE = IPV6_MINIMUM_MTU - IPV6_HEADER_SIZE - ICMPV6_HEADER_SIZE;

export class Icmpv6 {
  constructor(private readonly ep: Ipv6Endpoint) {}

  private get st() {
    return this.ep.stats.icmp.v6;
  }

  /** An inbound ICMPv6 message (`pkt.head` at it; `net` the IPv6 header). */
  handlePacket(pkt: PacketBuffer, net: number, info: TransportPacketInfo): void {
    const st = this.st;
    st.packetsReceived++;
    const b = pkt.data;
    const off = pkt.head;
    const len = pkt.size;
    if (len < 4) {
      st.malformedReceived++;
      return;
    }
    // RFC 4443 §2.3: the checksum covers the pseudo-header (RFC 8200 §8.1) and the whole message.
    if (!pkt.checksumVerified) {
      const sum = checksum(
        b,
        off,
        len,
        pseudoHeaderChecksum(ICMPV6_PROTOCOL_NUMBER, info.src, info.dst, len),
      );
      if (sum !== 0xffff) {
        st.checksumErrors++;
        return;
      }
    }
    const type = b[off]!;
    switch (type) {
      case ICMPV6_ECHO_REQUEST:
        if (len < ICMPV6_HEADER_SIZE) break;
        st.echoRequest.received++;
        this.echoReply(pkt, info);
        return;
      case ICMPV6_ECHO_REPLY:
        if (len < ICMPV6_HEADER_SIZE) break;
        st.echoReply.received++;
        // Replies belong to the ping endpoint that sent the request.
        this.ep.nic.deliverTransportPacket(ICMPV6_PROTOCOL_NUMBER, pkt, info);
        return;
      case ICMPV6_DST_UNREACHABLE:
        st.dstUnreachable.received++;
        this.handleError(pkt, info, type);
        return;
      case ICMPV6_PACKET_TOO_BIG:
        st.packetTooBig.received++;
        this.handleError(pkt, info, type);
        return;
      case ICMPV6_TIME_EXCEEDED:
        st.timeExceeded.received++;
        this.handleError(pkt, info, type);
        return;
      case ICMPV6_PARAM_PROBLEM:
        st.paramProblem.received++;
        this.handleError(pkt, info, type);
        return;
      case MLD_QUERY:
      case MLD_REPORT:
      case MLD_DONE:
      case MLD_V2_REPORT:
        this.ep.mld.handlePacket(pkt, info, type);
        return;
      case ICMPV6_ROUTER_SOLICIT:
      case ICMPV6_ROUTER_ADVERT:
      case ICMPV6_NEIGHBOR_SOLICIT:
      case ICMPV6_NEIGHBOR_ADVERT:
      case ICMPV6_REDIRECT:
        this.ep.ndp.handlePacket(pkt, net, info, type);
        return;
      default:
        // RFC 4443 §2.4(a)/(b): unknown errors go up (we have nothing to give them to);
        // unknown informational messages are discarded.
        return;
    }
    st.malformedReceived++;
  }

  /** RFC 4443 §2.4(a): hand an error to the upper layer of the invoking packet, which we sent. */
  private handleError(pkt: PacketBuffer, info: TransportPacketInfo, type: number): void {
    const b = pkt.data;
    const off = pkt.head;
    const inner = off + ICMPV6_HEADER_SIZE;
    if (inner + IPV6_HEADER_SIZE > pkt.tail) {
      this.st.malformedReceived++;
      return;
    }
    const local = Address.fromBytes(b, inner + IPV6_SRC_OFFSET, 16);
    const remote = Address.fromBytes(b, inner + IPV6_DST_OFFSET, 16);
    // Only errors about packets that left this host matter (RFC 5927 §4.1: check the quoted addresses).
    if (!this.ep.nic.hasAddress(local)) return;
    const code = b[off + 1]!;
    let ctype: ControlType = "unknown";
    let extra = 0;
    switch (type) {
      case ICMPV6_DST_UNREACHABLE:
        ctype =
          code === ICMPV6_PORT_UNREACHABLE
            ? "portUnreachable"
            : code === ICMPV6_NO_ROUTE
              ? "networkUnreachable"
              : "hostUnreachable";
        break;
      case ICMPV6_PACKET_TOO_BIG:
        ctype = "packetTooBig";
        extra = this.ep.proto.updatePathMtu(remote, readU32(b, off + 4), this.ep.linkMtu);
        break;
      case ICMPV6_TIME_EXCEEDED:
        ctype = "timeExceeded";
        break;
      default:
        ctype = code === ICMPV6_UNKNOWN_NEXT_HEADER ? "protocolUnreachable" : "parameterProblem";
    }
    const t = findTransport(b, inner, pkt.tail);
    if (!t) return;
    this.ep.nic.deliverTransportControlPacket(
      t.proto,
      b.subarray(t.off, pkt.tail),
      local,
      remote,
      ctype,
      extra,
      info,
    );
  }

  /** RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data. */
  private echoReply(pkt: PacketBuffer, info: TransportPacketInfo): void {
    // RFC 4443 §4.2: to a multicast request the source "MUST be a unicast address belonging to the interface".
    const local = info.dst.isMulticast ? this.sourceFor(info.src) : info.dst;
    if (!local || info.src.isUnspecified) return;
    const req = pkt.bytes();
    const reply = this.buildPayload(local, info.src, req.length, (b, off) => {
      b.set(req, off);
      b[off] = ICMPV6_ECHO_REPLY;
      b[off + 1] = 0;
    });
    const nextHop = this.nextHopTo(info.src, local);
    if (!nextHop) return;
    // A reply to a large (reassembled) request is fragmented like any datagram we send.
    try {
      this.ep.writeDatagram(local, info.src, nextHop, reply, {
        protocol: ICMPV6_PROTOCOL_NUMBER,
        ttl: this.ep.hopLimit,
        tos: 0,
      });
    } catch {
      return;
    }
    this.st.packetsSent++;
    this.st.echoReply.sent++;
  }

  /** Parameter Problem (RFC 4443 §3.4) with `pointer` counted from the invoking packet's IPv6 header. */
  sendParamProblem(
    pkt: PacketBuffer,
    net: number,
    code: number,
    pointer: number,
    allowMulticast = false,
  ): void {
    this.sendError(pkt, net, ICMPV6_PARAM_PROBLEM, code, pointer, allowMulticast);
  }

  /**
   * Sends an ICMPv6 error about the packet whose IPv6 header is at `net` in
   * `pkt`. `param` is the MTU (Packet Too Big), the pointer (Parameter
   * Problem) or 0. `allowMulticast` is the RFC 4443 §2.4(e.3) exception for
   * Parameter Problem code 2 on an option whose type starts with bits 10.
   */
  sendError(
    pkt: PacketBuffer,
    net: number,
    type: number,
    code: number,
    param: number,
    allowMulticast = false,
  ): void {
    const b = pkt.data;
    const end = pkt.tail;
    if (net + IPV6_HEADER_SIZE > end) return;
    const src = Address.fromBytes(b, net + IPV6_SRC_OFFSET, 16);
    const dst = Address.fromBytes(b, net + IPV6_DST_OFFSET, 16);
    // RFC 4443 §2.4(e.6): not to a source that does not identify a single node.
    if (src.isUnspecified || src.isMulticast) return;
    // RFC 4443 §2.4(e.3)–(e.5): not about a packet sent to a multicast address or as a link-layer
    // multicast/broadcast, except Packet Too Big and Parameter Problem code 2 for an option with bits 10.
    if (
      (dst.isMulticast || pkt.linkBroadcastOrMulticast) &&
      type !== ICMPV6_PACKET_TOO_BIG &&
      !allowMulticast
    )
      return;
    // RFC 4443 §2.4(e.1), (e.2): not about an ICMPv6 error message or a Redirect.
    const t = findTransport(b, net, end);
    if (t && t.proto === ICMPV6_PROTOCOL_NUMBER && t.off < end) {
      const it = b[t.off]!;
      if (it < 128 || it === ICMPV6_REDIRECT) return;
    }
    // RFC 4443 §2.4(f): rate limited by a token bucket.
    if (!this.ep.proto.errorLimiter.take()) {
      this.st.rateLimited++;
      return;
    }
    const local = !dst.isMulticast && this.ep.nic.hasAddress(dst) ? dst : this.sourceFor(src);
    if (!local) return;
    const quote = Math.min(end - net, MAX_QUOTE);
    const msg = this.build(local, src, this.ep.hopLimit, ICMPV6_HEADER_SIZE + quote, (ob, off) => {
      ob[off] = type;
      ob[off + 1] = code;
      writeU32(ob, off + 4, param);
      ob.set(b.subarray(net, net + quote), off + ICMPV6_HEADER_SIZE);
    });
    if (!this.sendTo(msg, src, local)) return;
    const st = this.st;
    if (type === ICMPV6_DST_UNREACHABLE) st.dstUnreachable.sent++;
    else if (type === ICMPV6_PACKET_TOO_BIG) st.packetTooBig.sent++;
    else if (type === ICMPV6_TIME_EXCEEDED) st.timeExceeded.sent++;
    else if (type === ICMPV6_PARAM_PROBLEM) st.paramProblem.sent++;
  }

  /** A unicast source address of this NIC for talking to `remote` (link-local for link-local peers). */
  sourceFor(remote: Address): Address | undefined {
    const p = this.ep.nic.primaryAddress?.(IPV6_PROTOCOL_NUMBER, remote);
    if (p) return p;
    let any: Address | undefined;
    for (const a of this.ep.nic.addresses(IPV6_PROTOCOL_NUMBER)) {
      if (a.address.isMulticast) continue;
      if (a.address.isLinkLocalUnicast === remote.isLinkLocalUnicast) return a.address;
      any ??= a.address;
    }
    return any;
  }

  /**
   * Builds an ICMPv6 message of `len` bytes in a new packet (`fill` writes
   * type, code and body; the checksum is computed here) with its IPv6 header.
   */
  build(
    src: Address,
    dst: Address,
    hopLimit: number,
    len: number,
    fill: (b: Uint8Array, off: number) => void,
  ): PacketBuffer {
    const pkt = this.buildPayload(src, dst, len, fill);
    const n = pkt.prepend(IPV6_HEADER_SIZE);
    encodeIpv6(pkt.data, n, {
      payloadLength: len,
      nextHeader: ICMPV6_PROTOCOL_NUMBER,
      hopLimit,
      src,
      dst,
    });
    pkt.networkHeader = n;
    pkt.networkProtocol = IPV6_PROTOCOL_NUMBER;
    return pkt;
  }

  /** An ICMPv6 message of `len` bytes (checksummed for `src`→`dst`) in a packet with room for the headers. */
  buildPayload(
    src: Address,
    dst: Address,
    len: number,
    fill: (b: Uint8Array, off: number) => void,
  ): PacketBuffer {
    const pkt = PacketBuffer.alloc(this.ep.linkHeadroom + IPV6_HEADER_SIZE + 8, len);
    const b = pkt.data;
    const off = pkt.head;
    fill(b, off);
    writeU16(b, off + 2, 0);
    const sum = checksum(b, off, len, pseudoHeaderChecksum(ICMPV6_PROTOCOL_NUMBER, src, dst, len));
    writeU16(b, off + 2, finishChecksum(sum));
    pkt.transportHeader = off;
    pkt.transportProtocol = ICMPV6_PROTOCOL_NUMBER;
    return pkt;
  }

  /** The next hop toward `dst` over this NIC (by route unless link-local or multicast); undefined when none. */
  nextHopTo(dst: Address, local: Address): Address | undefined {
    if (dst.isMulticast || dst.isLinkLocalUnicast) return dst;
    try {
      const r = this.ep.proto.stack.findRoute(this.ep.nic.id, local, dst, IPV6_PROTOCOL_NUMBER);
      const nextHop = r.nextHop;
      r.release();
      return nextHop;
    } catch {
      this.ep.stats.ip.noRoute++;
      return undefined;
    }
  }

  /** Sends a finished packet to `dst`, finding the next hop by route; false when there is none. */
  sendTo(pkt: PacketBuffer, dst: Address, local: Address): boolean {
    const nextHop = this.nextHopTo(dst, local);
    if (!nextHop) return false;
    this.ep.send(pkt, nextHop, local);
    this.st.packetsSent++;
    return true;
  }
}

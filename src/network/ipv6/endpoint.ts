/**
 * The IPv6 network endpoint of one NIC: validation and extension-header
 * processing of inbound packets (RFC 8200 §3, §4), delivery to transports,
 * forwarding with hop-limit checks, and outbound packets with source
 * fragmentation at the path MTU (RFC 8200 §4.5, §5). ICMPv6 lives in
 * `icmpv6.ts`, neighbour discovery, DAD and SLAAC in `ndp.ts`.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { writeU16 } from "../../header/bytes.ts";
import {
  ICMPV6_ADDRESS_UNREACHABLE,
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ERRONEOUS_HEADER,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_NO_ROUTE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_REASSEMBLY_TIMEOUT,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNKNOWN_NEXT_HEADER,
  ICMPV6_UNKNOWN_OPTION,
} from "../../header/icmpv6.ts";
import {
  encodeIpv6,
  IPV6_DST_OFFSET,
  IPV6_HEADER_SIZE,
  IPV6_HOP_LIMIT_OFFSET,
  IPV6_MINIMUM_MTU,
  IPV6_NEXT_HEADER_OFFSET,
  IPV6_PAYLOAD_LENGTH_OFFSET,
  IPV6_SRC_OFFSET,
  Ipv6Header,
  isSolicitedNode,
} from "../../header/ipv6.ts";
import {
  encodeIpv6Fragment,
  IPV6_DESTINATION_OPTIONS,
  IPV6_FRAGMENT,
  IPV6_FRAGMENT_HEADER_SIZE,
  IPV6_HOP_BY_HOP,
  IPV6_NO_NEXT_HEADER,
  IPV6_OPTION_PAD1,
  IPV6_OPTION_PADN,
  IPV6_OPTION_ROUTER_ALERT,
  IPV6_ROUTING,
  Ipv6FragmentHeader,
} from "../../header/ipv6-extension.ts";
import { LinkCapability } from "../../link/link-endpoint.ts";
import type {
  LinkAddressResolver,
  NetworkEndpoint,
  NetworkHeaderParams,
  NicContext,
  RouteInfo,
  TransportPacketInfo,
} from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrMessageTooLong } from "../../tcpip/errors.ts";
import { ethernetMulticastV6, type LinkAddress } from "../../tcpip/link-address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { fragmentKey } from "../fragmentation/reassembler.ts";
import { Icmpv6 } from "./icmpv6.ts";
import { Mld } from "./mld.ts";
import { Ndp } from "./ndp.ts";
import type { FirstFragment, Ipv6Protocol } from "./protocol.ts";

/** RFC 7112 §5: Parameter Problem code 3, "IPv6 First Fragment has incomplete IPv6 Header Chain". */
const ICMPV6_INCOMPLETE_CHAIN = 3;

/** Largest quote of an invoking packet in an ICMPv6 error: RFC 4443 §2.4(c), the error must fit 1280 bytes. */
const MAX_QUOTE = IPV6_MINIMUM_MTU - IPV6_HEADER_SIZE - 8;

export class Ipv6Endpoint implements NetworkEndpoint {
  readonly protocol = IPV6_PROTOCOL_NUMBER;
  readonly maxHeaderLength = IPV6_HEADER_SIZE;
  readonly nic: NicContext;
  readonly icmp: Icmpv6;
  readonly ndp: Ndp;
  readonly mld: Mld;
  readonly linkAddressResolver?: LinkAddressResolver;
  /** Link MTU for IPv6 (the NIC's, lowered by a router's MTU option, RFC 4861 §6.3.4). */
  linkMtu: number;
  /** Hop limit for packets this layer makes (Cur Hop Limit from an RA when set). */
  hopLimit: number;
  enabled = false;
  private lastSrc: Address | undefined;
  private lastDst: Address | undefined;

  constructor(
    readonly proto: Ipv6Protocol,
    nic: NicContext,
  ) {
    this.nic = nic;
    this.linkMtu = nic.mtu;
    this.hopLimit = proto.opts.defaultHopLimit;
    this.icmp = new Icmpv6(this);
    this.ndp = new Ndp(this);
    this.mld = new Mld(this);
    if (this.resolutionRequired) {
      this.linkAddressResolver = {
        resolvedProtocol: IPV6_PROTOCOL_NUMBER,
        linkAddressRequest: (target, local, remote) => this.ndp.sendNeighborSolicit(target, local, remote),
        resolveStatic: (addr) => (addr.isMulticast ? ethernetMulticastV6(addr.bytes) : undefined),
      };
    }
  }

  get resolutionRequired(): boolean {
    return this.nic.resolutionRequired ?? (this.nic.capabilities & LinkCapability.ResolutionRequired) !== 0;
  }

  get forwarding(): boolean {
    return this.nic.forwardingFor?.(IPV6_PROTOCOL_NUMBER) ?? this.nic.forwarding;
  }

  /** Headroom for packets this layer builds: link header plus slack. */
  get linkHeadroom(): number {
    return (this.nic.linkHeaderLength ?? 14) + 2;
  }

  get stats() {
    return this.proto.stack.stats;
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    this.ndp.enable();
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.ndp.disable();
    this.mld.clear();
  }

  groupJoined(group: Address): void {
    if (group.is6) this.mld.joined(group);
  }

  groupLeft(group: Address): void {
    if (group.is6) this.mld.left(group);
  }

  close(): void {
    this.disable();
    this.proto.endpointClosed(this);
  }

  addressAdded(addr: Address, prefixLen: number): void {
    if (addr.is6) this.ndp.addressAdded(addr, prefixLen);
  }

  addressRemoved(addr: Address): void {
    if (addr.is6) this.ndp.addressRemoved(addr);
  }

  /** Whether a packet to `dst` is for this host (RFC 4291 §2.7.1: all-nodes and solicited-node groups are always joined). */
  acceptsDestination(dst: Address): boolean {
    if (dst.isMulticast) {
      if (dst.equals(Address.ALL_NODES_V6)) return true;
      if (this.forwarding && dst.equals(Address.ALL_ROUTERS_V6)) return true;
      if (isSolicitedNode(dst) && this.ndp.ownsSolicitedNode(dst)) return true;
      return this.nic.isMemberOf(dst) || this.nic.promiscuous;
    }
    // A promiscuous NIC takes every packet as its own (gVisor's promiscuous mode, used by TUN proxies),
    // except ones for a tentative address (RFC 4862 §5.4: "silently discarded").
    return this.nic.hasAddress(dst) || (this.nic.promiscuous && !this.ndp.isTentative(dst));
  }

  handlePacket(pkt: PacketBuffer): void {
    const st = this.stats.ip;
    st.packetsReceived++;
    const b = pkt.data;
    const off = pkt.head;
    const h = new Ipv6Header(b, off);
    if (!h.isValid(pkt.size)) {
      st.malformedPacketsReceived++;
      return;
    }
    // RFC 8200 §3 Payload Length; a zero length with hop-by-hop options would be a
    // jumbogram (RFC 2675), which we do not support: the walk below drops it.
    const plen = h.payloadLength;
    if (IPV6_HEADER_SIZE + plen > pkt.size) {
      st.malformedPacketsReceived++;
      return;
    }
    pkt.truncate(IPV6_HEADER_SIZE + plen);
    pkt.networkHeader = off;
    pkt.networkProtocol = IPV6_PROTOCOL_NUMBER;
    // RFC 4291 §2.7: "Multicast addresses must not be used as source addresses in IPv6 packets".
    if (b[off + IPV6_SRC_OFFSET] === 0xff) {
      st.invalidSourceAddressesReceived++;
      return;
    }
    // One-entry caches: a stream of packets between two hosts allocates no Address per packet.
    const src = sameAddress(this.lastSrc, b, off + IPV6_SRC_OFFSET) ?? h.srcAddress();
    const dst = sameAddress(this.lastDst, b, off + IPV6_DST_OFFSET) ?? h.dstAddress();
    this.lastSrc = src;
    this.lastDst = dst;
    // RFC 4291 §2.5.3: the loopback address "must be dropped if received on an interface" from a link.
    if ((src.isLoopback || dst.isLoopback) && (this.nic.capabilities & LinkCapability.Loopback) === 0) {
      st.invalidAddressesReceived++;
      return;
    }
    if (!this.acceptsDestination(dst)) {
      // Traffic for groups we did not join (other hosts' MLD reports, router solicitations) is
      // normal on a LAN: dropped without counting it as an address error.
      if (dst.isMulticast) return;
      if (this.forwarding) this.forward(pkt, src, dst);
      else st.invalidAddressesReceived++;
      return;
    }
    const info: TransportPacketInfo = {
      nic: this.nic.id,
      netProto: IPV6_PROTOCOL_NUMBER,
      src,
      dst,
      ttl: h.hopLimit,
      tos: h.trafficClass,
    };
    this.walk(pkt, off, info, h.nextHeader, off + IPV6_NEXT_HEADER_OFFSET, off + IPV6_HEADER_SIZE, true);
  }

  /**
   * Processes the extension header chain from `off` (RFC 8200 §4.1 order) and
   * delivers the upper-layer payload. `nhField` is the absolute offset of the
   * Next Header byte naming `nh` (the pointer for Parameter Problem code 1).
   */
  private walk(
    pkt: PacketBuffer,
    net: number,
    info: TransportPacketInfo,
    nh: number,
    nhField: number,
    off: number,
    first: boolean,
  ): void {
    const st = this.stats.ip;
    for (;;) {
      const b = pkt.data;
      const end = pkt.tail;
      switch (nh) {
        case IPV6_HOP_BY_HOP:
        case IPV6_DESTINATION_OPTIONS: {
          // RFC 8200 §4.3: "The Hop-by-Hop Options header, when present, must immediately follow the IPv6 header."
          if (nh === IPV6_HOP_BY_HOP && !first) {
            this.icmp.sendParamProblem(pkt, net, ICMPV6_UNKNOWN_NEXT_HEADER, nhField - net);
            st.malformedPacketsReceived++;
            return;
          }
          const len = extensionLength(b, off, end);
          if (len < 0) {
            st.malformedPacketsReceived++;
            return;
          }
          if (!this.processOptions(pkt, net, info.dst, off + 2, off + len)) return;
          st.optionsReceived++;
          nhField = off;
          nh = b[off]!;
          off += len;
          break;
        }
        case IPV6_ROUTING: {
          const len = extensionLength(b, off, end);
          if (len < 0) {
            st.malformedPacketsReceived++;
            return;
          }
          // RFC 8200 §4.4: with Segments Left 0 the node "must ignore the Routing header and proceed";
          // otherwise an unrecognised Routing Type gets Parameter Problem code 0 pointing at the type.
          // RFC 5095 §3: RH0 is deprecated and treated as unrecognised. We recognise no type.
          if (b[off + 3] !== 0) {
            this.icmp.sendParamProblem(pkt, net, ICMPV6_ERRONEOUS_HEADER, off + 2 - net);
            st.malformedPacketsReceived++;
            return;
          }
          nhField = off;
          nh = b[off]!;
          off += len;
          break;
        }
        case IPV6_FRAGMENT: {
          const r = this.fragment(pkt, net, info, off);
          if (!r) return;
          pkt = r;
          net = r.head;
          off = net + IPV6_HEADER_SIZE;
          nh = r.data[net + IPV6_NEXT_HEADER_OFFSET]!;
          nhField = net + IPV6_NEXT_HEADER_OFFSET;
          break;
        }
        case IPV6_NO_NEXT_HEADER:
          // RFC 8200 §4.7: nothing follows; the packet is consumed.
          return;
        default:
          this.deliver(pkt, net, info, nh, nhField, off);
          return;
      }
      first = false;
    }
  }

  /** RFC 8200 §4.2 option processing; returns false when the packet must be dropped. */
  private processOptions(pkt: PacketBuffer, net: number, dst: Address, off: number, end: number): boolean {
    const b = pkt.data;
    while (off < end) {
      const type = b[off]!;
      if (type === IPV6_OPTION_PAD1) {
        off++;
        continue;
      }
      if (off + 2 > end || off + 2 + b[off + 1]! > end) {
        this.stats.ip.malformedPacketsReceived++;
        return false;
      }
      const len = 2 + b[off + 1]!;
      if (type !== IPV6_OPTION_PADN && type !== IPV6_OPTION_ROUTER_ALERT) {
        // RFC 8200 §4.2: the two high-order bits of an unrecognised option's type say what to do.
        switch (type >> 6) {
          case 0: // 00: skip over this option.
            break;
          case 1: // 01: discard the packet.
            this.stats.ip.malformedPacketsReceived++;
            return false;
          case 2: // 10: discard and send Parameter Problem code 2, even to a multicast destination.
            this.icmp.sendParamProblem(pkt, net, ICMPV6_UNKNOWN_OPTION, off - net, true);
            this.stats.ip.malformedPacketsReceived++;
            return false;
          default: // 11: discard and send Parameter Problem code 2 only if the destination was not multicast.
            if (!dst.isMulticast) this.icmp.sendParamProblem(pkt, net, ICMPV6_UNKNOWN_OPTION, off - net);
            this.stats.ip.malformedPacketsReceived++;
            return false;
        }
      }
      off += len;
    }
    return true;
  }

  /** Handles a Fragment header at `off`; returns the reassembled packet (IPv6 header + payload) or undefined. */
  private fragment(
    pkt: PacketBuffer,
    net: number,
    info: TransportPacketInfo,
    off: number,
  ): PacketBuffer | undefined {
    const b = pkt.data;
    const end = pkt.tail;
    const fst = this.stats.fragments;
    if (off + IPV6_FRAGMENT_HEADER_SIZE > end) {
      this.stats.ip.malformedFragmentsReceived++;
      return undefined;
    }
    const fh = new Ipv6FragmentHeader(b, off);
    const data = off + IPV6_FRAGMENT_HEADER_SIZE;
    const dataLen = end - data;
    const fragOff = fh.fragmentOffset;
    const more = fh.more;
    // RFC 8200 §4.5: "If the length of a fragment ... is not a multiple of 8 octets and the M flag of
    // that fragment is 1, then that fragment must be discarded and an ICMP Parameter Problem, Code 0,
    // message should be sent to the source of the fragment, pointing to the Payload Length field".
    if (more && dataLen % 8 !== 0) {
      this.stats.ip.malformedFragmentsReceived++;
      fst.dropped++;
      this.icmp.sendParamProblem(pkt, net, ICMPV6_ERRONEOUS_HEADER, IPV6_PAYLOAD_LENGTH_OFFSET);
      return undefined;
    }
    // RFC 8200 §4.5: a fragment that would make the reassembled Payload Length exceed 65535
    // is discarded with Parameter Problem code 0 pointing to its Fragment Offset field.
    const unfragmentable = off - net - IPV6_HEADER_SIZE;
    if (unfragmentable + fragOff + dataLen > 65535) {
      this.stats.ip.malformedFragmentsReceived++;
      fst.dropped++;
      this.icmp.sendParamProblem(pkt, net, ICMPV6_ERRONEOUS_HEADER, off + 2 - net);
      return undefined;
    }
    // RFC 7112 §5: a first fragment must hold the whole extension header chain; if it does not,
    // discard it and send Parameter Problem code 3 with a pointer of zero.
    if (fragOff === 0 && more && !chainComplete(b, fh.nextHeader, data, end)) {
      this.stats.ip.malformedFragmentsReceived++;
      fst.dropped++;
      this.icmp.sendParamProblem(pkt, net, ICMPV6_INCOMPLETE_CHAIN, 0);
      return undefined;
    }
    let first: FirstFragment | undefined;
    if (fragOff === 0) first = { ep: this, bytes: b.slice(net, Math.min(end, net + MAX_QUOTE)) };
    const res = this.proto.reassembler.process(
      fragmentKey(info.src, info.dst, fh.id),
      fragOff,
      more,
      fh.nextHeader,
      b.subarray(data, end),
      first,
    );
    if (res.kind !== "done") return undefined;
    // The reassembled packet: the IPv6 header of the first fragment with the Next Header of
    // the offset-0 fragment header, followed by the fragmentable part (RFC 8200 §4.5).
    const size = res.payload.size;
    if (size > 65535) return undefined;
    const out = PacketBuffer.alloc(this.linkHeadroom, IPV6_HEADER_SIZE + size);
    const ob = out.data;
    const head = out.head;
    const header = res.first
      ? res.first.bytes.subarray(0, IPV6_HEADER_SIZE)
      : b.subarray(net, net + IPV6_HEADER_SIZE);
    ob.set(header, head);
    ob[head + IPV6_NEXT_HEADER_OFFSET] = res.proto;
    writeU16(ob, head + IPV6_PAYLOAD_LENGTH_OFFSET, size);
    res.payload.copyTo(ob.subarray(head + IPV6_HEADER_SIZE));
    out.networkHeader = head;
    out.networkProtocol = IPV6_PROTOCOL_NUMBER;
    out.nic = pkt.nic;
    out.linkSrc = pkt.linkSrc;
    out.linkDst = pkt.linkDst;
    out.linkBroadcastOrMulticast = pkt.linkBroadcastOrMulticast;
    return out;
  }

  /** Hands the upper-layer payload at `off` to ICMPv6 or a transport (RFC 8200 §4: unknown Next Header → code 1). */
  private deliver(
    pkt: PacketBuffer,
    net: number,
    info: TransportPacketInfo,
    nh: number,
    nhField: number,
    off: number,
  ): void {
    const st = this.stats.ip;
    pkt.transportHeader = off;
    pkt.transportProtocol = nh;
    pkt.consume(off - pkt.head);
    if (nh === ICMPV6_PROTOCOL_NUMBER) {
      st.packetsDelivered++;
      this.icmp.handlePacket(pkt, net, info);
      return;
    }
    const r = this.nic.deliverTransportPacket(nh, pkt, info);
    switch (r) {
      case "delivered":
        st.packetsDelivered++;
        return;
      case "unknownProtocol":
        st.unknownProtocol++;
        // RFC 8200 §4: "If ... the Next Header value in the current header is unrecognized by the node,
        // it should discard the packet and send an ICMP Parameter Problem message ... Code value of 1".
        this.icmp.sendParamProblem(pkt, net, ICMPV6_UNKNOWN_NEXT_HEADER, nhField - net);
        return;
      case "unknownPort":
        st.packetsDelivered++;
        // RFC 4443 §3.1: code 4 when "the transport protocol ... has no listener".
        this.icmp.sendError(pkt, net, ICMPV6_DST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0);
        return;
      default:
        st.malformedPacketsReceived++;
    }
  }

  /** Routes a packet that is not for us (RFC 8200 §3 hop limit, RFC 4443 §3.1–§3.3 errors). */
  private forward(pkt: PacketBuffer, src: Address, dst: Address): void {
    const st = this.stats.ip;
    const net = pkt.head;
    // RFC 4291 §2.5.6: "Routers must not forward any packets with Link-Local source or destination addresses."
    if (src.isLinkLocalUnicast || dst.isLinkLocalUnicast || dst.isMulticast || src.isUnspecified) {
      st.invalidAddressesReceived++;
      return;
    }
    // RFC 4443 §3.3: a router that receives a packet with a Hop Limit of zero, or decrements it to zero,
    // discards it and sends Time Exceeded code 0.
    if (pkt.data[net + IPV6_HOP_LIMIT_OFFSET]! <= 1) {
      st.ttlExceeded++;
      this.icmp.sendError(pkt, net, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0);
      return;
    }
    if (!this.nic.findForwardingRoute) {
      pkt.data[net + IPV6_HOP_LIMIT_OFFSET]!--;
      this.nic.forward(pkt, IPV6_PROTOCOL_NUMBER, dst);
      return;
    }
    const route = this.nic.findForwardingRoute(dst, IPV6_PROTOCOL_NUMBER);
    if (!route) {
      st.noRoute++;
      this.icmp.sendError(pkt, net, ICMPV6_DST_UNREACHABLE, ICMPV6_NO_ROUTE, 0);
      return;
    }
    try {
      // RFC 4443 §3.2: a router that cannot forward because the packet is larger than the
      // next link's MTU sends Packet Too Big with that MTU (IPv6 routers never fragment).
      const mtu = route.mtu + IPV6_HEADER_SIZE;
      if (pkt.size > mtu) {
        this.icmp.sendError(pkt, net, ICMPV6_PACKET_TOO_BIG, 0, mtu);
        return;
      }
      pkt.data[net + IPV6_HOP_LIMIT_OFFSET]!--;
      if (route.writeHeaderIncludedPacket) route.writeHeaderIncludedPacket(pkt, true);
      else this.nic.forward(pkt, IPV6_PROTOCOL_NUMBER, dst);
    } finally {
      route.release();
    }
  }

  /** Called by the reassembler when a datagram whose first fragment arrived times out (RFC 8200 §4.5). */
  reassemblyTimedOut(first: Uint8Array): void {
    const pkt = PacketBuffer.wrap(first);
    this.icmp.sendError(pkt, 0, ICMPV6_TIME_EXCEEDED, ICMPV6_REASSEMBLY_TIMEOUT, 0);
  }

  /** The IPv6 MTU toward `dst`: the link MTU, lowered by Packet Too Big (RFC 8201). */
  mtuTo(dst: Address): number {
    const p = this.proto.pathMtu(dst);
    return p === undefined ? this.linkMtu : Math.min(p, this.linkMtu);
  }

  writePacket(route: RouteInfo, pkt: PacketBuffer, params: NetworkHeaderParams): void {
    // Packets to our own addresses never meet a link: the stack gives such routes a 64 KiB MTU.
    const loopback = (route as { loopback?: boolean }).loopback === true;
    let mtu = loopback ? route.mtu + IPV6_HEADER_SIZE : this.mtuTo(route.remoteAddress);
    // A GSO super-packet (HardwareGSO link, issue 8): the link cuts it into segments and fixes each one's
    // payload length, so its limit is the link's gsoMaxSize, not the MTU.
    if (pkt.gso !== undefined && pkt.gso.type !== 0 && route.gsoMaxSize > mtu) mtu = route.gsoMaxSize;
    this.writeDatagram(route.localAddress, route.remoteAddress, route.nextHop, pkt, params, mtu);
  }

  /**
   * Adds the IPv6 header to an upper-layer packet (`pkt.head` at it, with
   * headroom) and sends it toward `nextHop`, fragmenting when it does not fit
   * `mtu` (RFC 8200 §4.5: only the source fragments). Throws
   * `ErrMessageTooLong` when it may not be fragmented or exceeds 65535 bytes.
   */
  writeDatagram(
    src: Address,
    dst: Address,
    nextHop: Address,
    pkt: PacketBuffer,
    params: NetworkHeaderParams,
    mtu = this.mtuTo(dst),
  ): void {
    const size = pkt.size;
    if (size + IPV6_HEADER_SIZE <= mtu) {
      const off = pkt.prepend(IPV6_HEADER_SIZE);
      encodeIpv6(pkt.data, off, {
        trafficClass: params.tos,
        payloadLength: size,
        nextHeader: params.protocol,
        hopLimit: params.ttl,
        src,
        dst,
      });
      pkt.networkHeader = off;
      pkt.networkProtocol = IPV6_PROTOCOL_NUMBER;
      pkt.transportProtocol = params.protocol;
      this.send(pkt, nextHop, src);
      return;
    }
    // No jumbograms (RFC 2675): nothing above 65535 bytes of payload.
    if (params.dontFragment || size > 65535 - IPV6_FRAGMENT_HEADER_SIZE) {
      this.stats.ip.outgoingPacketErrors++;
      this.stats.fragments.fragmentationErrors++;
      throw new ErrMessageTooLong();
    }
    this.fragmentAndSend(src, dst, nextHop, pkt, params, mtu);
  }

  /** RFC 8200 §4.5 fragmentation: each fragment carries a multiple of 8 bytes except the last. */
  private fragmentAndSend(
    src: Address,
    dst: Address,
    nextHop: Address,
    pkt: PacketBuffer,
    params: NetworkHeaderParams,
    mtu: number,
  ): void {
    const payload = pkt.bytes();
    // Read once: a caller may reuse its `params` object for a packet sent from within `send` (TCP does).
    const { protocol, tos, ttl } = params;
    const per = Math.floor((mtu - IPV6_HEADER_SIZE - IPV6_FRAGMENT_HEADER_SIZE) / 8) * 8;
    // RFC 7739 §5: fragment identifications should be unpredictable.
    const id = this.proto.stack.random.u32();
    const headroom = this.linkHeadroom + IPV6_HEADER_SIZE + IPV6_FRAGMENT_HEADER_SIZE;
    for (let o = 0; o < payload.length; o += per) {
      const n = Math.min(per, payload.length - o);
      const f = PacketBuffer.withPayload(headroom, payload.subarray(o, o + n));
      const fo = f.prepend(IPV6_FRAGMENT_HEADER_SIZE);
      encodeIpv6Fragment(f.data, fo, {
        nextHeader: protocol,
        fragmentOffset: o,
        more: o + n < payload.length,
        id,
      });
      const off = f.prepend(IPV6_HEADER_SIZE);
      encodeIpv6(f.data, off, {
        trafficClass: tos,
        payloadLength: IPV6_FRAGMENT_HEADER_SIZE + n,
        nextHeader: IPV6_FRAGMENT,
        hopLimit: ttl,
        src,
        dst,
      });
      f.networkHeader = off;
      f.networkProtocol = IPV6_PROTOCOL_NUMBER;
      f.transportProtocol = protocol;
      this.stats.fragments.fragmentsSent++;
      this.send(f, nextHop, src);
    }
  }

  /**
   * Writes a finished IPv6 packet toward `nextHop`: through the NIC's
   * neighbour cache when it has one, else straight to the link (multicast
   * mapped per RFC 2464 §7).
   */
  send(pkt: PacketBuffer, nextHop: Address, local: Address | undefined): void {
    this.stats.ip.packetsSent++;
    if (this.nic.writeToNextHop) {
      this.nic.writeToNextHop(pkt, IPV6_PROTOCOL_NUMBER, nextHop, local, (p) => this.unresolved(p));
      return;
    }
    // The NIC's writeToLink runs the outbound hooks.
    const dst =
      this.resolutionRequired && nextHop.isMulticast ? ethernetMulticastV6(nextHop.bytes) : undefined;
    this.nic.writeToLink(pkt, IPV6_PROTOCOL_NUMBER, dst);
  }

  /** Writes a packet to a known link address (NDP probes, replies to a solicitation's source link address). */
  sendToLink(pkt: PacketBuffer, dst: Address, linkDst: LinkAddress | undefined): void {
    this.stats.ip.packetsSent++;
    const ld =
      linkDst ?? (this.resolutionRequired && dst.isMulticast ? ethernetMulticastV6(dst.bytes) : undefined);
    this.nic.writeToLink(pkt, IPV6_PROTOCOL_NUMBER, ld);
  }

  /**
   * A packet dropped because NDP could not resolve its next hop. RFC 4861
   * §7.2.2: the sender gets Destination Unreachable code 3 for each queued
   * packet; for our own packets that is the transport endpoint's error.
   */
  private unresolved(pkt: PacketBuffer): void {
    this.stats.ip.outgoingPacketErrors++;
    const b = pkt.data;
    const net = pkt.networkHeader >= 0 ? pkt.networkHeader : pkt.head;
    if (net + IPV6_HEADER_SIZE > pkt.tail) return;
    const src = Address.fromBytes(b, net + IPV6_SRC_OFFSET, 16);
    if (!this.nic.hasAddress(src)) {
      this.icmp.sendError(pkt, net, ICMPV6_DST_UNREACHABLE, ICMPV6_ADDRESS_UNREACHABLE, 0);
      return;
    }
    const t = findTransport(b, net, pkt.tail);
    if (!t || t.proto === ICMPV6_PROTOCOL_NUMBER) return;
    const dst = Address.fromBytes(b, net + IPV6_DST_OFFSET, 16);
    this.nic.deliverTransportControlPacket(
      t.proto,
      b.subarray(t.off, pkt.tail),
      src,
      dst,
      "linkAddressUnresolved",
      0,
      {
        nic: this.nic.id,
        netProto: IPV6_PROTOCOL_NUMBER,
        src: dst,
        dst: src,
        ttl: 0,
        tos: 0,
      },
    );
  }
}

/** `cached` when it holds the 16 bytes at `off`, else undefined. */
function sameAddress(cached: Address | undefined, b: Uint8Array, off: number): Address | undefined {
  if (!cached) return undefined;
  const c = cached.bytes;
  for (let i = 15; i >= 0; i--) if (c[i] !== b[off + i]) return undefined;
  return cached;
}

/** RFC 7112 §3: whether the extension headers starting with `nh` at `off` all end within `end`. */
function chainComplete(b: Uint8Array, nh: number, off: number, end: number): boolean {
  for (let i = 0; i < 16; i++) {
    if (nh === IPV6_HOP_BY_HOP || nh === IPV6_ROUTING || nh === IPV6_DESTINATION_OPTIONS) {
      if (off + 2 > end) return false;
      const next = b[off]!;
      off += (b[off + 1]! + 1) * 8;
      if (off > end) return false;
      nh = next;
    } else if (nh === IPV6_FRAGMENT) {
      if (off + IPV6_FRAGMENT_HEADER_SIZE > end) return false;
      nh = b[off]!;
      off += IPV6_FRAGMENT_HEADER_SIZE;
    } else {
      return true;
    }
  }
  return false;
}

/** Length in bytes of a hop-by-hop, routing or destination options header at `off`, or -1 if it runs past `end`. */
function extensionLength(b: Uint8Array, off: number, end: number): number {
  if (off + 8 > end) return -1;
  const len = (b[off + 1]! + 1) * 8;
  return off + len > end ? -1 : len;
}

/**
 * Finds the upper-layer header of the IPv6 packet at `net`, skipping
 * extension headers; undefined when it is not in `[net, end)` or sits in a
 * non-first fragment. Used on quoted packets in ICMPv6 errors.
 */
export function findTransport(
  b: Uint8Array,
  net: number,
  end: number,
): { proto: number; off: number } | undefined {
  if (net + IPV6_HEADER_SIZE > end) return undefined;
  let nh = b[net + IPV6_NEXT_HEADER_OFFSET]!;
  let off = net + IPV6_HEADER_SIZE;
  for (let i = 0; i < 16; i++) {
    switch (nh) {
      case IPV6_HOP_BY_HOP:
      case IPV6_ROUTING:
      case IPV6_DESTINATION_OPTIONS: {
        if (off + 2 > end) return undefined;
        const next = b[off]!;
        off += (b[off + 1]! + 1) * 8;
        nh = next;
        break;
      }
      case IPV6_FRAGMENT: {
        if (off + IPV6_FRAGMENT_HEADER_SIZE > end) return undefined;
        if (new Ipv6FragmentHeader(b, off).fragmentOffset !== 0) return undefined;
        nh = b[off]!;
        off += IPV6_FRAGMENT_HEADER_SIZE;
        break;
      }
      case IPV6_NO_NEXT_HEADER:
        return undefined;
      default:
        return off <= end ? { proto: nh, off } : undefined;
    }
  }
  return undefined;
}

/**
 * IPv4 (RFC 791, host requirements RFC 1122 §3, router requirements RFC 1812
 * §4–5 for forwarding). One `Ipv4Endpoint` per NIC; the protocol object holds
 * what the NICs share: ID generator, reassembler, ICMP rate limiter, options.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, checksumUpdate2 } from "../../header/checksum.ts";
import {
  encodeIpv4,
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_MAX_SIZE,
  IPV4_MIN_SIZE,
  IPV4_OPTION_LSRR,
  IPV4_OPTION_SSRR,
  IPV4_OPTIONS_MALFORMED,
  IPV4_TTL_OFFSET,
  type Ipv4Fields,
  Ipv4Header,
  Ipv4OptionIterator,
  ipv4HeaderLength,
} from "../../header/ipv4.ts";
import { LinkCapability } from "../../link/link-endpoint.ts";
import type {
  ControlType,
  NetworkEndpoint,
  NetworkHeaderParams,
  NetworkProtocol,
  NetworkProtocolFactory,
  NicContext,
  RouteInfo,
  StackContext,
  TransportPacketInfo,
} from "../../stack/registration.ts";
import { TokenBucket } from "../../stack/token-bucket.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrInvalidOptionValue, ErrMessageTooLong, ErrUnknownProtocolOption } from "../../tcpip/errors.ts";
import { ICMPV4_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { isDirectedBroadcastV4 } from "../../tcpip/subnet.ts";
import { fragmentKey, IPV4_REASSEMBLY_TIMEOUT_MS, Reassembler } from "../fragmentation/reassembler.ts";
import { fragmentIpv4 } from "./fragment.ts";
import { Icmpv4 } from "./icmp.ts";
import { IdGenerator } from "./id-generator.ts";
import { IGMP_PROTOCOL_NUMBER, Igmp } from "./igmp.ts";

/** RFC 1700 / Linux `ip_default_ttl`. */
export const IPV4_DEFAULT_TTL = 64;
/** Largest reassembled payload: Total Length is 16 bits and includes the header (RFC 791 §3.1). */
const MAX_REASSEMBLED_PAYLOAD = 65535 - IPV4_MIN_SIZE;

export interface Ipv4Options {
  defaultTtl?: number;
  /** ICMP error rate (messages per second) and burst (Linux `icmp_msgs_per_sec` 1000, `icmp_msgs_burst` 50). */
  icmpRatePerSecond?: number;
  icmpBurst?: number;
  /** Answer echo requests sent to broadcast or multicast (Linux `icmp_echo_ignore_broadcasts` = 1: no). */
  echoBroadcast?: boolean;
}

/** Context kept with fragment 0 of a datagram: its header and first 8 payload bytes, for ICMP on timeout. */
interface FirstFragment {
  bytes: Uint8Array;
  ep: Ipv4Endpoint;
}

export class Ipv4Protocol implements NetworkProtocol {
  readonly number = IPV4_PROTOCOL_NUMBER;
  readonly name = "ipv4";
  readonly addressLength = 4;
  readonly minimumPacketSize = IPV4_MIN_SIZE;
  defaultTtl: number;
  echoBroadcast: boolean;
  /** Host routes added from ICMP redirects so far. */
  redirectRoutes = 0;
  readonly ids: IdGenerator;
  readonly icmpLimiter: TokenBucket;
  readonly reassembler: Reassembler<FirstFragment>;

  constructor(
    readonly stack: StackContext,
    opts: Ipv4Options = {},
  ) {
    this.defaultTtl = opts.defaultTtl ?? IPV4_DEFAULT_TTL;
    this.echoBroadcast = opts.echoBroadcast ?? false;
    this.ids = new IdGenerator(stack.random);
    this.icmpLimiter = new TokenBucket(stack.clock, opts.icmpRatePerSecond ?? 1000, opts.icmpBurst ?? 50);
    this.reassembler = new Reassembler<FirstFragment>({
      clock: stack.clock,
      stats: stack.stats.fragments,
      timeoutMs: IPV4_REASSEMBLY_TIMEOUT_MS,
      overlap: "keepFirst",
      maxPayloadSize: MAX_REASSEMBLED_PAYLOAD,
      onTimeout: (_key, first) => first?.ep.reassemblyTimedOut(first.bytes),
    });
  }

  newEndpoint(nic: NicContext): NetworkEndpoint {
    return new Ipv4Endpoint(nic, this);
  }

  parseAddresses(b: Uint8Array, off: number, len: number): { src: Address; dst: Address } | undefined {
    const h = new Ipv4Header(b, off);
    if (!h.isValid(len)) return undefined;
    return { src: h.srcAddress(), dst: h.dstAddress() };
  }

  setOption(name: string, value: unknown): void {
    switch (name) {
      case "defaultTtl":
        if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 255) {
          throw new ErrInvalidOptionValue();
        }
        this.defaultTtl = value as number;
        return;
      case "icmpRatePerSecond":
        if (typeof value !== "number" || value < 0) throw new ErrInvalidOptionValue();
        this.icmpLimiter.ratePerSecond = value;
        return;
      case "icmpBurst":
        if (typeof value !== "number" || value < 0) throw new ErrInvalidOptionValue();
        this.icmpLimiter.burst = value;
        return;
      case "echoBroadcast":
        this.echoBroadcast = !!value;
        return;
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  option(name: string): unknown {
    switch (name) {
      case "defaultTtl":
        return this.defaultTtl;
      case "icmpRatePerSecond":
        return this.icmpLimiter.ratePerSecond;
      case "icmpBurst":
        return this.icmpLimiter.burst;
      case "echoBroadcast":
        return this.echoBroadcast;
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  close(): void {
    this.reassembler.clear();
  }

  private readonly addressCache = new Map<number, Address>();

  /**
   * The `Address` for a 32-bit IPv4 value, reused across packets: a busy peer
   * costs one allocation, not two per packet. Bounded; cleared when full.
   */
  address(n: number): Address {
    let a = this.addressCache.get(n);
    if (a) return a;
    if (this.addressCache.size >= ADDRESS_CACHE_SIZE) this.addressCache.clear();
    a = Address.fromV4Number(n);
    this.addressCache.set(n, a);
    return a;
  }
}

const ADDRESS_CACHE_SIZE = 4096;
/** The header fields `writePacket` fills in for a packet without options (see there). */
const outFields: Ipv4Fields = {
  tos: 0,
  totalLength: 0,
  id: 0,
  flags: 0,
  ttl: 0,
  protocol: 0,
  src: Address.fromV4Number(0),
  dst: Address.fromV4Number(0),
};

export class Ipv4Endpoint implements NetworkEndpoint {
  readonly protocol = IPV4_PROTOCOL_NUMBER;
  readonly maxHeaderLength = IPV4_MIN_SIZE;
  readonly icmp: Icmpv4;
  readonly igmp: Igmp;
  private readonly onUnresolved = (pkt: PacketBuffer) => this.linkResolutionFailed(pkt);
  private readonly rxHeader = new Ipv4Header(new Uint8Array(0), 0);
  /** The `TransportPacketInfo` of local deliveries, reused (see `deliver`). */
  private readonly rxInfo: TransportPacketInfo = {
    nic: 0,
    netProto: IPV4_PROTOCOL_NUMBER,
    src: Address.fromV4Number(0),
    dst: Address.fromV4Number(0),
    ttl: 0,
    tos: 0,
  };
  private rxDepth = 0;
  /** RFC 1812 §5.2.7.1: a router that cannot resolve the next hop sends Host Unreachable to the source. */
  private readonly onForwardUnresolved = (pkt: PacketBuffer) => {
    this.stats.ip.outgoingPacketErrors++;
    this.icmp.sendDestinationUnreachable(pkt, 1);
  };

  constructor(
    readonly nic: NicContext,
    readonly proto: Ipv4Protocol,
  ) {
    this.icmp = new Icmpv4(this);
    this.igmp = new Igmp(this);
  }

  get stats() {
    return this.nic.stack.stats;
  }

  // ---- outbound ----

  writePacket(route: RouteInfo, pkt: PacketBuffer, params: NetworkHeaderParams): void {
    const ip = this.stats.ip;
    const opts = params.options;
    const hlen = opts && opts.length > 0 ? ipv4HeaderLength(opts.length) : IPV4_MIN_SIZE;
    const total = pkt.size + hlen;
    if (total > 0xffff || hlen > IPV4_MAX_SIZE) {
      ip.outgoingPacketErrors++;
      throw new ErrMessageTooLong();
    }
    // A GSO super-packet (HardwareGSO link, issue 8) may exceed the MTU: the link cuts it into segments
    // and fixes each one's total length and ID, so its limit is the link's gsoMaxSize.
    const gso = pkt.gso !== undefined && pkt.gso.type !== 0 && route.gsoMaxSize > 0;
    const mtu = gso ? Math.max(route.gsoMaxSize, route.mtu + IPV4_MIN_SIZE) : route.mtu + IPV4_MIN_SIZE;
    const df = params.dontFragment === true;
    if (total > mtu && df) {
      // Local path MTU discovery (RFC 1191 §3): the sender learns at once that DF packets this size cannot go.
      ip.outgoingPacketErrors++;
      throw new ErrMessageTooLong();
    }
    const off = pkt.prepend(hlen);
    const src = route.localAddress;
    const dst = route.remoteAddress;
    // One fields object for every packet without options (read by encodeIpv4 at once, never kept):
    // issue 10, no allocation per packet on the request/response path.
    const fields: Ipv4Fields = hlen > IPV4_MIN_SIZE ? { ...outFields, options: opts! } : outFields;
    fields.tos = params.tos;
    fields.totalLength = total;
    fields.id = this.proto.ids.next(src.is4 ? src.v4Number : 0, dst.v4Number, params.protocol);
    fields.flags = df ? IPV4_FLAG_DONT_FRAGMENT : 0;
    fields.ttl = params.ttl;
    fields.protocol = params.protocol;
    fields.src = src;
    fields.dst = dst;
    encodeIpv4(pkt.data, off, fields);
    pkt.networkHeader = off;
    pkt.networkProtocol = IPV4_PROTOCOL_NUMBER;
    pkt.transportProtocol = params.protocol;
    if (total <= mtu) {
      ip.packetsSent++;
      this.sendToNextHop(pkt, route);
      return;
    }
    const frags = fragmentIpv4(pkt, mtu, this.nic.linkHeaderLength ?? 0);
    if (!frags) {
      ip.outgoingPacketErrors++;
      this.stats.fragments.fragmentationErrors++;
      throw new ErrMessageTooLong();
    }
    for (const f of frags) {
      ip.packetsSent++;
      this.stats.fragments.fragmentsSent++;
      this.sendToNextHop(f, route);
    }
  }

  private sendToNextHop(pkt: PacketBuffer, route: RouteInfo): void {
    const nic = this.nic;
    if (nic.writeToNextHop) {
      nic.writeToNextHop(pkt, IPV4_PROTOCOL_NUMBER, route.nextHop, route.localAddress, this.onUnresolved);
    } else {
      nic.writeToLink(pkt, IPV4_PROTOCOL_NUMBER, undefined);
    }
  }

  /** A packet we sent could not be given a link address: tell the transport endpoint that sent it. */
  private linkResolutionFailed(pkt: PacketBuffer): void {
    this.stats.ip.outgoingPacketErrors++;
    const b = pkt.data;
    const h = new Ipv4Header(b, pkt.head);
    if (!h.isValid(pkt.size) || h.fragmentOffset !== 0) return;
    const src = h.srcAddress();
    const dst = h.dstAddress();
    const info: TransportPacketInfo = {
      nic: this.nic.id,
      netProto: IPV4_PROTOCOL_NUMBER,
      src: dst,
      dst: src,
      ttl: 0,
      tos: 0,
    };
    const transport = b.subarray(pkt.head + h.headerLength, pkt.head + h.totalLength);
    this.deliverControl(h.protocol, transport, src, dst, "linkAddressUnresolved", 0, info);
  }

  deliverControl(
    proto: number,
    transport: Uint8Array,
    local: Address,
    remote: Address,
    type: ControlType,
    extra: number,
    info: TransportPacketInfo,
  ): void {
    this.nic.deliverTransportControlPacket(proto, transport, local, remote, type, extra, info);
  }

  // ---- inbound ----

  handlePacket(pkt: PacketBuffer): void {
    const ip = this.stats.ip;
    ip.packetsReceived++;
    const b = pkt.data;
    const off = pkt.head;
    // One header view per endpoint, reused (issue 10: no object per packet). Local delivery reads it
    // before handing the packet up; forwarding and reassembly, which send (and so may be re-entered)
    // while they still read it, get their own.
    const h = this.rxHeader.reset(b, off);
    // RFC 1122 §3.2.1.1: "A datagram whose version number is not 4 MUST be silently discarded";
    // isValid also checks IHL ≥ 5 and IHL ≤ Total Length ≤ what the link delivered (RFC 791 §3.1).
    if (!h.isValid(pkt.size)) {
      ip.malformedPacketsReceived++;
      this.stats.malformedRcvdPackets++;
      return;
    }
    const hlen = h.headerLength;
    // RFC 1122 §3.2.1.2: "A host MUST verify the IP header checksum on every received datagram and
    // silently discard every datagram that has a bad checksum."
    if (!pkt.checksumVerified && checksum(b, off, hlen) !== 0xffff) {
      ip.malformedPacketsReceived++;
      this.stats.malformedRcvdPackets++;
      return;
    }
    // Link padding past Total Length is not part of the datagram (RFC 791 §3.1 "Total Length").
    pkt.truncate(h.totalLength);
    const srcNum = h.srcNumber;
    const dstNum = h.dstNumber;
    // RFC 1122 §3.2.1.3: a source address that is broadcast, multicast (or class E) is discarded.
    if (srcNum === 0xffffffff || srcNum >>> 28 === 0xe || srcNum >>> 28 === 0xf) {
      ip.invalidSourceAddressesReceived++;
      return;
    }
    // RFC 1122 §3.2.1.3(g): 127/8 "MUST NOT appear outside a host" — drop it from any real link.
    if ((srcNum >>> 24 === 127 || dstNum >>> 24 === 127) && this.receivedFromLink()) {
      ip.invalidSourceAddressesReceived++;
      return;
    }
    if (hlen > IPV4_MIN_SIZE) {
      ip.optionsReceived++;
      const verdict = this.checkOptions(b, off, hlen);
      if (verdict >= 0) {
        // RFC 1122 §3.2.2.5: Parameter Problem with a pointer at the offending octet.
        this.icmp.sendParameterProblem(pkt, verdict);
        ip.malformedPacketsReceived++;
        return;
      }
      if (verdict === DROP_SOURCE_ROUTE) {
        ip.invalidAddressesReceived++;
        return;
      }
    }
    const dst = this.proto.address(dstNum);
    const local = this.isLocalDestination(dst, dstNum);
    if (!local) {
      if (this.nic.forwardingFor ? this.nic.forwardingFor(IPV4_PROTOCOL_NUMBER) : this.nic.forwarding) {
        this.forward(pkt, new Ipv4Header(b, off), dst);
        return;
      }
      ip.invalidAddressesReceived++;
      return;
    }
    if (h.isFragment) {
      this.reassemble(pkt, new Ipv4Header(b, off), dst);
      return;
    }
    this.deliver(pkt, h, dst);
  }

  /** Whether the packet being handled arrived from a real link (not a loopback link, not handleLocal). */
  receivedFromLink(): boolean {
    if (this.nic.capabilities & LinkCapability.Loopback) return false;
    return !this.nic.deliveringLocally;
  }

  /** Returns an octet offset for Parameter Problem, DROP_SOURCE_ROUTE, or OPTIONS_OK. */
  private checkOptions(b: Uint8Array, off: number, hlen: number): number {
    const it = new Ipv4OptionIterator(b, off + IPV4_MIN_SIZE, hlen - IPV4_MIN_SIZE);
    while (it.next()) {
      // RFC 7126 §4.3 (and Linux `accept_source_route` = 0): datagrams with source routes are dropped.
      if (it.type === IPV4_OPTION_LSRR || it.type === IPV4_OPTION_SSRR) return DROP_SOURCE_ROUTE;
      // RFC 1122 §3.2.1.8: "The IP layer MUST ... silently ignore any option it does not implement."
    }
    if (it.error === IPV4_OPTIONS_MALFORMED) return Math.max(IPV4_MIN_SIZE, it.optionOffset - off);
    return OPTIONS_OK;
  }

  /** Whether `dst` is for this host on this NIC (RFC 1122 §3.3.4.2 weak host model, like Linux). */
  private isLocalDestination(dst: Address, dstNum: number): boolean {
    const nic = this.nic;
    if (nic.hasAddress(dst)) return true;
    if (dstNum === 0xffffffff) return true;
    if (dstNum >>> 28 === 0xe) return nic.isMemberOf(dst) || nic.promiscuous;
    if (this.isSubnetBroadcast(dstNum)) return true;
    if (nic.promiscuous) return true;
    return nic.stack.hasAddress(0, dst);
  }

  /**
   * Whether `dstNum`, an address a datagram arrived with, is the directed broadcast of one of this
   * NIC's subnets, the old all-zeros form included (RFC 1122 §3.3.6: hosts "SHOULD recognize and
   * accept" it on receive).
   */
  isSubnetBroadcast(dstNum: number): boolean {
    return isDirectedBroadcastV4(dstNum, this.nic.addresses(IPV4_PROTOCOL_NUMBER), "receive");
  }

  /** Whether a datagram to `dstNum` was sent to many hosts (no ICMP errors about it, RFC 1122 §3.2.2). */
  isBroadcastOrMulticast(dstNum: number): boolean {
    return dstNum === 0xffffffff || dstNum >>> 28 === 0xe || this.isSubnetBroadcast(dstNum);
  }

  private reassemble(pkt: PacketBuffer, h: Ipv4Header, dst: Address): void {
    const b = pkt.data;
    const off = pkt.head;
    const hlen = h.headerLength;
    const payloadLen = h.totalLength - hlen;
    const more = h.moreFragments;
    // RFC 791 §3.2: every fragment but the last carries a multiple of 8 octets.
    if (more && payloadLen % 8 !== 0) {
      this.stats.ip.malformedFragmentsReceived++;
      this.stats.fragments.dropped++;
      return;
    }
    const src = h.srcAddress();
    const fragOffset = h.fragmentOffset;
    const key = fragmentKey(src, dst, h.id, h.protocol);
    const first: FirstFragment | undefined =
      fragOffset === 0
        ? { bytes: b.slice(off, off + Math.min(h.totalLength, hlen + 8)), ep: this }
        : undefined;
    const r = this.proto.reassembler.process(
      key,
      fragOffset,
      more,
      h.protocol,
      b.subarray(off + hlen, off + hlen + payloadLen),
      first,
    );
    if (r.kind !== "done") return;
    const head = r.first?.bytes;
    if (!head) return;
    const fh = new Ipv4Header(head, 0);
    const fhlen = fh.headerLength;
    const size = r.payload.size;
    // RFC 791 §3.1: Total Length, header included, is at most 65535 octets. The reassembler bounds the
    // payload for a 20-byte header; options in the first fragment leave less room (Linux: "Oversized IP packet").
    if (fhlen + size > 0xffff) {
      this.stats.ip.malformedFragmentsReceived++;
      this.stats.fragments.dropped++;
      return;
    }
    const headroom = this.nic.linkHeaderLength ?? 0;
    const whole = PacketBuffer.alloc(headroom, fhlen + size);
    const wo = whole.head;
    whole.data.set(head.subarray(0, fhlen), wo);
    r.payload.copyTo(whole.data.subarray(wo + fhlen, wo + fhlen + size));
    const wh = new Ipv4Header(whole.data, wo);
    wh.setTotalLength(fhlen + size);
    wh.setFlagsFragmentOffset(wh.flags & ~1, 0);
    wh.setChecksum(wh.computeChecksum());
    whole.nic = pkt.nic;
    whole.networkHeader = wo;
    whole.networkProtocol = IPV4_PROTOCOL_NUMBER;
    whole.linkBroadcastOrMulticast = pkt.linkBroadcastOrMulticast;
    whole.checksumVerified = false;
    this.deliver(whole, wh, dst);
  }

  private deliver(pkt: PacketBuffer, h: Ipv4Header, dst: Address): void {
    const hlen = h.headerLength;
    const proto = h.protocol;
    const src = this.proto.address(h.srcNumber);
    // One info object for every packet (issue 10: an object per packet fewer), unless this delivery is
    // nested in another of this endpoint's (a reply looped back at once), which keeps reading its own.
    let info: TransportPacketInfo;
    if (this.rxDepth === 0) {
      info = this.rxInfo;
      info.nic = this.nic.id;
      info.src = src;
      info.dst = dst;
      info.ttl = h.ttl;
      info.tos = h.tos;
    } else {
      info = { nic: this.nic.id, netProto: IPV4_PROTOCOL_NUMBER, src, dst, ttl: h.ttl, tos: h.tos };
    }
    // Not in a `finally`: should a handler throw, later packets only fall back to their own objects.
    this.rxDepth++;
    this.deliverUp(pkt, hlen, proto, info);
    this.rxDepth--;
  }

  private deliverUp(pkt: PacketBuffer, hlen: number, proto: number, info: TransportPacketInfo): void {
    const ip = this.stats.ip;
    pkt.networkHeader = pkt.head;
    pkt.consume(hlen);
    pkt.transportHeader = pkt.head;
    pkt.transportProtocol = proto;
    if (proto === ICMPV4_PROTOCOL_NUMBER) {
      ip.packetsDelivered++;
      this.icmp.handlePacket(pkt, info);
      return;
    }
    if (proto === IGMP_PROTOCOL_NUMBER) {
      ip.packetsDelivered++;
      this.igmp.handlePacket(pkt);
      return;
    }
    const res = this.nic.deliverTransportPacket(proto, pkt, info);
    switch (res) {
      case "delivered":
        ip.packetsDelivered++;
        return;
      case "unknownProtocol":
        // RFC 1122 §3.2.2.1: a host SHOULD generate Protocol Unreachable for an unknown transport protocol.
        ip.unknownProtocol++;
        this.icmp.sendDestinationUnreachable(pkt, 2);
        return;
      case "unknownPort":
        // RFC 1122 §4.1.3.1: "If a datagram arrives addressed to a UDP port for which there is no pending
        // LISTEN call, UDP SHOULD send an ICMP Port Unreachable message."
        ip.packetsDelivered++;
        this.icmp.sendDestinationUnreachable(pkt, 3);
        return;
      case "malformed":
        ip.malformedPacketsReceived++;
        return;
    }
  }

  // ---- forwarding (RFC 1812 §5) ----

  private forward(pkt: PacketBuffer, h: Ipv4Header, dst: Address): void {
    const ip = this.stats.ip;
    const b = pkt.data;
    const off = pkt.head;
    const dstNum = h.dstNumber;
    // RFC 1812 §5.3.7: never forward to limited broadcast, multicast (without a multicast router), or
    // from/to link-local (RFC 3927 §2.7); and nothing that arrived as a link-layer broadcast (§5.3.4).
    if (
      dstNum === 0xffffffff ||
      dstNum >>> 28 === 0xe ||
      dstNum >>> 24 === 127 ||
      dstNum >>> 24 === 0 ||
      dst.isLinkLocalUnicast ||
      h.srcAddress().isLinkLocalUnicast ||
      h.srcNumber >>> 24 === 127 ||
      pkt.linkBroadcastOrMulticast
    ) {
      ip.invalidAddressesReceived++;
      return;
    }
    // RFC 1812 §5.3.1: "If the TTL is reduced to zero (or less), the packet MUST be discarded, and ...
    // the router MUST also send an ICMP Time Exceeded message".
    if (h.ttl <= 1) {
      ip.ttlExceeded++;
      this.icmp.sendTimeExceeded(pkt, 0);
      return;
    }
    const route = this.nic.findForwardingRoute?.(dst, IPV4_PROTOCOL_NUMBER);
    if (!route?.writeHeaderIncludedPacket) {
      // RFC 1812 §5.2.7.1: Destination Unreachable, code 0 (network) when no route exists.
      ip.noRoute++;
      this.icmp.sendDestinationUnreachable(pkt, 0, undefined, true);
      return;
    }
    const mtu = route.mtu + IPV4_MIN_SIZE;
    const size = pkt.size;
    if (size > mtu && h.dontFragment) {
      // RFC 1191 §4: Fragmentation Needed with the next-hop MTU.
      this.icmp.sendDestinationUnreachable(pkt, 4, mtu, true);
      return;
    }
    // RFC 1812 §5.2.7.2: a router SHOULD send a Redirect when the packet leaves by the interface it came
    // in on, toward a next hop on the source's own subnet (the source could have sent it there itself).
    if (
      route.nic === this.nic.id &&
      !route.nextHop.equals(h.srcAddress()) &&
      this.onSameSubnet(h.srcNumber, route.nextHop)
    ) {
      this.icmp.sendRedirect(pkt, route.nextHop);
    }
    // Decrement TTL and patch the checksum incrementally (RFC 1624 eqn. 3, RFC 1812 §5.3.1).
    const ttl = h.ttl;
    const oldWord = (ttl << 8) | b[off + IPV4_TTL_OFFSET + 1]!;
    b[off + IPV4_TTL_OFFSET] = ttl - 1;
    h.setChecksum(checksumUpdate2(h.checksum, oldWord, ((ttl - 1) << 8) | b[off + IPV4_TTL_OFFSET + 1]!));
    if (size <= mtu) {
      route.writeHeaderIncludedPacket(pkt, true, this.onForwardUnresolved);
      return;
    }
    const frags = fragmentIpv4(pkt, mtu, (route.maxHeaderLength ?? IPV4_MIN_SIZE) - IPV4_MIN_SIZE);
    if (!frags) {
      this.stats.fragments.fragmentationErrors++;
      return;
    }
    for (const f of frags) {
      this.stats.fragments.fragmentsSent++;
      route.writeHeaderIncludedPacket(f, true, this.onForwardUnresolved);
    }
  }

  /** Whether `srcNum` and `nextHop` lie in one of this NIC's subnets. */
  private onSameSubnet(srcNum: number, nextHop: Address): boolean {
    const hop = nextHop.v4Number;
    for (const a of this.nic.addresses(IPV4_PROTOCOL_NUMBER)) {
      const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
      const net = (a.address.v4Number & mask) >>> 0;
      if ((srcNum & mask) >>> 0 === net && (hop & mask) >>> 0 === net) return true;
    }
    return false;
  }

  /** RFC 792: Time Exceeded code 1 when reassembly times out, only if fragment 0 arrived. */
  reassemblyTimedOut(first: Uint8Array): void {
    this.icmp.sendError(first, 0, first.length, false, 11, 1, undefined);
  }

  addressAdded(): void {}

  groupJoined(group: Address): void {
    this.igmp.joined(group);
  }

  groupLeft(group: Address): void {
    this.igmp.left(group);
  }

  disable(): void {
    this.igmp.clear();
  }
}

const OPTIONS_OK = -1;
const DROP_SOURCE_ROUTE = -2;

/** The IPv4 protocol factory for `new Stack({ networkProtocols: [ipv4()] })`. */
export function newIpv4Protocol(opts: Ipv4Options = {}): NetworkProtocolFactory {
  return (stack) => new Ipv4Protocol(stack, opts);
}

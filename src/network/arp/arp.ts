/**
 * ARP (RFC 826) for IPv4 over Ethernet. The ARP endpoint of a NIC answers
 * requests for our own addresses, feeds the NIC's IPv4 neighbour cache
 * (RFC 826 "merge" step: requests create STALE entries, replies confirm), and
 * sends the requests the cache asks for. A gratuitous ARP announcement
 * (RFC 5227 §3) goes out when an address is added.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ARP_REPLY, ARP_REQUEST, ARP_SIZE, ArpHeader, encodeArp } from "../../header/arp.ts";
import type {
  LinkAddressResolver,
  NetworkEndpoint,
  NetworkHeaderParams,
  NetworkProtocol,
  NetworkProtocolFactory,
  NicContext,
  RouteInfo,
  StackContext,
} from "../../stack/registration.ts";
import type { Address } from "../../tcpip/address.ts";
import { ErrNotSupported } from "../../tcpip/errors.ts";
import { ethernetMulticastV4, LinkAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { isDirectedBroadcastV4 } from "../../tcpip/subnet.ts";

const ZERO_MAC = new LinkAddress(new Uint8Array(6));

export class ArpProtocol implements NetworkProtocol {
  readonly number = ARP_PROTOCOL_NUMBER;
  readonly name = "arp";
  readonly addressLength = 0;
  readonly minimumPacketSize = ARP_SIZE;

  constructor(readonly stack: StackContext) {}

  newEndpoint(nic: NicContext): NetworkEndpoint {
    return new ArpEndpoint(nic);
  }

  parseAddresses(b: Uint8Array, off: number, len: number): { src: Address; dst: Address } | undefined {
    const h = new ArpHeader(b, off);
    if (!h.isValid(len)) return undefined;
    return { src: h.senderProtocolAddress(), dst: h.targetProtocolAddress() };
  }
}

export class ArpEndpoint implements NetworkEndpoint, LinkAddressResolver {
  readonly protocol = ARP_PROTOCOL_NUMBER;
  readonly maxHeaderLength = ARP_SIZE;
  readonly resolvedProtocol = IPV4_PROTOCOL_NUMBER;
  readonly linkAddressResolver: LinkAddressResolver = this;

  constructor(readonly nic: NicContext) {}

  private get stats() {
    return this.nic.stack.stats.arp;
  }

  writePacket(_route: RouteInfo, _pkt: PacketBuffer, _params: NetworkHeaderParams): void {
    throw new ErrNotSupported();
  }

  handlePacket(pkt: PacketBuffer): void {
    const st = this.stats;
    st.packetsReceived++;
    const b = pkt.data;
    const h = new ArpHeader(b, pkt.head);
    if (!h.isValid(pkt.size)) {
      st.malformedPacketsReceived++;
      return;
    }
    const op = h.op;
    const senderIp = h.senderProtocolAddress();
    const senderHw = h.senderHardwareAddress();
    // A sender claiming a broadcast/multicast MAC or a non-unicast IP would poison the cache.
    if (senderHw.isMulticast || senderIp.isMulticast || senderIp.isBroadcast) {
      st.malformedPacketsReceived++;
      return;
    }
    const cache = this.nic.neighbors?.(IPV4_PROTOCOL_NUMBER);
    const targetIp = h.targetProtocolAddress();
    if (op === ARP_REQUEST) {
      st.requestsReceived++;
      // RFC 826: "?Am I the target protocol address?" Only then merge the sender and reply.
      if (!this.nic.hasAddress(targetIp)) {
        st.requestsReceivedUnknownTargetAddress++;
        // RFC 826 merge: an entry we already have is refreshed (a gratuitous request announces a move).
        if (cache?.entry(senderIp) && !senderIp.isUnspecified) cache.handleProbe(senderIp, senderHw);
        return;
      }
      // RFC 5227 §2.1.1: a probe has sender IP 0.0.0.0 and must not touch the cache.
      if (!senderIp.isUnspecified) cache?.handleProbe(senderIp, senderHw);
      this.send(ARP_REPLY, targetIp, senderHw, senderIp, senderHw);
      st.repliesSent++;
      return;
    }
    if (op === ARP_REPLY) {
      st.repliesReceived++;
      if (senderIp.isUnspecified) return;
      // An ARP reply is like a solicited NDP advertisement with Override (RFC 826 merge updates the entry).
      cache?.handleConfirmation(senderIp, senderHw, { solicited: true, override: true, isRouter: false });
      return;
    }
    st.malformedPacketsReceived++;
  }

  private send(
    op: number,
    senderIp: Address,
    targetHw: LinkAddress,
    targetIp: Address,
    linkDst: LinkAddress,
  ): void {
    const pkt = PacketBuffer.alloc(this.nic.linkHeaderLength ?? 14, ARP_SIZE);
    encodeArp(pkt.data, pkt.head, { op, senderHw: this.nic.linkAddress, senderIp, targetHw, targetIp });
    pkt.networkHeader = pkt.head;
    this.nic.writeToLink(pkt, ARP_PROTOCOL_NUMBER, linkDst);
  }

  // ---- LinkAddressResolver ----

  linkAddressRequest(
    target: Address,
    localAddress: Address | undefined,
    remote: LinkAddress | undefined,
  ): void {
    let src = localAddress && this.nic.hasAddress(localAddress) ? localAddress : undefined;
    src ??=
      this.nic.primaryAddress?.(IPV4_PROTOCOL_NUMBER, target) ??
      this.nic.addresses(IPV4_PROTOCOL_NUMBER)[0]?.address;
    if (!src) {
      this.stats.outgoingRequestsDropped++;
      return;
    }
    this.send(ARP_REQUEST, src, ZERO_MAC, target, remote ?? LinkAddress.BROADCAST);
    this.stats.requestsSent++;
  }

  resolveStatic(addr: Address): LinkAddress | undefined {
    if (addr.isBroadcast) return LinkAddress.BROADCAST;
    if (addr.isMulticast) return ethernetMulticastV4(addr.bytes);
    // The directed broadcast of one of our subnets goes to the link broadcast (RFC 1122 §3.3.6), in
    // its standard all-ones form only: the old all-zeros form is accepted on receive, never sent.
    if (isDirectedBroadcastV4(addr.v4Number, this.nic.addresses(IPV4_PROTOCOL_NUMBER), "send")) {
      return LinkAddress.BROADCAST;
    }
    return undefined;
  }

  resolutionFailed(): void {
    this.stats.resolutionFailures++;
  }

  /** RFC 5227 §3 announcement: sender and target IP both the new address, broadcast. */
  addressAdded(addr: Address): void {
    if (!addr.is4 || !this.nic.resolutionRequired) return;
    this.send(ARP_REQUEST, addr, ZERO_MAC, addr, LinkAddress.BROADCAST);
    this.stats.requestsSent++;
  }
}

/** The ARP protocol factory for `new Stack({ networkProtocols: [newIpv4Protocol(), newArpProtocol()] })`. */
export function newArpProtocol(): NetworkProtocolFactory {
  return (stack) => new ArpProtocol(stack);
}

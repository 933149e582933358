/**
 * A network interface: one link endpoint, one network endpoint per network
 * protocol, its addresses, multicast memberships and neighbour caches. The
 * link calls `deliverNetworkPacket`; the network endpoints call back through
 * the `NicContext` methods.
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link/link-endpoint.ts";
import { Address } from "../tcpip/address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { NetworkProtocolNumber, NICID, TransportProtocolNumber } from "../tcpip/protocols.ts";
import { newNicStats } from "../tcpip/stats.ts";
import { NeighborCache, type NeighborConfig } from "./neighbor-cache.ts";
import type {
  ControlType,
  DeliveryResult,
  LinkAddressResolver,
  NeighborTable,
  NetworkEndpoint,
  NicContext,
  Route,
  TransportPacketInfo,
} from "./registration.ts";
import { type CandidateAddress, selectSourceAddress } from "./source-address.ts";
import type { HookKind, Stack } from "./stack.ts";

/** An address assigned to a NIC. */
export interface AddressEntry extends CandidateAddress {
  readonly protocol: NetworkProtocolNumber;
  readonly address: Address;
  readonly prefixLen: number;
  /** RFC 4862 §5.4: an address under Duplicate Address Detection is not used as a source. */
  tentative: boolean;
  /** RFC 4862 §5.5.4: deprecated addresses are avoided as sources (RFC 6724 rule 3). */
  deprecated: boolean;
}

/** 224.0.0.1 (RFC 1112 §4: every host is a member of the all-hosts group). */
const ALL_HOSTS_V4 = Address.v4(224, 0, 0, 1);

export class NIC implements NetworkDispatcher, NicContext {
  readonly endpoints = new Map<NetworkProtocolNumber, NetworkEndpoint>();
  readonly nicStats = newNicStats();
  private readonly addressList = new Map<NetworkProtocolNumber, AddressEntry[]>();
  private readonly addressByKey = new Map<string, AddressEntry>();
  private readonly groups = new Map<string, number>();
  private readonly caches = new Map<NetworkProtocolNumber, NeighborCache>();
  private readonly resolvers = new Map<NetworkProtocolNumber, LinkAddressResolver>();
  private readonly scratch: PacketBuffer[] = [];
  /** The link's `synchronousWrite`, read once: packets it took are marked `consumedByLink` (issue 10). */
  private readonly linkConsumes: boolean;
  enabled = false;
  removed = false;
  promiscuous = false;
  spoofing = false;

  constructor(
    readonly stack: Stack,
    readonly id: NICID,
    readonly name: string,
    readonly link: LinkEndpoint,
    neighborConfig: Partial<NeighborConfig> | undefined,
  ) {
    this.linkConsumes = link.synchronousWrite === true;
    for (const proto of stack.networkProtocolList()) {
      this.endpoints.set(proto.number, proto.newEndpoint(this));
    }
    if (this.resolutionRequired) {
      for (const ep of this.endpoints.values()) {
        const r = ep.linkAddressResolver;
        if (!r) continue;
        this.resolvers.set(r.resolvedProtocol, r);
        const cache = new NeighborCache(
          {
            clock: stack.clock,
            random: stack.random,
            writeResolved: (pkt, protocol, linkAddress) => this.linkWrite(pkt, protocol, linkAddress),
            dropped: () => this.countDrop(),
          },
          r,
          neighborConfig,
        );
        this.caches.set(r.resolvedProtocol, cache);
      }
    }
  }

  get linkAddress(): LinkAddress {
    return this.link.linkAddress;
  }
  get mtu(): number {
    return this.link.mtu;
  }
  get capabilities(): number {
    return this.link.capabilities;
  }
  get linkHeaderLength(): number {
    return this.link.maxHeaderLength;
  }
  get resolutionRequired(): boolean {
    return (this.link.capabilities & LinkCapability.ResolutionRequired) !== 0;
  }
  get deliveringLocally(): boolean {
    return this.stack.deliveringLocally;
  }
  get forwarding(): boolean {
    return this.stack.anyForwarding();
  }
  forwardingFor(netProto: NetworkProtocolNumber): boolean {
    return this.stack.forwarding(netProto);
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    this.stack.routeGeneration++;
    if (!this.link.isAttached()) this.link.attach(this);
    for (const ep of this.endpoints.values()) ep.enable?.();
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.stack.routeGeneration++;
    for (const ep of this.endpoints.values()) ep.disable?.();
    for (const c of this.caches.values()) c.clear();
  }

  /** Detaches from the link and drops all state (the NIC is being removed). */
  remove(): void {
    this.disable();
    this.removed = true;
    for (const ep of this.endpoints.values()) ep.close?.();
    for (const c of this.caches.values()) c.clear();
    this.link.attach(undefined);
  }

  private countDrop(): void {
    this.nicStats.droppedPackets++;
    this.stack.stats.droppedPackets++;
  }

  // ---- inbound ----

  /** The link starts a batch of packets: the stack puts per-batch work off until `endBatch`. */
  beginBatch(): void {
    this.stack.beginBatch();
  }

  endBatch(): void {
    this.stack.endBatch();
  }

  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    if (!this.enabled) {
      this.countDrop();
      return;
    }
    this.nicStats.rx.packets++;
    this.nicStats.rx.bytes += pkt.size;
    const ep = this.endpoints.get(protocol);
    if (!ep) {
      this.nicStats.unknownL3ProtocolRcvdPackets++;
      this.stack.stats.unknownProtocolRcvdPackets++;
      return;
    }
    pkt.nic = this.id;
    pkt.networkProtocol = protocol;
    pkt.networkHeader = pkt.head;
    if (!this.stack.runHooks("inbound", protocol, pkt, this.id)) {
      this.countDrop();
      return;
    }
    ep.handlePacket(pkt);
  }

  deliverTransportPacket(
    proto: TransportProtocolNumber,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
  ): DeliveryResult {
    return this.stack.deliverTransportPacket(this, proto, pkt, info);
  }

  deliverTransportControlPacket(
    proto: TransportProtocolNumber,
    quoted: Uint8Array,
    local: Address,
    remote: Address,
    type: ControlType,
    extra: number,
    info: TransportPacketInfo,
  ): void {
    this.stack.deliverTransportControlPacket(this, proto, quoted, local, remote, type, extra, info);
  }

  // ---- outbound ----

  /** Writes to the link with no hooks (they ran before resolution). */
  linkWrite(pkt: PacketBuffer, protocol: NetworkProtocolNumber, linkDst: LinkAddress | undefined): void {
    if (!this.enabled) {
      this.countDrop();
      return;
    }
    pkt.networkProtocol = protocol;
    pkt.linkDst = linkDst;
    pkt.nic = this.id;
    const size = pkt.size;
    this.scratch[0] = pkt;
    const n = this.link.writePackets(this.scratch);
    this.scratch[0] = undefined as unknown as PacketBuffer;
    // Whether the link took it or dropped it, it keeps nothing: the writer may have the buffer back.
    if (this.linkConsumes) pkt.consumedByLink = true;
    if (n === 0) {
      this.countDrop();
      return;
    }
    this.nicStats.tx.packets++;
    this.nicStats.tx.bytes += size;
  }

  writeToLink(pkt: PacketBuffer, protocol: NetworkProtocolNumber, linkDst: LinkAddress | undefined): void {
    if (!this.stack.runHooks("outbound", protocol, pkt, this.id)) {
      this.countDrop();
      return;
    }
    this.linkWrite(pkt, protocol, linkDst);
  }

  writeToNextHop(
    pkt: PacketBuffer,
    protocol: NetworkProtocolNumber,
    nextHop: Address,
    localAddress: Address | undefined,
    onUnresolved?: (pkt: PacketBuffer) => void,
    hook: HookKind = "outbound",
  ): void {
    if (!this.enabled) {
      this.countDrop();
      return;
    }
    pkt.networkProtocol = protocol;
    if (pkt.networkHeader < 0) pkt.networkHeader = pkt.head;
    if (!this.stack.runHooks(hook, protocol, pkt, this.id)) {
      this.countDrop();
      return;
    }
    const local = this.stack.localDeliveryNIC(nextHop);
    if (local) {
      this.nicStats.tx.packets++;
      this.nicStats.tx.bytes += pkt.size;
      this.stack.deliverLocal(local, protocol, pkt);
      return;
    }
    if (!this.resolutionRequired) {
      this.linkWrite(pkt, protocol, undefined);
      return;
    }
    const resolver = this.resolvers.get(protocol);
    const cache = this.caches.get(protocol);
    if (!resolver || !cache) {
      // An Ethernet link without ARP/NDP for this protocol cannot address the frame.
      this.countDrop();
      onUnresolved?.(pkt);
      return;
    }
    const known = resolver.resolveStatic(nextHop);
    if (known) {
      this.linkWrite(pkt, protocol, known);
      return;
    }
    cache.send(nextHop, localAddress, pkt, protocol, onUnresolved);
  }

  neighbors(netProto: NetworkProtocolNumber): NeighborTable | undefined {
    return this.caches.get(netProto);
  }

  neighborCache(netProto: NetworkProtocolNumber): NeighborCache | undefined {
    return this.caches.get(netProto);
  }

  forward(pkt: PacketBuffer, netProto: NetworkProtocolNumber, dst: Address): void {
    const r = this.findForwardingRoute(dst, netProto);
    if (!r) {
      this.stack.stats.ip.noRoute++;
      this.countDrop();
      return;
    }
    r.writeHeaderIncludedPacket!(pkt, true);
  }

  findForwardingRoute(dst: Address, netProto: NetworkProtocolNumber): Route | undefined {
    return this.stack.forwardingRoute(dst, netProto);
  }

  runHook(kind: HookKind, netProto: NetworkProtocolNumber, pkt: PacketBuffer): boolean {
    return this.stack.runHooks(kind, netProto, pkt, this.id);
  }

  // ---- addresses ----

  addAddress(protocol: NetworkProtocolNumber, address: Address, prefixLen: number, tentative: boolean): void {
    const e: AddressEntry = { protocol, address, prefixLen, tentative, deprecated: false };
    let list = this.addressList.get(protocol);
    if (!list) {
      list = [];
      this.addressList.set(protocol, list);
    }
    list.push(e);
    this.addressByKey.set(address.key, e);
    this.stack.routeGeneration++;
    this.endpoints.get(protocol)?.addressAdded?.(address, prefixLen);
    for (const ep of this.endpoints.values()) {
      if (ep.protocol !== protocol && ep.linkAddressResolver?.resolvedProtocol === protocol) {
        ep.addressAdded?.(address, prefixLen);
      }
    }
  }

  removeAddress(address: Address): boolean {
    const e = this.addressByKey.get(address.key);
    if (!e) return false;
    this.addressByKey.delete(address.key);
    this.stack.routeGeneration++;
    const list = this.addressList.get(e.protocol)!;
    list.splice(list.indexOf(e), 1);
    this.endpoints.get(e.protocol)?.addressRemoved?.(address);
    for (const ep of this.endpoints.values()) {
      if (ep.protocol !== e.protocol && ep.linkAddressResolver?.resolvedProtocol === e.protocol) {
        ep.addressRemoved?.(address);
      }
    }
    return true;
  }

  addressEntry(addr: Address): AddressEntry | undefined {
    return this.addressByKey.get(addr.key);
  }

  addresses(netProto: NetworkProtocolNumber): readonly AddressEntry[] {
    return this.addressList.get(netProto) ?? [];
  }

  allAddresses(): AddressEntry[] {
    return [...this.addressByKey.values()];
  }

  hasAddress(addr: Address): boolean {
    const e = this.addressByKey.get(addr.key);
    return e !== undefined && !e.tentative;
  }

  primaryAddress(netProto: NetworkProtocolNumber, remote?: Address): Address | undefined {
    return selectSourceAddress(this.addresses(netProto), remote);
  }

  // ---- multicast ----

  /** Joins `group` (reference counted); the protocol hears about the first join. */
  joinGroup(group: Address, netProto?: NetworkProtocolNumber): void {
    const n = this.groups.get(group.key) ?? 0;
    this.groups.set(group.key, n + 1);
    if (n === 0 && netProto !== undefined) this.endpoints.get(netProto)?.groupJoined?.(group);
  }

  leaveGroup(group: Address, netProto?: NetworkProtocolNumber): boolean {
    const n = this.groups.get(group.key);
    if (n === undefined) return false;
    if (n <= 1) {
      this.groups.delete(group.key);
      if (netProto !== undefined) this.endpoints.get(netProto)?.groupLeft?.(group);
    } else {
      this.groups.set(group.key, n - 1);
    }
    return true;
  }

  isMemberOf(group: Address): boolean {
    if (this.groups.has(group.key)) return true;
    return group.equals(ALL_HOSTS_V4) || group.equals(Address.ALL_NODES_V6);
  }

  /** Joined groups (for diagnostics). */
  joinedGroups(): Address[] {
    return [...this.groups.keys()].map((k) => Address.fromKey(k));
  }
}

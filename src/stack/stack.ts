/**
 * The stack: NICs, addresses, the route table, transport demux, port
 * reservations, packet hooks and statistics. Protocols are given as factories
 * and reached only through the interfaces of `registration.ts`, so nothing
 * here imports a concrete protocol (gVisor's `stack.Stack`).
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import { LinkCapability, type LinkEndpoint } from "../link/link-endpoint.ts";
import { PortManager, type RemoteEnd } from "../ports/port-manager.ts";
import { Address } from "../tcpip/address.ts";
import { type Clock, RealClock } from "../tcpip/clock.ts";
import {
  ErrBadLocalAddress,
  ErrDuplicateAddress,
  ErrDuplicateNICID,
  ErrInvalidOptionValue,
  ErrNoRoute,
  ErrNotSupported,
  ErrUnknownNICID,
  ErrUnknownProtocol,
} from "../tcpip/errors.ts";
import type { Route as RouteRow } from "../tcpip/full-address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { NetworkProtocolNumber, NICID, TransportProtocolNumber } from "../tcpip/protocols.ts";
import { CryptoRandom, type Random } from "../tcpip/random.ts";
import { type NicStats, newStats, type Stats } from "../tcpip/stats.ts";
import { isDirectedBroadcastV4 } from "../tcpip/subnet.ts";
import type { NeighborConfig } from "./neighbor-cache.ts";
import { type AddressEntry, NIC } from "./nic.ts";
import type {
  BatchDeferred,
  ControlType,
  DeliveryResult,
  Endpoint,
  EndpointFactory,
  NeighborEntry,
  NetworkProtocol,
  NetworkProtocolFactory,
  PortFlags,
  Route,
  StackContext,
  TransportEndpoint,
  TransportEndpointId,
  TransportPacketInfo,
  TransportProtocol,
  TransportProtocolFactory,
  WaiterQueueLike,
} from "./registration.ts";
import { StackRoute } from "./route.ts";
import { RouteTable } from "./route-table.ts";
import { TransportDemuxer } from "./transport-demuxer.ts";

export type HookKind = "inbound" | "outbound" | "forwarded";

/**
 * A packet hook: sees every network packet of its kind (IPv4, IPv6 and ARP)
 * with its network protocol and bytes (from the network header). Returning
 * "drop" drops the packet (counted in `droppedPackets`). Hooks must not keep
 * `bytes`: the buffer is reused.
 */
export type PacketHook = (netProto: NetworkProtocolNumber, bytes: Uint8Array, nic: NICID) => unknown;

/**
 * A packet hook given the packet's own array and the range of its bytes (`data[off, off + len)`, from
 * the network header) instead of a view: no view per packet (issue 10). The same rules as `PacketHook`.
 */
export type PacketRangeHook = (
  netProto: NetworkProtocolNumber,
  data: Uint8Array,
  off: number,
  len: number,
  nic: NICID,
) => unknown;

export interface StackOptions {
  networkProtocols: readonly NetworkProtocolFactory[];
  transportProtocols?: readonly TransportProtocolFactory[];
  clock?: Clock;
  random?: Random;
  /** Deliver packets addressed to the stack's own addresses without a link (default true, as the seed). */
  handleLocal?: boolean;
  /** Neighbour cache timers and limits for every NIC that needs resolution. */
  neighbor?: Partial<NeighborConfig>;
}

export interface NICOptions {
  name?: string;
  disabled?: boolean;
}

export interface AddressOptions {
  /** Mark the address tentative (IPv6 DAD runs, RFC 4862 §5.4). */
  tentative?: boolean;
}

/** What `nicInfo` reports per NIC (for the REST API and diagnostics). */
export interface NICInfo {
  id: NICID;
  name: string;
  linkAddress: LinkAddress;
  mtu: number;
  enabled: boolean;
  promiscuous: boolean;
  spoofing: boolean;
  addresses: { protocol: NetworkProtocolNumber; address: Address; prefixLen: number }[];
  stats: NicStats;
}

export class Stack implements StackContext {
  readonly clock: Clock;
  readonly random: Random;
  readonly stats: Stats = newStats();
  readonly handleLocal: boolean;
  private readonly nics = new Map<NICID, NIC>();
  private readonly netProtos = new Map<NetworkProtocolNumber, NetworkProtocol>();
  private readonly transProtos = new Map<TransportProtocolNumber, TransportProtocol>();
  private readonly transOptions = new Map<TransportProtocolNumber, Record<string, unknown>>();
  private readonly routeTable = new RouteTable();
  private readonly demux: TransportDemuxer;
  private readonly ports: PortManager;
  /** Remotes of connected port reservations, so a release without its remote finds them. */
  private readonly connectedReservations = new Map<string, RemoteEnd[]>();
  private readonly hooks: Record<HookKind, PacketRangeHook[]> = { inbound: [], outbound: [], forwarded: [] };
  private readonly forwardingOn = new Set<NetworkProtocolNumber>();
  private readonly neighborConfig: Partial<NeighborConfig> | undefined;
  private readonly localQueue: { nic: NIC; proto: NetworkProtocolNumber; pkt: PacketBuffer }[] = [];
  private drainingLocal = false;
  /** Nesting of link batches being delivered (`beginBatch`/`endBatch`), and the work put off to their end. */
  private batchDepth = 0;
  private batchDeferred: BatchDeferred[] = [];
  /** An emptied list of a past batch, taken by the next one (no array per batch, issue 10). */
  private batchSpare: BatchDeferred[] | undefined;
  /** `batchNow`: whether the time of this batch was read, and the time; flushing = in `endBatch`'s work. */
  private batchTimeSet = false;
  private batchTime = 0;
  private batchFlushing = false;
  private closed = false;
  /** Grows whenever routes, addresses or NICs change; routes made before are `stale` (re-resolve them). */
  routeGeneration = 0;

  constructor(opts: StackOptions) {
    this.clock = opts.clock ?? new RealClock();
    this.random = opts.random ?? new CryptoRandom();
    this.handleLocal = opts.handleLocal ?? true;
    this.neighborConfig = opts.neighbor;
    this.demux = new TransportDemuxer(this.random.u32());
    this.ports = new PortManager({ random: this.random });
    for (const f of opts.networkProtocols) {
      const p = f(this);
      this.netProtos.set(p.number, p);
    }
    for (const f of opts.transportProtocols ?? []) {
      const p = f(this);
      this.transProtos.set(p.number, p);
      this.transOptions.set(p.number, {});
    }
  }

  // ---- protocols ----

  networkProtocolList(): NetworkProtocol[] {
    return [...this.netProtos.values()];
  }

  networkProtocol(n: NetworkProtocolNumber): NetworkProtocol | undefined {
    return this.netProtos.get(n);
  }

  transportProtocol(n: TransportProtocolNumber): TransportProtocol | undefined {
    return this.transProtos.get(n);
  }

  setNetworkProtocolOption(proto: NetworkProtocolNumber, name: string, value: unknown): void {
    const p = this.netProtos.get(proto);
    if (!p) throw new ErrUnknownProtocol();
    if (!p.setOption) throw new ErrNotSupported();
    p.setOption(name, value);
  }

  networkProtocolOption(proto: NetworkProtocolNumber, name: string): unknown {
    const p = this.netProtos.get(proto);
    if (!p) throw new ErrUnknownProtocol();
    return p.option?.(name);
  }

  setTransportProtocolOption(proto: TransportProtocolNumber, name: string, value: unknown): void {
    const p = this.transProtos.get(proto);
    if (!p) throw new ErrUnknownProtocol();
    if (p.setOption) p.setOption(name, value);
    this.transOptions.get(proto)![name] = value;
  }

  transportProtocolOption(proto: TransportProtocolNumber, name: string): unknown {
    const p = this.transProtos.get(proto);
    if (!p) throw new ErrUnknownProtocol();
    return p.option ? p.option(name) : this.transOptions.get(proto)![name];
  }

  transportOptions(proto: TransportProtocolNumber): Record<string, unknown> {
    return this.transOptions.get(proto) ?? {};
  }

  /** A new endpoint of `transport` over `network` (the seed's `NewEndpoint`). */
  newEndpoint(
    transport: TransportProtocolNumber,
    network: NetworkProtocolNumber,
    waiterQueue: WaiterQueueLike,
  ): Endpoint {
    const t = this.transProtos.get(transport);
    if (!t || !this.netProtos.has(network)) throw new ErrUnknownProtocol();
    const f = t as TransportProtocol & Partial<EndpointFactory>;
    if (!f.newEndpoint) throw new ErrNotSupported();
    return f.newEndpoint(network, waiterQueue);
  }

  // ---- NICs ----

  createNIC(id: NICID, link: LinkEndpoint, opts: NICOptions = {}): void {
    if (!Number.isInteger(id) || id <= 0) throw new ErrInvalidOptionValue();
    if (this.nics.has(id)) throw new ErrDuplicateNICID();
    const name = opts.name ?? `nic${id}`;
    for (const n of this.nics.values()) if (n.name === name) throw new ErrDuplicateNICID();
    const nic = new NIC(this, id, name, link, this.neighborConfig);
    this.nics.set(id, nic);
    if (!opts.disabled) nic.enable();
    this.routeGeneration++;
  }

  removeNIC(id: NICID): void {
    const nic = this.nicOrThrow(id);
    nic.remove();
    this.nics.delete(id);
    this.routeTable.removeNIC(id);
    this.routeGeneration++;
  }

  enableNIC(id: NICID): void {
    this.nicOrThrow(id).enable();
  }

  disableNIC(id: NICID): void {
    this.nicOrThrow(id).disable();
  }

  hasNIC(id: NICID): boolean {
    return id === 0 || this.nics.has(id);
  }

  /** The NIC object (for protocols' tests and diagnostics). */
  nic(id: NICID): NIC | undefined {
    return this.nics.get(id);
  }

  nicIds(): NICID[] {
    return [...this.nics.keys()];
  }

  nicByName(name: string): NICID | undefined {
    for (const n of this.nics.values()) if (n.name === name) return n.id;
    return undefined;
  }

  private nicOrThrow(id: NICID): NIC {
    const n = this.nics.get(id);
    if (!n) throw new ErrUnknownNICID();
    return n;
  }

  nicInfo(): NICInfo[] {
    return [...this.nics.values()].map((n) => ({
      id: n.id,
      name: n.name,
      linkAddress: n.linkAddress,
      mtu: n.mtu,
      enabled: n.enabled,
      promiscuous: n.promiscuous,
      spoofing: n.spoofing,
      addresses: n
        .allAddresses()
        .map((a) => ({ protocol: a.protocol, address: a.address, prefixLen: a.prefixLen })),
      stats: n.nicStats,
    }));
  }

  nicStats(id: NICID): NicStats {
    return this.nicOrThrow(id).nicStats;
  }

  /** Accept packets for any destination address on `id` (and ask the link for every frame if it can). */
  setPromiscuousMode(id: NICID, on: boolean): void {
    const nic = this.nicOrThrow(id);
    nic.promiscuous = on;
    const l = nic.link as LinkEndpoint & { setPromiscuous?(on: boolean): void };
    if (l.capabilities & LinkCapability.Promiscuous || l.setPromiscuous) l.setPromiscuous?.(on);
  }

  /** Allow sending from addresses not assigned to `id`. */
  setSpoofing(id: NICID, on: boolean): void {
    this.nicOrThrow(id).spoofing = on;
    this.routeGeneration++;
  }

  // ---- addresses ----

  addAddress(
    nic: NICID,
    protocol: NetworkProtocolNumber,
    address: Address,
    prefixLen?: number,
    opts: AddressOptions = {},
  ): void {
    const n = this.nicOrThrow(nic);
    const p = this.netProtos.get(protocol);
    if (!p) throw new ErrUnknownProtocol();
    if (p.addressLength !== address.length) throw new ErrBadLocalAddress();
    const len = prefixLen ?? address.length * 8;
    if (!Number.isInteger(len) || len < 0 || len > address.length * 8) throw new ErrInvalidOptionValue();
    if (n.addressEntry(address)) throw new ErrDuplicateAddress();
    n.addAddress(protocol, address, len, opts.tentative ?? false);
  }

  removeAddress(nic: NICID, address: Address): void {
    if (!this.nicOrThrow(nic).removeAddress(address)) throw new ErrBadLocalAddress();
  }

  /** Ends DAD for an address (RFC 4862 §5.4.5): it becomes usable, or is removed on conflict by the caller. */
  setAddressTentative(nic: NICID, address: Address, tentative: boolean): void {
    const e = this.nicOrThrow(nic).addressEntry(address);
    if (!e) throw new ErrBadLocalAddress();
    e.tentative = tentative;
  }

  setAddressDeprecated(nic: NICID, address: Address, deprecated: boolean): void {
    const e = this.nicOrThrow(nic).addressEntry(address);
    if (!e) throw new ErrBadLocalAddress();
    e.deprecated = deprecated;
  }

  /** The addresses of `nic`, all protocols. */
  addresses(nic: NICID): { protocol: NetworkProtocolNumber; address: Address; prefixLen: number }[] {
    return this.nicOrThrow(nic)
      .allAddresses()
      .map((a) => ({ protocol: a.protocol, address: a.address, prefixLen: a.prefixLen }));
  }

  /** The source `nic` would use for `remote` (RFC 6724 for IPv6). */
  primaryAddress(nic: NICID, protocol: NetworkProtocolNumber, remote?: Address): Address | undefined {
    return this.nicOrThrow(nic).primaryAddress(protocol, remote);
  }

  hasAddress(nic: NICID, addr: Address): boolean {
    if (nic !== 0) return this.nics.get(nic)?.hasAddress(addr) ?? false;
    for (const n of this.nics.values()) if (n.hasAddress(addr)) return true;
    return false;
  }

  nicForAddress(addr: Address): NICID {
    for (const n of this.nics.values()) if (n.hasAddress(addr)) return n.id;
    return 0;
  }

  private addressOwner(addr: Address): NIC | undefined {
    for (const n of this.nics.values()) if (n.enabled && n.hasAddress(addr)) return n;
    return undefined;
  }

  // ---- multicast ----

  joinGroup(nic: NICID, netProto: NetworkProtocolNumber, group: Address): void {
    if (!this.netProtos.has(netProto)) throw new ErrUnknownProtocol();
    if (!group.isMulticast) throw new ErrBadLocalAddress();
    this.nicOrThrow(nic).joinGroup(group, netProto);
  }

  leaveGroup(nic: NICID, netProto: NetworkProtocolNumber, group: Address): void {
    if (!this.netProtos.has(netProto)) throw new ErrUnknownProtocol();
    if (!this.nicOrThrow(nic).leaveGroup(group, netProto)) throw new ErrBadLocalAddress();
  }

  isInGroup(nic: NICID, group: Address): boolean {
    return this.nicOrThrow(nic).isMemberOf(group);
  }

  // ---- neighbours ----

  neighbors(nic: NICID, netProto: NetworkProtocolNumber): NeighborEntry[] {
    return this.nicOrThrow(nic).neighborCache(netProto)?.entries() ?? [];
  }

  addStaticNeighbor(
    nic: NICID,
    netProto: NetworkProtocolNumber,
    addr: Address,
    linkAddress: LinkAddress,
  ): void {
    const c = this.nicOrThrow(nic).neighborCache(netProto);
    if (!c) throw new ErrNotSupported();
    c.addStatic(addr, linkAddress);
  }

  removeNeighbor(nic: NICID, netProto: NetworkProtocolNumber, addr: Address): void {
    const c = this.nicOrThrow(nic).neighborCache(netProto);
    if (!c?.remove(addr)) throw new ErrBadLocalAddress();
  }

  clearNeighbors(nic: NICID, netProto: NetworkProtocolNumber): void {
    this.nicOrThrow(nic).neighborCache(netProto)?.clear();
  }

  // ---- routes ----

  setRouteTable(routes: readonly RouteRow[]): void {
    this.routeTable.set(routes);
    this.routeGeneration++;
  }

  addRoute(route: RouteRow): void {
    this.routeTable.add(route);
    this.routeGeneration++;
  }

  /** Removes routes equal to `route`; returns how many were removed. */
  removeRoute(route: RouteRow): number {
    this.routeGeneration++;
    return this.routeTable.remove(route);
  }

  getRouteTable(): RouteRow[] {
    return this.routeTable.list();
  }

  /**
   * A route from `localAddress` (or the best source, RFC 6724) to `remote`
   * over `nic` (0: any NIC, by longest-prefix match then metric). Throws
   * `ErrNoRoute` when nothing fits, `ErrUnknownNICID`, `ErrUnknownProtocol`.
   */
  findRoute(
    nic: NICID,
    localAddress: Address | undefined,
    remote: Address,
    netProto: NetworkProtocolNumber,
  ): Route {
    const proto = this.netProtos.get(netProto);
    if (!proto) throw new ErrUnknownProtocol();
    if (nic !== 0 && !this.nics.has(nic)) throw new ErrUnknownNICID();
    if (remote.length !== proto.addressLength) throw new ErrNoRoute();
    const local = localAddress && !localAddress.isUnspecified ? localAddress : undefined;

    // Loopback: the destination is one of ours (the seed's handleLocal).
    if (this.handleLocal) {
      const owner = this.addressOwner(remote);
      if (owner && (nic === 0 || nic === owner.id)) {
        if (local && !this.hasAddress(0, local)) throw new ErrBadLocalAddress();
        return this.makeRoute(owner, netProto, local ?? remote, remote, remote, true);
      }
    }

    // Multicast, broadcast and link-local destinations on a given NIC need no table entry.
    if (nic !== 0 && (remote.isMulticast || remote.isBroadcast || remote.isLinkLocalUnicast)) {
      const n = this.nics.get(nic)!;
      if (n.enabled) {
        const src = this.sourceFor(n, netProto, local, remote);
        if (src) return this.makeRoute(n, netProto, src, remote, remote, false);
        if (remote.isBroadcast) return this.makeRoute(n, netProto, Address.ANY_V4, remote, remote, false);
      }
    }

    for (const r of this.routeTable.matches(remote, nic)) {
      const n = this.nics.get(r.nic);
      if (!n?.enabled) continue;
      if (r.gateway && r.gateway.length !== remote.length) continue;
      const nextHop = r.gateway && !r.gateway.isUnspecified ? r.gateway : remote;
      const src = this.sourceFor(n, netProto, local, remote);
      if (!src) continue;
      return this.makeRoute(n, netProto, src, remote, nextHop, false);
    }
    throw new ErrNoRoute();
  }

  /** The source for `remote` through `n`: the given one if it may be used there, else the best on `n`. */
  private sourceFor(
    n: NIC,
    netProto: NetworkProtocolNumber,
    local: Address | undefined,
    remote: Address,
  ): Address | undefined {
    if (!local) return n.primaryAddress(netProto, remote);
    if (n.hasAddress(local) || n.spoofing) return local;
    // Weak host model (RFC 1122 §3.3.4.2), as Linux: any address of the host, except link-local ones.
    if (!local.isLinkLocalUnicast && this.hasAddress(0, local)) return local;
    return undefined;
  }

  private makeRoute(
    n: NIC,
    netProto: NetworkProtocolNumber,
    local: Address,
    remote: Address,
    nextHop: Address,
    loopback: boolean,
  ): StackRoute {
    const ep = n.endpoints.get(netProto)!;
    const proto = this.netProtos.get(netProto)!;
    return new StackRoute(this, n, ep, netProto, local, remote, nextHop, loopback, proto.defaultTtl ?? 64);
  }

  /** The route a forwarded packet takes; undefined when none. */
  forwardingRoute(dst: Address, netProto: NetworkProtocolNumber): Route | undefined {
    if (!this.netProtos.has(netProto)) return undefined;
    for (const r of this.routeTable.matches(dst, 0)) {
      const n = this.nics.get(r.nic);
      if (!n?.enabled) continue;
      if (r.gateway && r.gateway.length !== dst.length) continue;
      const nextHop = r.gateway && !r.gateway.isUnspecified ? r.gateway : dst;
      const src = n.primaryAddress(netProto, dst) ?? (dst.is4 ? Address.ANY_V4 : Address.ANY_V6);
      return this.makeRoute(n, netProto, src, dst, nextHop, false);
    }
    return undefined;
  }

  // ---- forwarding ----

  /** Turns IP forwarding on or off for `netProto` (RFC 1812 router behaviour; hosts leave it off, RFC 1122 §3.3.4). */
  setForwarding(netProto: NetworkProtocolNumber, on: boolean): void {
    if (!this.netProtos.has(netProto)) throw new ErrUnknownProtocol();
    if (on) this.forwardingOn.add(netProto);
    else this.forwardingOn.delete(netProto);
  }

  forwarding(netProto: NetworkProtocolNumber): boolean {
    return this.forwardingOn.has(netProto);
  }

  anyForwarding(): boolean {
    return this.forwardingOn.size > 0;
  }

  // ---- local delivery ----

  /** Whether a locally sent packet is being delivered (it came from no link). */
  get deliveringLocally(): boolean {
    return this.drainingLocal;
  }

  /** A link started delivering a batch of packets (through its NIC). */
  beginBatch(): void {
    if (this.batchDepth++ === 0) this.batchTimeSet = false;
  }

  batchNow(): number {
    if (this.batchDepth === 0 && !this.batchFlushing) return this.clock.now();
    if (!this.batchTimeSet) {
      this.batchTime = this.clock.now();
      this.batchTimeSet = true;
    }
    return this.batchTime;
  }

  /**
   * The batch ended: runs the work put off until now (TCP's ACKs and sends), once per
   * queued item. Every item runs even if one throws; the first error is rethrown after.
   */
  endBatch(): void {
    if (this.batchDepth === 0 || --this.batchDepth > 0) return;
    const list = this.batchDeferred;
    if (list.length === 0) {
      this.batchTimeSet = false;
      return;
    }
    this.batchDeferred = this.batchSpare ?? [];
    this.batchSpare = undefined;
    let error: unknown;
    // The batch's time holds through its work (a batch nested in it reads its own, then this one anew).
    const flushing = this.batchFlushing;
    this.batchFlushing = true;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!.flushDeferred();
      } catch (e) {
        error ??= e;
      }
    }
    this.batchFlushing = flushing;
    if (!flushing) this.batchTimeSet = false;
    // A batch nested in a flush took the spare or left its own; either way this list is free now.
    list.length = 0;
    this.batchSpare = list;
    if (error !== undefined) throw error;
  }

  deferUntilBatchEnd(item: BatchDeferred): boolean {
    if (this.batchDepth === 0) return false;
    this.batchDeferred.push(item);
    return true;
  }

  /** The NIC that should receive a packet sent to `addr` without a link, if handleLocal applies. */
  localDeliveryNIC(addr: Address): NIC | undefined {
    if (!this.handleLocal) return undefined;
    return this.addressOwner(addr);
  }

  /**
   * Delivers a packet to one of our own NICs as if it had arrived. Packets
   * sent while one is being delivered wait their turn, so a reply sent from a
   * receive callback never nests delivery.
   */
  deliverLocal(nic: NIC, proto: NetworkProtocolNumber, pkt: PacketBuffer): void {
    this.localQueue.push({ nic, proto, pkt });
    if (this.drainingLocal) return;
    this.drainingLocal = true;
    try {
      for (let item = this.localQueue.shift(); item; item = this.localQueue.shift()) {
        item.pkt.linkSrc = undefined;
        item.pkt.linkDst = undefined;
        item.pkt.linkHeader = -1;
        item.pkt.linkBroadcastOrMulticast = false;
        item.nic.deliverNetworkPacket(item.proto, item.pkt);
      }
    } finally {
      this.drainingLocal = false;
    }
  }

  // ---- hooks ----

  /** Adds a packet hook; returns a function that removes it. */
  addHook(kind: HookKind, fn: PacketHook): () => void {
    return this.addRangeHook(kind, (netProto, data, off, len, nic) =>
      fn(netProto, data.subarray(off, off + len), nic),
    );
  }

  /** Adds a packet hook that takes the packet's array and range (no view per packet); returns its remover. */
  addRangeHook(kind: HookKind, fn: PacketRangeHook): () => void {
    const list = this.hooks[kind];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i !== -1) list.splice(i, 1);
    };
  }

  /** Runs the hooks of `kind`; false when one says drop. */
  runHooks(kind: HookKind, netProto: NetworkProtocolNumber, pkt: PacketBuffer, nic: NICID): boolean {
    const list = this.hooks[kind];
    if (list.length === 0) return true;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!(netProto, pkt.data, pkt.head, pkt.size, nic) === "drop") return false;
    }
    return true;
  }

  // ---- transport ----

  registerTransportEndpoint(
    nic: NICID,
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
    flags: PortFlags,
  ): void {
    if (nic !== 0 && !this.nics.has(nic)) throw new ErrUnknownNICID();
    this.demux.register(nic, netProtos, transProto, id, ep, flags);
  }

  unregisterTransportEndpoint(
    _nic: NICID,
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
  ): void {
    this.demux.unregister(netProtos, transProto, id, ep);
  }

  reservePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
    remote?: { addr: Address; port: number },
  ): number {
    const p = this.ports.reservePort(netProtos, transProto, addr, port, flags, remote);
    if (remote) {
      const k = reservationKey(netProtos, transProto, addr, p, flags);
      let list = this.connectedReservations.get(k);
      if (!list) {
        list = [];
        this.connectedReservations.set(k, list);
      }
      list.push(remote);
    }
    return p;
  }

  /**
   * Releases a reservation. A connected reservation (made with `remote`) may
   * be released with or without its remote: without it, one made with the
   * same other arguments is released.
   */
  releasePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
    remote?: { addr: Address; port: number },
  ): void {
    const k = reservationKey(netProtos, transProto, addr, port, flags);
    const list = this.connectedReservations.get(k);
    if (remote) {
      const i = list?.findIndex((r) => r.port === remote.port && r.addr.equals(remote.addr)) ?? -1;
      if (i !== -1) list!.splice(i, 1);
      if (list?.length === 0) this.connectedReservations.delete(k);
      this.ports.releasePort(netProtos, transProto, addr, port, flags, remote);
      return;
    }
    if (this.ports.releasePort(netProtos, transProto, addr, port, flags)) return;
    const r = list?.pop();
    if (list?.length === 0) this.connectedReservations.delete(k);
    if (r) this.ports.releasePort(netProtos, transProto, addr, port, flags, r);
  }

  /** The ephemeral port range (like Linux's `ip_local_port_range`). */
  setEphemeralPortRange(first: number, last: number): void {
    this.ports.setEphemeralRange(first, last);
  }

  /** Transport demux for a packet that reached `nic` (see `TransportDemuxer` for the lookup order). */
  deliverTransportPacket(
    nic: NIC,
    proto: TransportProtocolNumber,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
  ): DeliveryResult {
    const t = this.transProtos.get(proto);
    if (!t) return "unknownProtocol";
    if (pkt.size < t.minimumPacketSize) return "malformed";
    const ports = t.parsePorts(pkt.data, pkt.head, pkt.size);
    if (!ports) return "malformed";
    pkt.transportProtocol = proto;
    if (pkt.transportHeader < 0) pkt.transportHeader = pkt.head;
    const id: TransportEndpointId = {
      localPort: ports.dst,
      localAddress: info.dst,
      remotePort: ports.src,
      remoteAddress: info.src,
    };
    if (
      info.dst.isMulticast ||
      info.dst.isBroadcast ||
      pkt.linkBroadcastOrMulticast ||
      isDirectedBroadcast(nic, info)
    ) {
      const eps = this.demux.findAll(info.netProto, proto, nic.id, info.dst, ports.dst, info.src, ports.src);
      if (eps.length > 0) {
        for (let i = 0; i < eps.length; i++) {
          eps[i]!.handlePacket(id, i === eps.length - 1 ? pkt : pkt.clone(), info);
        }
        return "delivered";
      }
    } else {
      const ep = this.demux.find(info.netProto, proto, nic.id, info.dst, ports.dst, info.src, ports.src);
      if (ep) {
        ep.handlePacket(id, pkt, info);
        return "delivered";
      }
    }
    return t.handleUnknownDestinationPacket(id, pkt, info, this) ? "delivered" : "unknownPort";
  }

  /** Hands an ICMP error (or a resolution failure) to the endpoint that sent the quoted packet. */
  deliverTransportControlPacket(
    nic: NIC,
    proto: TransportProtocolNumber,
    quoted: Uint8Array,
    local: Address,
    remote: Address,
    type: ControlType,
    extra: number,
    info: TransportPacketInfo,
  ): void {
    const t = this.transProtos.get(proto);
    if (!t) return;
    const ports = t.parsePorts(quoted, 0, quoted.length);
    if (!ports) return;
    const ep = this.demux.find(info.netProto, proto, nic.id, local, ports.src, remote, ports.dst);
    if (!ep?.handleControlPacket) return;
    const id: TransportEndpointId = {
      localPort: ports.src,
      localAddress: local,
      remotePort: ports.dst,
      remoteAddress: remote,
    };
    ep.handleControlPacket(id, type, extra, info);
  }

  // ---- lifecycle ----

  /** Removes every NIC and stops every timer of the stack and its protocols. */
  /** Every transport endpoint registered with the stack and the id it is registered under (like `ss`). */
  transportEndpoints(): {
    netProto: NetworkProtocolNumber;
    transProto: TransportProtocolNumber;
    id: TransportEndpointId;
    ep: TransportEndpoint;
  }[] {
    return [...this.demux.entries()];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.nics.keys()]) this.removeNIC(id);
    for (const p of this.transProtos.values()) p.close?.();
    for (const p of this.netProtos.values()) p.close?.();
  }

  /** The addresses of a NIC as source-selection candidates (for protocols). */
  addressEntries(nic: NICID, netProto: NetworkProtocolNumber): readonly AddressEntry[] {
    return this.nics.get(nic)?.addresses(netProto) ?? [];
  }
}

/**
 * Whether `info.dst` is the directed broadcast of one of the NIC's IPv4 subnets (RFC 919, RFC 922),
 * in the receive form: the old all-zeros one counts too (RFC 1122 §3.3.6), as IPv4 accepted it.
 */
function isDirectedBroadcast(nic: NIC, info: TransportPacketInfo): boolean {
  const d = info.dst;
  return d.is4 && isDirectedBroadcastV4(d.v4Number, nic.addresses(info.netProto), "receive");
}

function reservationKey(
  netProtos: readonly NetworkProtocolNumber[],
  transProto: TransportProtocolNumber,
  addr: Address | undefined,
  port: number,
  flags: PortFlags,
): string {
  const a = addr && !addr.isUnspecified ? addr.key : "";
  return `${netProtos.join(",")}/${transProto}/${port}/${flags.reuseAddress ? 1 : 0}${flags.reusePort ? 1 : 0}/${a}`;
}

/**
 * The contracts between the stack and the protocols it is built from. The
 * stack never imports a concrete protocol: IPv4, IPv6, ARP, TCP, UDP and ping
 * register through these interfaces (gVisor keeps them in one file too).
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import type { Address } from "../tcpip/address.ts";
import type { Clock } from "../tcpip/clock.ts";
import type { FullAddress, Route as TableRoute } from "../tcpip/full-address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { SockOptName } from "../tcpip/options.ts";
import type {
  NetworkProtocolNumber,
  NICID,
  ShutdownFlags,
  TransportProtocolNumber,
} from "../tcpip/protocols.ts";
import type { Random } from "../tcpip/random.ts";
import type { Stats } from "../tcpip/stats.ts";
import type { ControlMessages, Payload, WriteOptions } from "../tcpip/write-options.ts";

/**
 * The 4-tuple that identifies a transport endpoint. For a listener or an
 * unconnected endpoint the remote half is the wildcard (port 0, address
 * undefined); a local address of undefined binds every address.
 */
export interface TransportEndpointId {
  localPort: number;
  localAddress: Address | undefined;
  remotePort: number;
  remoteAddress: Address | undefined;
}

/** A resolved path for outbound packets: made by `Stack.findRoute`, held by connected endpoints. */
export interface RouteInfo {
  readonly nic: NICID;
  readonly netProto: NetworkProtocolNumber;
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  /** Gateway, or `remoteAddress` when on-link. */
  readonly nextHop: Address;
  readonly localLinkAddress: LinkAddress;
  /** Largest transport packet (header + payload) that fits without IP fragmentation. */
  readonly mtu: number;
  /** Bytes of headroom that the network and link layers need in front of a transport header. */
  readonly maxHeaderLength: number;
  /** Link capabilities of the NIC (checksum offload, GSO). */
  readonly capabilities: number;
  readonly gsoMaxSize: number;
}

/** What a transport protocol asks of the network layer for one packet. */
export interface NetworkHeaderParams {
  protocol: TransportProtocolNumber;
  ttl: number;
  /**
   * IPv4 TOS / IPv6 Traffic Class, written whole: DSCP in the upper six bits, the ECN field in the low
   * two (RFC 3168 §5; TCP sets ECT(0) there on an ECN connection's new data).
   */
  tos: number;
  /** IPv4 DF bit / no fragmentation (PMTUD). Default false. */
  dontFragment?: boolean;
  /** Raw IPv4 options (padded to 4 bytes by the network layer); ignored by IPv6. Added in issue 3. */
  options?: Uint8Array;
}

export interface Route extends RouteInfo {
  /**
   * Sends one transport packet: `pkt.head` is at the transport header and the
   * packet has `maxHeaderLength` bytes of headroom. The network layer adds its
   * header, fragments if needed, resolves the link address, and writes.
   * Errors (no link address, ...) are counted and dropped, except ones the
   * caller must see, which are thrown as `TcpipError`s.
   */
  writePacket(pkt: PacketBuffer, params: NetworkHeaderParams): void;
  /** Pseudo-header checksum (RFC 9293 §3.1, RFC 8200 §8.1) partial sum for `protocol` and `length`. */
  pseudoHeaderChecksum(protocol: TransportProtocolNumber, length: number): number;
  /** The default TTL / hop limit for this route's protocol. */
  readonly defaultTtl: number;
  /** Whether the route is a loopback (packets never leave the stack). */
  readonly loopback: boolean;
  release(): void;
  /**
   * Sends a packet that already has its network header (`pkt.head` at it):
   * forwarded packets (`forwarded` true runs the "forwarded" hooks instead of
   * "outbound" and counts `ip.packetsForwarded`) and ICMP errors built whole.
   * The caller has made it fit `mtu + network header`.
   */
  writeHeaderIncludedPacket?(
    pkt: PacketBuffer,
    forwarded?: boolean,
    /** Called if the next hop's link address cannot be resolved (RFC 1812 §4.3.3.1: Host Unreachable). */
    onUnresolved?: (pkt: PacketBuffer) => void,
  ): void;
  /**
   * Tells the neighbour cache that the next hop is reachable (forward progress,
   * like TCP ACKs of new data: RFC 4861 §7.3.1), sparing a probe.
   */
  confirmReachable?(): void;
  /**
   * True once routes, addresses or NICs changed after this route was made:
   * an endpoint holding it should call `findRoute` again (it may still work).
   */
  readonly stale?: boolean;
}

/** The stack's side, as seen by the protocols. */
export interface StackContext {
  readonly clock: Clock;
  readonly random: Random;
  readonly stats: Stats;
  findRoute(
    nic: NICID,
    localAddress: Address | undefined,
    remote: Address,
    netProto: NetworkProtocolNumber,
  ): Route;
  registerTransportEndpoint(
    nic: NICID,
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
    flags: PortFlags,
  ): void;
  unregisterTransportEndpoint(
    nic: NICID,
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
  ): void;
  /** Ephemeral-port reservation per RFC 6056; `port` 0 picks one. Returns the port. Throws `ErrPortInUse`/`ErrNoPortAvailable`. */
  reservePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
    remote?: { addr: Address; port: number },
  ): number;
  /** Releases a reservation; `remote` (optional, added in issue 3) names the connected one made with it. */
  releasePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
    remote?: { addr: Address; port: number },
  ): void;
  /** Whether `addr` is assigned to `nic` (or to any NIC when `nic` is 0). */
  hasAddress(nic: NICID, addr: Address): boolean;
  /** Stack-wide options of a transport protocol (like Linux's sysctls). */
  transportOptions(proto: TransportProtocolNumber): Record<string, unknown>;

  // Added by the stack (issue 3); optional so earlier test doubles type-check.

  /** Joins `group` on `nic` (reference counted); throws `ErrUnknownNICID`. */
  joinGroup?(nic: NICID, netProto: NetworkProtocolNumber, group: Address): void;
  leaveGroup?(nic: NICID, netProto: NetworkProtocolNumber, group: Address): void;
  /** The NIC that owns `addr`, or 0. */
  nicForAddress?(addr: Address): NICID;
  /** Whether `nic` exists (0 counts as "any"). */
  hasNIC?(nic: NICID): boolean;
  /**
   * Added for IPv6 (issue 3, optional): routes learnt from Router
   * Advertisements (RFC 4861 §6.3.4: default routers, on-link prefixes), and
   * the end of Duplicate Address Detection for a tentative address
   * (RFC 4862 §5.4). The `Stack` has all three.
   */
  addRoute?(route: TableRoute): void;
  removeRoute?(route: TableRoute): number;
  setAddressTentative?(nic: NICID, address: Address, tentative: boolean): void;
  /**
   * Added for issue 10 (optional): while a link delivers a batch of packets
   * (`NetworkDispatcher.beginBatch`/`endBatch`), puts `item.flushDeferred()`
   * off until the batch ends and returns true; outside a batch returns false
   * and the caller does the work at once. The caller remembers that it is
   * queued (one entry per batch).
   */
  deferUntilBatchEnd?(item: BatchDeferred): boolean;
  /**
   * Added for issue 10 (optional): `clock.now()` read once per link batch. Inside a batch and its
   * end-of-batch work every call returns the time of the first one (as Linux caches the TCP clock per
   * packet in `tcp_mstamp`); outside a batch it is `clock.now()`. For timestamps and RTT samples that a
   * batch's worth of processing (well under a millisecond) cannot skew.
   */
  batchNow?(): number;
}

/** Work a protocol put off to the end of the link's batch (see `StackContext.deferUntilBatchEnd`). */
export interface BatchDeferred {
  flushDeferred(): void;
}

export interface PortFlags {
  reuseAddress?: boolean;
  reusePort?: boolean;
}

/** An inbound packet delivered to a transport endpoint (`pkt.head` at the transport header). */
/**
 * What the network layer knew of an inbound packet, handed up with it. IPv4 reuses one object per
 * endpoint for its next packet (issue 10): read it during the call and copy what you keep (the TCP
 * forwarder keeps `{ ...info }`).
 */
export interface TransportPacketInfo {
  nic: NICID;
  netProto: NetworkProtocolNumber;
  src: Address;
  dst: Address;
  /** TTL / hop limit as received. */
  ttl: number;
  /** IPv4 TOS / IPv6 Traffic Class as received; its low two bits are the ECN field (RFC 3168 §5: 3 is CE). */
  tos: number;
}

/** ICMP errors reported to the transport endpoint that sent the packet (RFC 1122 §4.1.3.3, RFC 4443 §2.4(a)). */
export type ControlType =
  | "portUnreachable"
  | "protocolUnreachable"
  | "hostUnreachable"
  | "networkUnreachable"
  | "packetTooBig"
  | "timeExceeded"
  | "parameterProblem"
  /**
   * Not ICMP: the link address of the next hop could not be resolved (ARP/NDP
   * gave up, RFC 4861 §7.3.3 INCOMPLETE → FAILED). Endpoints report it as
   * `ErrNoLinkAddress`.
   */
  | "linkAddressUnresolved"
  | "unknown";

export interface TransportEndpoint {
  handlePacket(id: TransportEndpointId, pkt: PacketBuffer, info: TransportPacketInfo): void;
  /** An ICMP error about a packet this endpoint sent. `extra` is the MTU for `packetTooBig`. */
  handleControlPacket?(
    id: TransportEndpointId,
    type: ControlType,
    extra: number,
    info: TransportPacketInfo,
  ): void;
}

export interface TransportProtocol {
  readonly number: TransportProtocolNumber;
  readonly name: string;
  readonly minimumPacketSize: number;
  /**
   * Reads source and destination ports; `undefined` if the packet is too short.
   * Callers read the result at once and keep nothing of it, so an
   * implementation may return the same object every time (UDP and ping do:
   * nothing allocated per packet).
   */
  parsePorts(b: Uint8Array, off: number, len: number): { src: number; dst: number } | undefined;
  /**
   * Called when no endpoint matched. Returns whether the protocol handled it
   * (TCP answers with RST per RFC 9293 §3.10.7.1); when false, the network
   * layer sends ICMP port unreachable (RFC 1122 §4.1.3.1).
   */
  handleUnknownDestinationPacket(
    id: TransportEndpointId,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
    stack: StackContext,
  ): boolean;
  /** Per-protocol stack options (like `tcp_rmem`); `setOption` validates and throws `ErrInvalidOptionValue`. */
  setOption?(name: string, value: unknown): void;
  option?(name: string): unknown;
  /** Drops all state (used by `Stack.close`). */
  close?(): void;
}

/** What a network endpoint may call on its NIC. */
export interface NicContext {
  readonly id: NICID;
  readonly name: string;
  readonly linkAddress: LinkAddress;
  readonly mtu: number;
  readonly capabilities: number;
  readonly stack: StackContext;
  /** Writes one network-layer packet (head at the network header) to `linkDst` through the link. */
  writeToLink(pkt: PacketBuffer, protocol: NetworkProtocolNumber, linkDst: LinkAddress | undefined): void;
  /** Hands a transport packet (head at the transport header) to demux; returns "delivered" | "unknownPort" | "unknownProtocol" | "malformed". */
  deliverTransportPacket(
    proto: TransportProtocolNumber,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
  ): DeliveryResult;
  /** Delivers an ICMP error to the endpoint identified by the quoted packet. */
  deliverTransportControlPacket(
    proto: TransportProtocolNumber,
    quoted: Uint8Array,
    local: Address,
    remote: Address,
    type: ControlType,
    extra: number,
    info: TransportPacketInfo,
  ): void;
  /** Addresses of `netProto` on this NIC. */
  addresses(netProto: NetworkProtocolNumber): readonly { address: Address; prefixLen: number }[];
  hasAddress(addr: Address): boolean;
  isMemberOf(group: Address): boolean;
  readonly promiscuous: boolean;
  readonly spoofing: boolean;
  readonly forwarding: boolean;
  /** Forwards a packet that is not for this host (IP forwarding on). */
  forward(pkt: PacketBuffer, netProto: NetworkProtocolNumber, dst: Address): void;
  /**
   * Runs packet hooks; returns false when a hook says drop. The stack's NIC
   * already runs "inbound" hooks before `handlePacket`, "outbound" ones in
   * `writeToLink`/`writeToNextHop` and "forwarded" ones in
   * `Route.writeHeaderIncludedPacket(pkt, true)`: protocols need not call this.
   */
  runHook(
    kind: "inbound" | "outbound" | "forwarded",
    netProto: NetworkProtocolNumber,
    pkt: PacketBuffer,
  ): boolean;

  // Added by the stack (issue 3). The stack's NIC implements all of them; they
  // are optional only so test doubles written earlier still type-check.

  /**
   * Writes a network packet (`pkt.head` at the network header) to `nextHop`:
   * on links that need resolution the neighbour cache finds the link address
   * (packets wait while ARP/NDP runs; `onUnresolved` is called for each that
   * is dropped when resolution fails). Outbound hooks run here, so protocols
   * must not run them again. `localAddress` is the source hint for the
   * resolution request.
   */
  writeToNextHop?(
    pkt: PacketBuffer,
    protocol: NetworkProtocolNumber,
    nextHop: Address,
    localAddress: Address | undefined,
    onUnresolved?: (pkt: PacketBuffer) => void,
  ): void;
  /** The neighbour cache of this NIC for `netProto` (ARP feeds IPv4's, NDP IPv6's); undefined when the link needs no resolution. */
  neighbors?(netProto: NetworkProtocolNumber): NeighborTable | undefined;
  /** Whether forwarding is on for `netProto` on this NIC. */
  forwardingFor?(netProto: NetworkProtocolNumber): boolean;
  /** The route a forwarded packet to `dst` takes (any NIC), or undefined when there is none. */
  findForwardingRoute?(dst: Address, netProto: NetworkProtocolNumber): Route | undefined;
  /** Best source address on this NIC for reaching `remote` (RFC 6724 §5 for IPv6), if the NIC has one. */
  primaryAddress?(netProto: NetworkProtocolNumber, remote?: Address): Address | undefined;
  /** The link's own header length (headroom to leave in packets built by the network layer). */
  readonly linkHeaderLength?: number;
  /** Whether the link needs link-address resolution (`LinkCapability.ResolutionRequired`). */
  readonly resolutionRequired?: boolean;
  /** True while the stack delivers a packet it sent to itself (handleLocal), so it did not come from a link. */
  readonly deliveringLocally?: boolean;
  /**
   * Added for IPv6 (issue 3, optional): addresses the network protocol makes
   * itself (the link-local address, SLAAC addresses; tentative while DAD runs,
   * RFC 4862 §5.4) and removes (DAD conflict, valid lifetime over). The
   * stack's `NIC` has both.
   */
  addAddress?(netProto: NetworkProtocolNumber, address: Address, prefixLen: number, tentative: boolean): void;
  removeAddress?(address: Address): boolean;
}

/**
 * How ARP and NDP plug into the stack's neighbour cache: the endpoint that
 * resolves addresses of `resolvedProtocol` on a NIC (the ARP endpoint for
 * IPv4, the IPv6 endpoint itself for NDP) exposes one of these.
 */
export interface LinkAddressResolver {
  /** The network protocol whose addresses this resolves. */
  readonly resolvedProtocol: NetworkProtocolNumber;
  /**
   * Sends one resolution request for `target` (an ARP request, RFC 826; a
   * Neighbor Solicitation, RFC 4861 §7.2.2). `remoteLinkAddress` is set for a
   * unicast probe (PROBE state), undefined for broadcast/multicast.
   * `localAddress` is the preferred source address.
   */
  linkAddressRequest(
    target: Address,
    localAddress: Address | undefined,
    remoteLinkAddress: LinkAddress | undefined,
  ): void;
  /** Link addresses known without asking (broadcast, multicast), or undefined. */
  resolveStatic(addr: Address): LinkAddress | undefined;
  /** Called once when resolution of `addr` fails (for counters like `arp.resolutionFailures`). */
  resolutionFailed?(addr: Address): void;
}

/** RFC 4861 §7.3.2 neighbour states (ARP uses the same machine, like Linux and gVisor). */
export type NeighborState = "incomplete" | "reachable" | "stale" | "delay" | "probe" | "failed" | "static";

export interface NeighborEntry {
  readonly address: Address;
  readonly linkAddress: LinkAddress | undefined;
  readonly state: NeighborState;
  readonly isRouter: boolean;
}

/** Flags of a received reply/advertisement (RFC 4861 §4.4: R, S, O bits). */
export interface NeighborConfirmationFlags {
  solicited: boolean;
  override: boolean;
  isRouter: boolean;
}

/** The neighbour cache as ARP and NDP feed it (RFC 4861 §7.2.3–§7.2.5, §7.3.3). */
export interface NeighborTable {
  /**
   * A request/solicitation from `addr` carrying its link address: creates or
   * updates the entry as STALE (RFC 4861 §7.2.3).
   */
  handleProbe(addr: Address, linkAddress: LinkAddress): void;
  /** A reply/advertisement for `addr` (RFC 4861 §7.2.5). */
  handleConfirmation(
    addr: Address,
    linkAddress: LinkAddress | undefined,
    flags: NeighborConfirmationFlags,
  ): void;
  /** Forward progress seen by an upper layer (TCP ACKs, RFC 4861 §7.3.1): confirms reachability. */
  handleUpperLevelConfirmation(addr: Address): void;
  /** The entry for `addr`, if any. */
  entry(addr: Address): NeighborEntry | undefined;
  entries(): NeighborEntry[];
  /** A static entry that never expires (like `ip neigh add ... nud permanent`). */
  addStatic(addr: Address, linkAddress: LinkAddress): void;
  remove(addr: Address): boolean;
  clear(): void;
}

export type DeliveryResult = "delivered" | "unknownPort" | "unknownProtocol" | "malformed";

export interface NetworkEndpoint {
  readonly protocol: NetworkProtocolNumber;
  /** Handles an inbound packet from the link (`pkt.head` at the network header). */
  handlePacket(pkt: PacketBuffer): void;
  /** Bytes this protocol prepends (20 for IPv4 without options, 40 for IPv6). */
  readonly maxHeaderLength: number;
  /** Called when an address is added or removed (DAD, gratuitous ARP, joins solicited-node groups). */
  addressAdded?(addr: Address, prefixLen: number): void;
  addressRemoved?(addr: Address): void;
  /**
   * Sends a transport packet along `route` (`pkt.head` at the transport header):
   * adds the network header, fragments at the route MTU unless `dontFragment`,
   * resolves `route.nextHop` (queueing while ARP/NDP runs) and writes to the link.
   */
  writePacket(route: RouteInfo, pkt: PacketBuffer, params: NetworkHeaderParams): void;
  close?(): void;
  /** Set when this endpoint resolves link addresses for a network protocol on its NIC (ARP, NDP). */
  readonly linkAddressResolver?: LinkAddressResolver;
  /** Called when the NIC is enabled (after `createNIC` unless disabled, or `enableNIC`). */
  enable?(): void;
  /** Called when the NIC is disabled or removed. */
  disable?(): void;
  /** The NIC joined multicast `group` of this protocol for the first time (send IGMP/MLD reports). */
  groupJoined?(group: Address): void;
  /** The NIC's last membership of `group` ended. */
  groupLeft?(group: Address): void;
}

export interface NetworkProtocol {
  readonly number: NetworkProtocolNumber;
  readonly name: string;
  /** Address length in bytes (0 for ARP). */
  readonly addressLength: number;
  readonly minimumPacketSize: number;
  newEndpoint(nic: NicContext): NetworkEndpoint;
  /** Parses source and destination for hooks and demux; `undefined` if malformed. */
  parseAddresses(b: Uint8Array, off: number, len: number): { src: Address; dst: Address } | undefined;
  setOption?(name: string, value: unknown): void;
  option?(name: string): unknown;
  /** Default TTL / hop limit (64 when absent). */
  readonly defaultTtl?: number;
  /** Stops timers and drops state (used by `Stack.close`). */
  close?(): void;
}

/** How protocols are given to `new Stack(...)`: called once with the stack. */
export type NetworkProtocolFactory = (stack: StackContext) => NetworkProtocol;
export type TransportProtocolFactory = (stack: StackContext) => TransportProtocol;

/** The part of `waiter.Queue` an endpoint uses (the stack does not import `src/waiter`). */
export interface WaiterQueueLike {
  notify(mask: number): void;
}

/** What `read` and `peek` return. */
export interface ReadResult {
  data: Uint8Array;
  /** The sender, for datagram endpoints. */
  from?: FullAddress;
  control: ControlMessages;
}

/**
 * The public, non-blocking endpoint API (the seed's `tcpip.Endpoint`). Calls
 * that cannot complete now throw `ErrWouldBlock`; wait on the waiter queue.
 */
export interface Endpoint {
  read(maxBytes?: number): ReadResult;
  /**
   * Stream endpoints (TCP) may offer this: like `read`, but copies up to `dst.length` bytes into `dst`
   * and returns how many. Nothing is allocated and the stack reuses the memory the bytes were in, so a
   * reader with its own buffer moves bulk data without garbage (`read` hands out views it must leave).
   */
  readInto?(dst: Uint8Array): number;
  peek(maxBytes?: number): ReadResult;
  /** Returns the number of bytes accepted. */
  write(payload: Payload, opts?: WriteOptions): number;
  bind(addr: FullAddress): void;
  connect(addr: FullAddress): void;
  listen?(backlog: number): void;
  accept?(): { endpoint: Endpoint; waiterQueue: WaiterQueueLike };
  shutdown(flags: ShutdownFlags): void;
  close(): void;
  /** The subset of `mask` (waiter event bits) that is ready now. */
  readiness(mask: number): number;
  setSockOpt(name: SockOptName, value: unknown): void;
  getSockOpt(name: SockOptName): unknown;
  getLocalAddress(): FullAddress;
  getRemoteAddress(): FullAddress;
}

/** Made by transport protocols that serve `Stack.newEndpoint`. */
export interface EndpointFactory {
  newEndpoint(netProto: NetworkProtocolNumber, waiterQueue: WaiterQueueLike): Endpoint;
}

/** A multicast membership request (`AddMembership` / `RemoveMembership` option value). */
export interface MembershipRequest {
  /** The NIC to join on; 0 or absent picks one by `interfaceAddress` or by route. */
  nic?: NICID;
  interfaceAddress?: Address;
  multicastAddress: Address;
}

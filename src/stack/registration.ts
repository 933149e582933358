/**
 * The contracts between the stack and the protocols it is built from. The
 * stack never imports a concrete protocol: IPv4, IPv6, ARP, TCP, UDP and ping
 * register through these interfaces (gVisor keeps them in one file too).
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import type { Address } from "../tcpip/address.ts";
import type { Clock } from "../tcpip/clock.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { NetworkProtocolNumber, NICID, TransportProtocolNumber } from "../tcpip/protocols.ts";
import type { Random } from "../tcpip/random.ts";
import type { Stats } from "../tcpip/stats.ts";

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
  tos: number;
  /** IPv4 DF bit / no fragmentation (PMTUD). Default false. */
  dontFragment?: boolean;
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
  releasePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): void;
  /** Whether `addr` is assigned to `nic` (or to any NIC when `nic` is 0). */
  hasAddress(nic: NICID, addr: Address): boolean;
  /** Stack-wide options of a transport protocol (like Linux's sysctls). */
  transportOptions(proto: TransportProtocolNumber): Record<string, unknown>;
}

export interface PortFlags {
  reuseAddress?: boolean;
  reusePort?: boolean;
}

/** An inbound packet delivered to a transport endpoint (`pkt.head` at the transport header). */
export interface TransportPacketInfo {
  nic: NICID;
  netProto: NetworkProtocolNumber;
  src: Address;
  dst: Address;
  /** TTL / hop limit as received. */
  ttl: number;
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
  /** Reads source and destination ports; `undefined` if the packet is too short. */
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
  /** Runs packet hooks; returns false when a hook says drop. */
  runHook(
    kind: "inbound" | "outbound" | "forwarded",
    netProto: NetworkProtocolNumber,
    pkt: PacketBuffer,
  ): boolean;
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
}

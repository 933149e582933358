/**
 * What UDP and ping endpoints share: binding and connecting through the
 * stack's port manager and demux, a receive queue bounded in bytes, sender
 * addresses, dual-stack address mapping (an IPv6 endpoint reaches IPv4 peers
 * as ::ffff:a.b.c.d unless V6Only, RFC 4291 §2.5.5.2), soft errors from ICMP,
 * socket options and readiness through a waiter queue.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import type {
  ControlType,
  Endpoint,
  MembershipRequest,
  ReadResult,
  Route,
  StackContext,
  TransportEndpoint,
  TransportEndpointId,
  TransportPacketInfo,
  WaiterQueueLike,
} from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import {
  ErrAddressFamilyNotSupported,
  ErrBadLocalAddress,
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionRefused,
  ErrDestinationRequired,
  ErrHostUnreachable,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrMessageTooLong,
  ErrNetworkUnreachable,
  ErrNoLinkAddress,
  ErrNotConnected,
  ErrUnknownNICID,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
  TcpipError,
} from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt, type SockOptName } from "../../tcpip/options.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  type NICID,
  ShutdownFlags,
  type TransportProtocolNumber,
} from "../../tcpip/protocols.ts";
import type { ControlMessages, Payload, WriteOptions } from "../../tcpip/write-options.ts";
import { payloadBytes } from "../../tcpip/write-options.ts";
import { EventErr, EventHUp, EventIn, EventOut } from "../../waiter/waiter.ts";
import { ReceiveQueue } from "../queue/receive-queue.ts";

/** Sending to a broadcast address needs the Broadcast option (Linux EACCES; gVisor's ErrBroadcastDisabled). */
export class ErrBroadcastDisabled extends TcpipError {
  override name = "ErrBroadcastDisabled";
  constructor() {
    super("broadcast socket option disabled");
  }
}

/** Linux's default `net.core.rmem_default` / `wmem_default`. */
export const DEFAULT_BUFFER_SIZE = 212_992;
const MIN_BUFFER_SIZE = 4_096;
const MAX_BUFFER_SIZE = 16 << 20;

interface Datagram {
  data: Uint8Array;
  from: FullAddress;
  timestamp: number;
}

type State = "initial" | "bound" | "connected" | "closed";

export abstract class DatagramEndpoint implements Endpoint, TransportEndpoint {
  protected state: State = "initial";
  protected v6only = false;
  protected boundNic: NICID = 0;
  /** The bound address as given (undefined: any). */
  protected boundAddr: Address | undefined;
  protected localPort = 0;
  protected reservedNetProtos: NetworkProtocolNumber[] = [];
  protected reservedAddr: Address | undefined;
  protected registeredNetProtos: NetworkProtocolNumber[] = [];
  protected registeredId: TransportEndpointId | undefined;
  protected route: Route | undefined;
  protected remote: FullAddress | undefined;
  private readonly queue = new ReceiveQueue<Datagram>(DEFAULT_BUFFER_SIZE);
  protected sndBufSize = DEFAULT_BUFFER_SIZE;
  private softError: TcpipError | undefined;
  private shut = 0;
  protected reuseAddress = false;
  protected reusePort = false;
  protected broadcast = false;
  protected ttl = 0;
  protected multicastTtl = 1;
  protected tos = 0;
  protected timestamps = false;
  private memberships: { nic: NICID; netProto: NetworkProtocolNumber; group: Address }[] = [];

  constructor(
    protected readonly stack: StackContext,
    /** The endpoint's family: IPv4 or IPv6 (which may carry IPv4 through mapped addresses). */
    readonly netProto: NetworkProtocolNumber,
    protected readonly transProto: TransportProtocolNumber,
    protected readonly waiterQueue: WaiterQueueLike,
  ) {}

  // ---- what UDP and ping differ in ----

  /**
   * Validates an inbound packet (trimming it to its own length); returns how
   * many bytes at `pkt.head` precede the data to queue, or -1 to drop it (counted).
   */
  protected abstract parseInbound(pkt: PacketBuffer, info: TransportPacketInfo): number;
  /** Builds the transport packet for `data` along `route`. */
  protected abstract buildPacket(route: Route, data: Uint8Array, remotePort: number): PacketBuffer;
  /** Largest payload this protocol can carry (before IP fragmentation limits). */
  protected abstract maxPayload(netProto: NetworkProtocolNumber): number;
  protected abstract countSent(): void;
  protected abstract countReceived(): void;
  protected abstract countReceiveBufferError(): void;
  /** Checks a destination port before a write (UDP refuses port 0). */
  protected checkRemotePort(_port: number): void {}

  // ---- addresses ----

  /** The network protocol and address to use on the wire for `a` (mapped IPv4 → IPv4). */
  protected wireAddress(a: Address): { netProto: NetworkProtocolNumber; addr: Address } {
    if (this.netProto === IPV4_PROTOCOL_NUMBER) {
      if (!a.is4) throw new ErrAddressFamilyNotSupported();
      return { netProto: IPV4_PROTOCOL_NUMBER, addr: a };
    }
    const v4 = a.to4();
    if (v4) {
      if (this.v6only) throw new ErrNetworkUnreachable();
      return { netProto: IPV4_PROTOCOL_NUMBER, addr: v4 };
    }
    return { netProto: IPV6_PROTOCOL_NUMBER, addr: a };
  }

  /** How an address is shown to the user: IPv4 as mapped on IPv6 endpoints. */
  protected userAddress(a: Address): Address {
    return this.netProto === IPV6_PROTOCOL_NUMBER && a.is4 ? a.toV4Mapped() : a;
  }

  private flags() {
    return { reuseAddress: this.reuseAddress, reusePort: this.reusePort };
  }

  // ---- bind / connect ----

  bind(addr: FullAddress): void {
    if (this.state !== "initial") throw new ErrInvalidEndpointState();
    const nic = addr.nic ?? 0;
    if (nic !== 0 && !this.stack.hasNIC?.(nic)) throw new ErrUnknownNICID();
    let netProtos: NetworkProtocolNumber[];
    let local: Address | undefined;
    if (!addr.addr || addr.addr.isUnspecified) {
      if (this.netProto === IPV4_PROTOCOL_NUMBER || addr.addr?.is4) netProtos = [IPV4_PROTOCOL_NUMBER];
      else if (this.v6only) netProtos = [IPV6_PROTOCOL_NUMBER];
      // Dual-stack: an IPv6 endpoint bound to :: receives IPv4 too.
      else netProtos = [IPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER];
    } else {
      const w = this.wireAddress(addr.addr);
      if (!w.addr.isMulticast && !w.addr.isBroadcast && !this.stack.hasAddress(nic, w.addr)) {
        throw new ErrBadLocalAddress();
      }
      local = w.addr;
      netProtos = [w.netProto];
    }
    const flags = this.flags();
    const port = this.stack.reservePort(netProtos, this.transProto, local, addr.port, flags);
    const id: TransportEndpointId = {
      localPort: port,
      localAddress: local,
      remotePort: 0,
      remoteAddress: undefined,
    };
    try {
      this.stack.registerTransportEndpoint(nic, netProtos, this.transProto, id, this, flags);
    } catch (e) {
      this.stack.releasePort(netProtos, this.transProto, local, port, flags);
      throw e;
    }
    this.boundNic = nic;
    this.boundAddr = local;
    this.localPort = port;
    this.reservedNetProtos = netProtos;
    this.reservedAddr = local;
    this.registeredNetProtos = netProtos;
    this.registeredId = id;
    this.state = "bound";
  }

  connect(addr: FullAddress): void {
    if (this.state === "closed") throw new ErrInvalidEndpointState();
    if (!addr.addr) {
      // Connecting to no address dissolves the association (like AF_UNSPEC).
      if (this.state === "connected") this.disconnect();
      return;
    }
    const w = this.wireAddress(addr.addr);
    if (this.state !== "initial" && !this.reservedNetProtos.includes(w.netProto))
      throw new ErrNetworkUnreachable();
    this.checkRemotePort(addr.port);
    const nic = this.boundNic || addr.nic || 0;
    const route = this.stack.findRoute(nic, this.boundAddr, w.addr, w.netProto);
    if (w.addr.isBroadcast && !this.broadcast) throw new ErrBroadcastDisabled();
    const flags = this.flags();
    if (this.state === "initial") {
      this.localPort = this.stack.reservePort([w.netProto], this.transProto, undefined, 0, flags);
      this.reservedNetProtos = [w.netProto];
      this.reservedAddr = undefined;
    } else {
      this.unregister();
    }
    const id: TransportEndpointId = {
      localPort: this.localPort,
      localAddress: route.localAddress,
      remotePort: addr.port,
      remoteAddress: w.addr,
    };
    this.stack.registerTransportEndpoint(nic, [w.netProto], this.transProto, id, this, flags);
    this.registeredNetProtos = [w.netProto];
    this.registeredId = id;
    this.route = route;
    this.remote = { addr: this.userAddress(w.addr), port: addr.port };
    if (addr.nic) this.remote.nic = addr.nic;
    this.state = "connected";
  }

  /** Routes changed since connect: look the path up again (Linux re-validates its dst cache per send). */
  private refreshRoute(): void {
    const old = this.route!;
    const nic = this.boundNic || this.remote?.nic || 0;
    const fresh = this.stack.findRoute(nic, old.localAddress, old.remoteAddress, old.netProto);
    old.release();
    this.route = fresh;
  }

  private disconnect(): void {
    this.unregister();
    this.route?.release();
    this.route = undefined;
    this.remote = undefined;
    const id: TransportEndpointId = {
      localPort: this.localPort,
      localAddress: this.boundAddr,
      remotePort: 0,
      remoteAddress: undefined,
    };
    this.stack.registerTransportEndpoint(
      this.boundNic,
      this.reservedNetProtos,
      this.transProto,
      id,
      this,
      this.flags(),
    );
    this.registeredNetProtos = this.reservedNetProtos;
    this.registeredId = id;
    this.state = "bound";
  }

  private unregister(): void {
    if (!this.registeredId) return;
    this.stack.unregisterTransportEndpoint(
      this.boundNic,
      this.registeredNetProtos,
      this.transProto,
      this.registeredId,
      this,
    );
    this.registeredId = undefined;
  }

  // ---- write ----

  write(payload: Payload, opts: WriteOptions = {}): number {
    if (this.state === "closed") throw new ErrClosedForSend();
    if (this.shut & ShutdownFlags.Write) throw new ErrClosedForSend();
    this.throwSoftError();
    const to = opts.to;
    let route: Route;
    let remotePort: number;
    if (to?.addr) {
      const w = this.wireAddress(to.addr);
      this.checkRemotePort(to.port);
      if (this.state === "initial") this.bind({ port: 0 });
      if (!this.reservedNetProtos.includes(w.netProto)) throw new ErrNetworkUnreachable();
      if (this.state === "connected" && this.route?.remoteAddress.equals(w.addr)) {
        route = this.route;
      } else {
        route = this.stack.findRoute(this.boundNic || to.nic || 0, this.boundAddr, w.addr, w.netProto);
      }
      remotePort = to.port;
    } else {
      if (this.state !== "connected" || !this.route || !this.remote) throw new ErrDestinationRequired();
      if (this.route.stale) this.refreshRoute();
      route = this.route;
      remotePort = this.remote.port;
    }
    const data = payloadBytes(payload);
    if (data.length > this.maxPayload(route.netProto) || data.length > this.sndBufSize) {
      throw new ErrMessageTooLong();
    }
    if (route.remoteAddress.isBroadcast && !this.broadcast) throw new ErrBroadcastDisabled();
    const pkt = this.buildPacket(route, data, remotePort);
    const ttl = route.remoteAddress.isMulticast ? this.multicastTtl : this.ttl || route.defaultTtl;
    route.writePacket(pkt, { protocol: this.transProto, ttl, tos: this.tos });
    this.countSent();
    return data.length;
  }

  // ---- inbound ----

  handlePacket(id: TransportEndpointId, pkt: PacketBuffer, info: TransportPacketInfo): void {
    if (this.state === "closed" || this.shut & ShutdownFlags.Read) return;
    const skip = this.parseInbound(pkt, info);
    if (skip < 0) return;
    const off = pkt.head + skip;
    const len = pkt.size - skip;
    // Like Linux's sk_rcvbuf check: a datagram is dropped when the queue already holds the buffer's worth.
    if (this.queue.full) {
      this.countReceiveBufferError();
      return;
    }
    this.queue.push(
      {
        data: pkt.data.slice(off, off + len),
        from: { nic: info.nic, addr: this.userAddress(info.src), port: id.remotePort },
        timestamp: this.stack.clock.wallNow(),
      },
      len,
    );
    this.countReceived();
    this.waiterQueue.notify(EventIn);
  }

  handleControlPacket(
    _id: TransportEndpointId,
    type: ControlType,
    _extra: number,
    _info: TransportPacketInfo,
  ): void {
    const err = controlError(type);
    if (!err) return;
    // Linux reports ICMP errors only on connected datagram sockets (without IP_RECVERR);
    // a failed neighbour resolution is local knowledge and is reported either way.
    if (this.state !== "connected" && type !== "linkAddressUnresolved") return;
    this.softError = err;
    this.waiterQueue.notify(EventErr | EventIn | EventOut);
  }

  private throwSoftError(): void {
    const e = this.softError;
    if (!e) return;
    this.softError = undefined;
    throw e;
  }

  // ---- read ----

  read(maxBytes?: number): ReadResult {
    return this.take(maxBytes, false);
  }

  peek(maxBytes?: number): ReadResult {
    return this.take(maxBytes, true);
  }

  private take(maxBytes: number | undefined, peek: boolean): ReadResult {
    const d = peek ? this.queue.peek() : this.queue.shift();
    if (!d) {
      this.throwSoftError();
      if (this.state === "closed" || this.shut & ShutdownFlags.Read) throw new ErrClosedForReceive();
      throw new ErrWouldBlock();
    }
    const truncated = maxBytes !== undefined && maxBytes < d.data.length;
    const control: ControlMessages = {};
    if (this.timestamps) control.timestamp = d.timestamp;
    if (truncated) control.truncated = true;
    // A shifted datagram is the caller's now; a peeked one stays queued, so its sender is copied.
    return {
      data: truncated ? d.data.subarray(0, maxBytes) : d.data,
      from: peek ? { ...d.from } : d.from,
      control,
    };
  }

  private get queued(): number {
    return this.queue.length;
  }

  readiness(mask: number): number {
    let r = 0;
    if (this.queued > 0 || this.shut & ShutdownFlags.Read || this.state === "closed") r |= EventIn;
    if (!(this.shut & ShutdownFlags.Write) && this.state !== "closed") r |= EventOut;
    if (this.softError) r |= EventErr;
    if (this.state === "closed") r |= EventHUp;
    return r & mask;
  }

  shutdown(flags: number): void {
    if (this.state !== "connected") throw new ErrNotConnected();
    this.shut |= flags;
    if (flags & ShutdownFlags.Read) this.waiterQueue.notify(EventIn);
    if (flags & ShutdownFlags.Write) this.waiterQueue.notify(EventOut);
  }

  close(): void {
    if (this.state === "closed") return;
    this.unregister();
    if (this.localPort !== 0 && this.reservedNetProtos.length > 0) {
      this.stack.releasePort(
        this.reservedNetProtos,
        this.transProto,
        this.reservedAddr,
        this.localPort,
        this.flags(),
      );
    }
    for (const m of this.memberships) {
      try {
        this.stack.leaveGroup?.(m.nic, m.netProto, m.group);
      } catch {
        // The NIC may be gone already.
      }
    }
    this.memberships = [];
    this.route?.release();
    this.route = undefined;
    this.queue.clear();
    this.state = "closed";
    this.waiterQueue.notify(EventHUp | EventIn | EventOut);
  }

  getLocalAddress(): FullAddress {
    const a: FullAddress = { port: this.localPort };
    const addr = this.route?.localAddress ?? this.boundAddr;
    if (addr) a.addr = this.userAddress(addr);
    if (this.boundNic) a.nic = this.boundNic;
    return a;
  }

  getRemoteAddress(): FullAddress {
    if (this.state !== "connected" || !this.remote) throw new ErrNotConnected();
    return { ...this.remote };
  }

  // ---- options ----

  setSockOpt(name: SockOptName, value: unknown): void {
    switch (name) {
      case SockOpt.ReceiveBufferSize:
        this.queue.limitBytes = bufferSize(value);
        return;
      case SockOpt.SendBufferSize:
        this.sndBufSize = bufferSize(value);
        return;
      case SockOpt.ReuseAddress:
        this.reuseAddress = !!value;
        return;
      case SockOpt.ReusePort:
        this.reusePort = !!value;
        return;
      case SockOpt.V6Only:
        if (this.netProto !== IPV6_PROTOCOL_NUMBER) throw new ErrUnknownProtocolOption();
        if (this.state !== "initial") throw new ErrInvalidEndpointState();
        this.v6only = !!value;
        return;
      case SockOpt.Timestamp:
        this.timestamps = !!value;
        return;
      case SockOpt.Broadcast:
        this.broadcast = !!value;
        return;
      case SockOpt.TTL:
        this.ttl = byteOption(value, 0);
        return;
      case SockOpt.MulticastTTL:
        this.multicastTtl = byteOption(value, 0);
        return;
      case SockOpt.AddMembership:
        this.join(value as MembershipRequest);
        return;
      case SockOpt.RemoveMembership:
        this.leave(value as MembershipRequest);
        return;
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  getSockOpt(name: SockOptName): unknown {
    switch (name) {
      case SockOpt.ReceiveBufferSize:
        return this.queue.limitBytes;
      case SockOpt.SendBufferSize:
        return this.sndBufSize;
      case SockOpt.ReceiveQueueSize:
        // Like FIONREAD on a datagram socket: the size of the next datagram.
        return this.queue.peekSize();
      case SockOpt.SendQueueSize:
        // Datagrams are handed to the network layer at once.
        return 0;
      case SockOpt.ReuseAddress:
        return this.reuseAddress;
      case SockOpt.ReusePort:
        return this.reusePort;
      case SockOpt.V6Only:
        if (this.netProto !== IPV6_PROTOCOL_NUMBER) throw new ErrUnknownProtocolOption();
        return this.v6only;
      case SockOpt.Timestamp:
        return this.timestamps;
      case SockOpt.Broadcast:
        return this.broadcast;
      case SockOpt.TTL:
        return this.ttl;
      case SockOpt.MulticastTTL:
        return this.multicastTtl;
      case SockOpt.Error: {
        const e = this.softError;
        this.softError = undefined;
        return e;
      }
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  private membershipTarget(req: MembershipRequest): {
    nic: NICID;
    netProto: NetworkProtocolNumber;
    group: Address;
  } {
    if (!req || !(req.multicastAddress instanceof Address)) throw new ErrInvalidOptionValue();
    const w = this.wireAddress(req.multicastAddress);
    if (!w.addr.isMulticast) throw new ErrInvalidOptionValue();
    let nic = req.nic ?? 0;
    if (nic === 0 && req.interfaceAddress && !req.interfaceAddress.isUnspecified) {
      nic = this.stack.nicForAddress?.(this.wireAddress(req.interfaceAddress).addr) ?? 0;
      if (nic === 0) throw new ErrBadLocalAddress();
    }
    if (nic === 0) nic = this.stack.findRoute(0, undefined, w.addr, w.netProto).nic;
    return { nic, netProto: w.netProto, group: w.addr };
  }

  private join(req: MembershipRequest): void {
    const m = this.membershipTarget(req);
    if (this.memberships.some((x) => x.nic === m.nic && x.group.equals(m.group)))
      throw new ErrInvalidOptionValue();
    this.stack.joinGroup?.(m.nic, m.netProto, m.group);
    this.memberships.push(m);
  }

  private leave(req: MembershipRequest): void {
    const m = this.membershipTarget(req);
    const i = this.memberships.findIndex((x) => x.nic === m.nic && x.group.equals(m.group));
    if (i === -1) throw new ErrBadLocalAddress();
    this.memberships.splice(i, 1);
    this.stack.leaveGroup?.(m.nic, m.netProto, m.group);
  }
}

function bufferSize(v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ErrInvalidOptionValue();
  return Math.min(MAX_BUFFER_SIZE, Math.max(MIN_BUFFER_SIZE, Math.floor(v)));
}

function byteOption(v: unknown, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > 255) throw new ErrInvalidOptionValue();
  return v as number;
}

/** How an ICMP error reads at the API (Linux `icmp_err_convert`: only fatal errors, RFC 1122 §4.1.3.3). */
function controlError(type: ControlType): TcpipError | undefined {
  switch (type) {
    case "portUnreachable":
    case "protocolUnreachable":
      return new ErrConnectionRefused();
    case "hostUnreachable":
      return new ErrHostUnreachable();
    case "networkUnreachable":
      return new ErrNetworkUnreachable();
    case "linkAddressUnresolved":
      return new ErrNoLinkAddress();
    default:
      // Time exceeded and packet too big are not fatal for datagram sockets (Linux reports them only
      // with IP_RECVERR).
      return undefined;
  }
}

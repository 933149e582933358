/**
 * A TCP endpoint: the user API of the seed's `tcp.endpoint` (non-blocking
 * connect, bind, listen, accept, read, peek, write, shutdown, close,
 * readiness, socket options) over the connection state kept in `SendState`
 * and `ReceiveState`. Segment arrival is dispatched per state in `input.ts`.
 *
 * Read RFC 9293 (the protocol), RFC 7323 (window scale, timestamps, PAWS),
 * RFC 2018/2883 (SACK, D-SACK), RFC 5681/6582 (congestion control), RFC 6298
 * (RTO), RFC 5961 (blind attacks) and RFC 6528 (ISNs) alongside this code.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_RST, TCP_SYN } from "../../header/tcp.ts";
import { LinkCapability } from "../../link/link-endpoint.ts";
import { seqAdd, seqSize, seqSub } from "../../seqnum/seqnum.ts";
import type {
  ControlType,
  Endpoint,
  PortFlags,
  Route,
  StackContext,
  TransportEndpoint,
  TransportEndpointId,
  TransportPacketInfo,
} from "../../stack/registration.ts";
import type { Address } from "../../tcpip/address.ts";
import {
  ErrAddressFamilyNotSupported,
  ErrAlreadyBound,
  ErrAlreadyConnected,
  ErrAlreadyConnecting,
  ErrBadAddress,
  ErrBadLocalAddress,
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionAborted,
  ErrConnectionRefused,
  ErrConnectStarted,
  ErrHostUnreachable,
  ErrInvalidEndpointState,
  ErrNetworkUnreachable,
  ErrNoLinkAddress,
  ErrNotConnected,
  ErrPortInUse,
  ErrTimeout,
  ErrWouldBlock,
  type TcpipError,
} from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import type { TcpInfo } from "../../tcpip/options.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  ShutdownFlags,
  TCP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import type { ControlMessages, Payload, WriteOptions } from "../../tcpip/write-options.ts";
import { payloadBytes } from "../../tcpip/write-options.ts";
import { Queue } from "../../waiter/waiter.ts";
import { BufferAutoTune, expandSendBuffer, onApplicationRead } from "./buffer-autotune.ts";
import { newCongestionControl } from "./congestion-controls.ts";
import { IP_ECN_ECT0, IP_ECN_MASK, synEcnFlags } from "./ecn.ts";
import { EventErr, EventHUp, EventIn, EventOut, type Notifier } from "./events.ts";
import { dispatchSegment } from "./input.ts";
import { onKeepaliveTimer } from "./keepalive.ts";
import { synOptions } from "./options.ts";
import { type OutSegment, writeSegment } from "./output.ts";
import type { TcpProtocol } from "./protocol.ts";
import type { TcpStackOptions } from "./protocol-options.ts";
import { windowScaleFor } from "./protocol-options.ts";
import { ReceiveState } from "./rcv.ts";
import { stopRecoveryTimers } from "./recovery.ts";
import { RttEstimator } from "./rtt.ts";
import { parseSegment, releaseSegment } from "./segment.ts";
import { onPersistTimeout, onRetransmitTimeout, SendState, trySend } from "./snd.ts";
import { getOption, setOption, tcpInfo } from "./sockopts.ts";
import { canSendData, isSynchronized, sendRuns, type TcpState } from "./state.ts";
import { EndpointTimer } from "./timers.ts";

/** Bytes of the timestamps option on every segment once negotiated (NOP, NOP, kind 8, length 10). */
export const TS_OPTION_SPACE = 12;

/** Linux's tcp_invalid_ratelimit default. */
const OOW_ACK_INTERVAL_MS = 500;

export interface ReadResult {
  data: Uint8Array;
  control: ControlMessages;
}

const NO_ADDRESS: TransportEndpointId = {
  localPort: 0,
  localAddress: undefined,
  remotePort: 0,
  remoteAddress: undefined,
};

/**
 * The data and ACK segments an endpoint sends, filled in per segment: `writeSegment` reads it before it
 * returns and keeps nothing (issue 10: no object per segment). Its payload reference is dropped after.
 */
const outSegment: OutSegment = {
  srcPort: 0,
  dstPort: 0,
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  options: undefined,
  data: undefined,
  from: 0,
  len: 0,
  gsoSize: 0,
};

/** A stream read carries no control messages: one shared, frozen object (no allocation per read, issue 10). */
const NO_CONTROL: ControlMessages = Object.freeze({});

export class TcpEndpoint implements TransportEndpoint, Endpoint {
  state: TcpState = "CLOSED";
  readonly opts: TcpStackOptions;
  readonly snd: SendState;
  readonly rcv: ReceiveState;
  /** Receive-buffer right-sizing and send-buffer auto-sizing (buffer-autotune.ts). */
  readonly autoTune = new BufferAutoTune();
  /** The 4-tuple we are registered (or about to be) with. */
  id: TransportEndpointId = { ...NO_ADDRESS };
  /** The network protocols the endpoint is registered for (both for a dual-stack listener). */
  netProtos: NetworkProtocolNumber[];
  nic = 0;
  route: Route | undefined;
  private registered = false;
  /** Whether this endpoint holds a port reservation it must release. */
  private portReserved = false;
  bound = false;

  /** A fatal error (reset, refused, timeout) that read and write report once the queue is drained. */
  hardError: TcpipError | undefined;
  /** The error `getSockOpt("Error")` returns once (like SO_ERROR). */
  private pendingError: TcpipError | undefined;
  /** The user called close(): the connection lives on only to finish (orphan). */
  closedByUser = false;
  sndShutdown = false;
  rcvShutdown = false;
  private everConnected = false;
  /** Whether the peer's FIN was acted on (state moved). */
  finNoted = false;
  /** close() in SYN-RECEIVED: send FIN as soon as the handshake completes (RFC 9293 §3.10.4). */
  finAfterHandshake = false;

  // Socket options.
  noDelay = false;
  cork = false;
  keepalive = false;
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveCount: number;
  userTimeout = 0;
  userMss = 0;
  reuseAddress = false;
  reusePort = false;
  v6only = false;
  ttl = 0;
  tos = 0;
  /** SO_LINGER seconds; -1 off, 0 abortive close. */
  linger = -1;
  /** The `Ecn` socket option (0, 1, 2 as the stack's `ecn`); undefined: the stack's. */
  ecnMode: number | undefined = undefined;
  /** ECN is in use: both sides agreed in the handshake (RFC 3168 §6.1.1; ecn.ts). */
  ecn = false;
  /** Our last SYN was ECN-setup (ECE and CWR). */
  ecnRequested = false;
  /** RFC 3168 §6.1.3: a CE-marked data segment arrived and no CWR since: every segment we send carries ECE. */
  eceDemand = false;

  // Listener state.
  backlog = 0;
  // Created on first use (only listeners have them): an idle connection carries no empty queues.
  private acceptQ: TcpEndpoint[] | undefined;
  private synQ: Set<TcpEndpoint> | undefined;
  /** Established children waiting for accept() (the accept queue). */
  get acceptQueue(): TcpEndpoint[] {
    if (this.acceptQ === undefined) this.acceptQ = [];
    return this.acceptQ;
  }
  /** Children in SYN-RECEIVED (the SYN queue). */
  get synQueue(): Set<TcpEndpoint> {
    if (this.synQ === undefined) this.synQ = new Set();
    return this.synQ;
  }
  /** The listener this connection came from, until accepted. */
  listener: TcpEndpoint | undefined;
  /** An ISN to use instead of the RFC 6528 one (TIME-WAIT reuse, RFC 6191). */
  isnHint: number | undefined;

  /** Our timestamp clock's offset (RFC 7323 §5.4). */
  tsOffset = 0;
  lastRcvTime = 0;
  keepaliveProbes = 0;
  private lastOowAck = Number.NEGATIVE_INFINITY;
  /** Entries of this endpoint in the link's batch-end list (`outputAfterBatch`, `notify`); 0 when not queued. */
  private outputDeferred = 0;

  // The four timers are made on first use (an idle connection never needs the cork or, without
  // keepalive, the state timer); stopping one that was never made does nothing.
  private rtxT: EndpointTimer | undefined;
  private ackT: EndpointTimer | undefined;
  private stateT: EndpointTimer | undefined;
  private corkT: EndpointTimer | undefined;
  /** RTO and persist share one timer: only one can be needed at a time. */
  get rtxTimer(): EndpointTimer {
    if (this.rtxT === undefined)
      this.rtxT = new EndpointTimer(this.stack.clock, () => this.onRtxTimer(), this);
    return this.rtxT;
  }
  rtxMode: "rto" | "persist" | "handshake" = "rto";
  get ackTimer(): EndpointTimer {
    if (this.ackT === undefined)
      this.ackT = new EndpointTimer(this.stack.clock, () => this.onAckTimer(), this);
    return this.ackT;
  }
  /** Keepalive, FIN-WAIT-2 timeout and TIME-WAIT (2MSL). */
  get stateTimer(): EndpointTimer {
    if (this.stateT === undefined)
      this.stateT = new EndpointTimer(this.stack.clock, () => this.onStateTimer(), this);
    return this.stateT;
  }
  /** Ends a cork after 200 ms. */
  get corkTimer(): EndpointTimer {
    if (this.corkT === undefined)
      this.corkT = new EndpointTimer(this.stack.clock, () => this.onCorkTimer(), this);
    return this.corkT;
  }
  private readonly sackScratch: number[] = [];
  private readonly tsOptions = { timestamp: true, tsVal: 0, tsEcr: 0, sackBlocks: this.sackScratch };
  private readonly sackOptions = { sackBlocks: this.sackScratch };

  constructor(
    readonly stack: StackContext,
    readonly proto: TcpProtocol,
    /** The socket's family: IPv6 endpoints are dual-stack unless V6Only. */
    readonly netProto: NetworkProtocolNumber,
    public waiterQueue: Notifier,
  ) {
    const o = proto.options;
    this.opts = o;
    this.netProtos = [netProto];
    this.keepaliveIdleMs = o.keepaliveIdleMs;
    this.keepaliveIntervalMs = o.keepaliveIntervalMs;
    this.keepaliveCount = o.keepaliveCount;
    const rtt = new RttEstimator(o);
    this.snd = new SendState(
      o.sendBufferSize.default,
      rtt,
      newCongestionControl(o.congestionControl, 536, o.initialWindowSegments),
    );
    this.rcv = new ReceiveState(o.receiveBufferSize.default);
  }

  // ---------------------------------------------------------------- clocks

  /** The stack's time, read once per link batch (`StackContext.batchNow`: issue 10, ~10 clock reads per segment). */
  now(): number {
    const s = this.stack;
    return s.batchNow !== undefined ? s.batchNow() : s.clock.now();
  }

  /** Our TSval: a 1 ms clock plus a per-connection offset (RFC 7323 §5.4). */
  tsNow(): number {
    return (Math.floor(this.now()) + this.tsOffset) >>> 0;
  }

  // ---------------------------------------------------------------- user API

  bind(addr: FullAddress): void {
    if (this.state !== "CLOSED" || this.closedByUser) throw new ErrInvalidEndpointState();
    if (this.bound) throw new ErrAlreadyBound();
    const { netProtos, address } = this.familyFor(addr.addr, true);
    if (address && !address.isUnspecified && !this.stack.hasAddress(addr.nic ?? 0, address)) {
      throw new ErrBadLocalAddress();
    }
    const local = address && !address.isUnspecified ? address : undefined;
    const port = this.stack.reservePort(netProtos, TCP_PROTOCOL_NUMBER, local, addr.port, this.portFlags());
    this.portReserved = true;
    this.bound = true;
    this.netProtos = netProtos;
    this.nic = addr.nic ?? 0;
    this.id = { localPort: port, localAddress: local, remotePort: 0, remoteAddress: undefined };
  }

  /** Starts a connection; always throws: `ErrConnectStarted` on success (completion via EventOut and the Error option). */
  connect(addr: FullAddress): void {
    switch (this.state) {
      case "SYN-SENT":
      case "SYN-RECEIVED":
        throw new ErrAlreadyConnecting();
      case "CLOSED":
        break;
      case "LISTEN":
        throw new ErrInvalidEndpointState();
      default:
        throw new ErrAlreadyConnected();
    }
    if (this.closedByUser || this.everConnected) throw new ErrInvalidEndpointState();
    if (!addr.addr || addr.port === 0) throw new ErrBadAddress();
    this.hardError = undefined;
    this.pendingError = undefined;
    const { netProtos, address: remote } = this.familyFor(addr.addr, false);
    const netProto = netProtos[0]!;
    if (this.bound && this.id.localAddress && this.id.localAddress.length !== remote!.length) {
      throw new ErrAddressFamilyNotSupported();
    }
    const route = this.stack.findRoute(addr.nic ?? this.nic, this.id.localAddress, remote!, netProto);
    const flags = this.portFlags();
    let port = this.id.localPort;
    if (!this.bound) {
      port = this.stack.reservePort([netProto], TCP_PROTOCOL_NUMBER, route.localAddress, 0, flags, {
        addr: remote!,
        port: addr.port,
      });
      this.portReserved = true;
    }
    const id: TransportEndpointId = {
      localPort: port,
      localAddress: route.localAddress,
      remotePort: addr.port,
      remoteAddress: remote,
    };
    // One connection per 4-tuple, whatever the port flags let the demuxer share. RFC 6191 / Linux
    // tcp_tw_reuse: a connection in TIME-WAIT on it is replaced by the new one, whose ISN is higher.
    const old = this.proto.connectionFor(id);
    if (old && old.state !== "TIME-WAIT") {
      route.release();
      if (!this.bound) this.releasePort();
      throw new ErrPortInUse();
    }
    if (old) {
      this.isnHint = seqAdd(old.snd.max, 65535 + 2);
      old.cleanup();
    }
    try {
      this.register(route.nic, [netProto], id);
    } catch (e) {
      route.release();
      if (!this.bound) this.releasePort();
      throw e;
    }
    this.route = route;
    this.netProtos = [netProto];
    this.nic = route.nic;
    this.startActiveOpen();
    throw new ErrConnectStarted();
  }

  listen(backlog: number): void {
    if (this.state === "LISTEN") {
      this.backlog = Math.max(1, backlog | 0);
      return;
    }
    if (this.state !== "CLOSED" || this.closedByUser || this.everConnected)
      throw new ErrInvalidEndpointState();
    if (!this.bound) this.bind({ port: 0 });
    this.register(this.nic, this.netProtos, {
      localPort: this.id.localPort,
      localAddress: this.id.localAddress,
      remotePort: 0,
      remoteAddress: undefined,
    });
    this.backlog = Math.max(1, backlog | 0);
    this.setState("LISTEN");
    this.proto.addListener(this);
  }

  accept(): { endpoint: TcpEndpoint; waiterQueue: Queue } {
    if (this.state !== "LISTEN") throw new ErrInvalidEndpointState();
    const child = this.acceptQueue.shift();
    if (!child) throw new ErrWouldBlock();
    child.listener = undefined;
    const q = new Queue();
    child.waiterQueue = q;
    return { endpoint: child, waiterQueue: q };
  }

  read(maxBytes = Number.POSITIVE_INFINITY): ReadResult {
    const data = this.readOrPeek(maxBytes, false);
    return { data, control: NO_CONTROL };
  }

  peek(maxBytes = Number.POSITIVE_INFINITY): ReadResult {
    return { data: this.readOrPeek(maxBytes, true), control: NO_CONTROL };
  }

  /**
   * Like `read`, but copies up to `dst.length` bytes into `dst` and returns how many: nothing is
   * allocated, and the stack reuses the memory the bytes were in (see `ReceiveState.readInto`). Throws
   * as `read` does when there is nothing to read.
   */
  readInto(dst: Uint8Array): number {
    const r = this.rcv;
    if (r.queue.size > 0 && dst.length > 0 && !this.rcvShutdown) {
      const n = r.readInto(dst);
      this.afterRead(n);
      return n;
    }
    this.throwUnreadable(dst.length);
    return 0;
  }

  private readOrPeek(maxBytes: number, peek: boolean): Uint8Array {
    const r = this.rcv;
    if (r.queue.size > 0 && maxBytes > 0 && !this.rcvShutdown) {
      if (peek) return r.queue.slice(0, Math.min(maxBytes, r.queue.size)).slice();
      const out = r.read(maxBytes);
      this.afterRead(out.length);
      return out;
    }
    this.throwUnreadable(maxBytes);
    return new Uint8Array(0);
  }

  private afterRead(n: number): void {
    const r = this.rcv;
    onApplicationRead(this, n);
    // RFC 9293 §3.8.6.2.2: tell the peer when reading opened the window enough. With output queued
    // for the batch's end (a reader running there), it goes then, or on the reader's answer.
    if (isSynchronized(this.state) && this.state !== "TIME-WAIT" && r.windowUpdateDue()) {
      if (this.outputDeferred > 0) r.ackNow = true;
      else this.sendAck();
    }
  }

  /** Nothing to read: throws why, or returns (an empty read) when `maxBytes` is 0 on a connection. */
  private throwUnreadable(maxBytes: number): void {
    const r = this.rcv;
    if (this.hardError) throw this.hardError;
    if (this.rcvShutdown || r.finReceived) throw new ErrClosedForReceive();
    if (this.state === "SYN-SENT" || this.state === "SYN-RECEIVED") throw new ErrWouldBlock();
    if (!isSynchronized(this.state)) throw new ErrNotConnected();
    if (maxBytes <= 0) return;
    throw new ErrWouldBlock();
  }

  /** Queues bytes to send; returns how many were taken (partial writes happen; never blocks). */
  write(payload: Payload, opts: WriteOptions = {}): number {
    if (this.hardError) throw this.hardError;
    if (this.sndShutdown) throw new ErrClosedForSend();
    if (this.state === "SYN-SENT" || this.state === "SYN-RECEIVED") throw new ErrWouldBlock();
    if (!canSendData(this.state)) throw this.everConnected ? new ErrClosedForSend() : new ErrNotConnected();
    const s = this.snd;
    const size = payload instanceof Uint8Array ? payload.length : payload.size;
    if (size === 0) return 0;
    const room = s.space;
    if (room === 0) throw new ErrWouldBlock();
    const n = Math.min(room, size);
    // Copy: the caller may reuse its buffer once write returns (unless it promised not to change it).
    if (opts.immutable === true && payload instanceof Uint8Array) s.buf.append(payload.subarray(0, n));
    else
      s.buf.append(
        payload instanceof Uint8Array ? payload.slice(0, n) : payloadBytes(payload, n).slice(0, n),
      );
    s.held = opts.more === true;
    trySend(this);
    return n;
  }

  shutdown(flags: ShutdownFlags): void {
    if (this.state === "LISTEN") {
      if (flags & ShutdownFlags.Read) this.close();
      return;
    }
    if (!isSynchronized(this.state) && this.state !== "SYN-SENT") throw new ErrNotConnected();
    if (flags & ShutdownFlags.Read) {
      this.rcvShutdown = true;
      this.notify(EventIn);
    }
    if (flags & ShutdownFlags.Write) this.shutdownWrite();
  }

  close(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.rcvShutdown = true;
    switch (this.state) {
      case "LISTEN":
        this.closeListener();
        return;
      case "CLOSED":
        this.cleanup();
        return;
      case "SYN-SENT":
        this.cleanup();
        return;
      case "SYN-RECEIVED":
      case "ESTABLISHED":
      case "CLOSE-WAIT":
        if (this.rcv.queue.size > 0 || this.linger === 0) {
          // RFC 9293 §3.10.4 / RFC 2525 §2.17: closing with unread data aborts with a reset (as Linux does).
          this.abort(new ErrConnectionAborted(), true);
          return;
        }
        this.shutdownWrite();
        return;
      case "FIN-WAIT-2":
        if (this.linger === 0) this.abort(new ErrConnectionAborted(), true);
        else this.stateTimer.arm(this.opts.finTimeoutMs);
        return;
      case "FIN-WAIT-1":
      case "CLOSING":
      case "LAST-ACK":
        if (this.linger === 0) this.abort(new ErrConnectionAborted(), true);
        return;
      default:
        return;
    }
  }

  readiness(mask: number): number {
    let r = 0;
    const st = this.state;
    if (mask & EventIn) {
      if (st === "LISTEN") {
        if (this.acceptQueue.length > 0) r |= EventIn;
      } else if (
        this.rcv.queue.size > 0 ||
        this.rcv.finReceived ||
        this.rcvShutdown ||
        this.hardError ||
        (st === "CLOSED" && this.everConnected)
      ) {
        r |= EventIn;
      }
    }
    if (mask & EventOut) {
      if ((canSendData(st) && !this.sndShutdown && this.snd.space > 0) || this.hardError) r |= EventOut;
    }
    if (mask & EventErr && (this.pendingError || this.hardError)) r |= EventErr;
    if (mask & EventHUp) {
      if (
        (st === "CLOSED" && this.everConnected) ||
        this.hardError ||
        (this.rcv.finReceived && this.sndShutdown)
      )
        r |= EventHUp;
    }
    return r & mask;
  }

  getLocalAddress(): FullAddress {
    return fullAddress(this.nic, this.userAddress(this.id.localAddress), this.id.localPort);
  }

  getRemoteAddress(): FullAddress {
    if (!isSynchronized(this.state) && this.state !== "SYN-SENT") throw new ErrNotConnected();
    return fullAddress(this.nic, this.userAddress(this.id.remoteAddress), this.id.remotePort);
  }

  setSockOpt(name: string, value: unknown): void {
    setOption(this, name, value);
  }

  getSockOpt(name: string): unknown {
    return getOption(this, name);
  }

  tcpInfo(): TcpInfo {
    return tcpInfo(this);
  }

  /** Takes the pending error (like SO_ERROR): returned once. */
  takeError(): TcpipError | undefined {
    const e = this.pendingError;
    this.pendingError = undefined;
    return e;
  }

  // ---------------------------------------------------------------- inbound

  handlePacket(_id: TransportEndpointId, pkt: PacketBuffer, info: TransportPacketInfo): void {
    const seg = parseSegment(pkt, info, this.stack.stats);
    if (!seg) return;
    try {
      dispatchSegment(this, seg, info);
    } finally {
      releaseSegment(seg);
    }
  }

  handleControlPacket(_id: TransportEndpointId, type: ControlType, extra: number): void {
    if (type === "packetTooBig") {
      // RFC 1191 §6.3 / RFC 8201 §5.2: lower the sending MSS to the new path MTU (extra = MTU of the
      // network packet; our route MTU is the transport part, so take off the network header).
      const netHeader = this.netProtos[0] === IPV6_PROTOCOL_NUMBER ? 40 : 20;
      const mss = extra - netHeader - 20;
      const snd = this.snd;
      if (extra > 0 && mss >= 88 && mss < snd.mss) {
        snd.mss = mss;
        snd.cc.setMss(this.maxPayload());
        // What is in flight was too big and is lost: send it again in smaller segments now rather than
        // after an RTO (as Linux's tcp_simple_retransmit).
        if (sendRuns(this.state) && snd.una !== snd.max) {
          snd.nxt = snd.una;
          snd.rttTiming = false;
          trySend(this);
        }
      }
      return;
    }
    const err = controlError(type);
    if (!err) return;
    if (this.state === "SYN-SENT") {
      // Like Linux (tcp_v4_err): an unreachable while connecting ends the attempt.
      this.stack.stats.tcp.failedConnectionAttempts++;
      this.abort(err, false);
      return;
    }
    // RFC 1122 §4.2.3.9: for an open connection these are soft errors: report, do not abort.
    if (isSynchronized(this.state)) {
      this.pendingError = err;
      this.notify(EventErr);
    }
  }

  // ---------------------------------------------------------------- connection internals

  /** Payload bytes per segment: the MSS less the options every segment carries. */
  maxPayload(): number {
    let m = this.snd.mss;
    if (this.userMss > 0) m = Math.min(m, this.userMss);
    if (this.rcv.tsEnabled) m -= TS_OPTION_SPACE;
    return Math.max(m, 1);
  }

  /**
   * The largest payload of one GSO super-segment, in whole `maxPayload()` parts, when the route's
   * link segments them (LinkCapability.HardwareGSO, issue 8); 0 when it does not or no two parts fit.
   */
  gsoPayload(): number {
    const r = this.route;
    if (!r || (r.capabilities & LinkCapability.HardwareGSO) === 0 || r.gsoMaxSize <= 0) return 0;
    const mp = this.maxPayload();
    // IP header (TCP sends no IP options) plus the largest TCP header, so any options fit.
    const headers = (r.localAddress.is4 ? 20 : 40) + 60;
    const parts = Math.floor((Math.min(r.gsoMaxSize, 0xffff) - headers) / mp);
    return parts >= 2 ? parts * mp : 0;
  }

  /** The MSS we advertise: the route MTU less the TCP header (RFC 9293 §3.7.1, RFC 879). */
  advertisedMss(): number {
    const mtu = this.route?.mtu ?? 576;
    let mss = mtu - 20;
    if (this.userMss > 0) mss = Math.min(mss, this.userMss);
    return Math.max(88, Math.min(mss, 0xffff));
  }

  setState(s: TcpState): void {
    const was = this.state;
    if (was === s) return;
    const estWas = was === "ESTABLISHED" || was === "CLOSE-WAIT";
    const estNow = s === "ESTABLISHED" || s === "CLOSE-WAIT";
    if (estWas && !estNow) this.stack.stats.tcp.currentEstablished--;
    if (!estWas && estNow) this.stack.stats.tcp.currentEstablished++;
    this.state = s;
  }

  private startActiveOpen(): void {
    const s = this.snd;
    const id = this.id;
    const secrets = this.proto.secrets();
    s.iss =
      this.isnHint ??
      secrets.isn.isn(id.localAddress!, id.localPort, id.remoteAddress!, id.remotePort, this.now());
    this.tsOffset = secrets.isn.tsOffset(id.localAddress!, id.localPort, id.remoteAddress!, id.remotePort);
    s.una = s.iss;
    s.nxt = seqAdd(s.iss, 1);
    s.max = s.nxt;
    s.recover = s.iss;
    this.rcv.offeredScale = this.opts.windowScaling
      ? windowScaleFor(Math.max(this.rcv.bufSize, this.opts.receiveBufferSize.max))
      : 0;
    this.setState("SYN-SENT");
    this.stack.stats.tcp.activeConnectionOpenings++;
    s.synTime = this.now();
    this.sendSyn();
    this.rtxMode = "handshake";
    this.rtxTimer.arm(s.rtt.rto);
  }

  /** Our SYN (active open) or SYN-ACK (passive or simultaneous open) with the options of `synOptions`. */
  sendSyn(): void {
    const s = this.snd;
    const synAck = this.state === "SYN-RECEIVED";
    // RFC 3168 §6.1.1: ECE and CWR on an ECN-setup SYN, ECE alone on an ECN-setup SYN-ACK; both leave Not-ECT.
    const flags = (synAck ? TCP_SYN | TCP_ACK : TCP_SYN) | synEcnFlags(this, synAck);
    const window = Math.min(0xffff, this.rcv.bufSize);
    if (synAck) this.rcv.selectWindow(true);
    this.transmit({
      srcPort: this.id.localPort,
      dstPort: this.id.remotePort,
      seq: s.iss,
      ack: synAck ? this.rcv.nxt : 0,
      flags,
      window,
      options: synOptions(this, synAck),
    });
    if (synAck) this.afterAck();
  }

  /**
   * A data or FIN segment from the send buffer (`from` bytes after SND.UNA); `retransmit` when it resends
   * sequence space sent before. On an ECN connection new data leaves ECT(0) and the first new data after a
   * window reduction carries CWR; FIN-only segments and retransmissions stay Not-ECT (RFC 3168 §6.1.2, §6.1.5).
   */
  emit(flags: number, seq: number, from: number, len: number, retransmit = false): void {
    let ect = false;
    if (this.ecn && len > 0 && !retransmit) {
      ect = true;
      const s = this.snd;
      if (s.cwrPending) {
        s.cwrPending = false;
        flags |= TCP_CWR;
        this.stack.stats.tcp.ecnCwrSent++;
      }
    }
    const o = this.synchronizedSegment(flags, seq);
    o.data = this.snd.buf;
    o.from = from;
    o.len = len;
    o.gsoSize = this.maxPayload();
    this.transmit(o, ect);
    o.data = undefined;
    this.afterAck();
  }

  /** A bare ACK with sequence number `seq` (SND.NXT, or an old one for probes). */
  emitAck(seq: number): void {
    const o = this.synchronizedSegment(TCP_ACK, seq);
    o.data = undefined;
    o.from = 0;
    o.len = 0;
    o.gsoSize = 0;
    this.transmit(o);
    this.afterAck();
  }

  /** The shared out-segment with the header fields of a synchronized connection (ACK, window, options). */
  private synchronizedSegment(flags: number, seq: number): typeof outSegment {
    const o = outSegment;
    o.srcPort = this.id.localPort;
    o.dstPort = this.id.remotePort;
    o.seq = seq;
    o.ack = this.rcv.nxt;
    // RFC 3168 §6.1.3: ECE on every segment after CE-marked data, until the peer's CWR.
    o.flags = this.eceDemand ? flags | TCP_ECE : flags;
    o.window = this.rcv.selectWindow(false);
    o.options = this.segmentOptions();
    return o;
  }

  sendAck(): void {
    if (this.state === "SYN-RECEIVED") {
      this.sendSyn();
      return;
    }
    // SND.MAX, not SND.NXT: after a timeout rewinds SND.NXT, the peer may already hold data beyond it and
    // would find an ACK with the rewound number unacceptable (and answer with its own: an ACK war).
    this.emitAck(this.snd.max);
  }

  /**
   * The ACK that answers an unacceptable segment. For pure ACKs at most one per 500 ms, as Linux
   * (tcp_invalid_ratelimit): two ends that each find the other's ACKs out of window must not ping-pong.
   */
  sendOutOfWindowAck(pureAck: boolean): void {
    if (pureAck) {
      const now = this.now();
      if (now - this.lastOowAck < OOW_ACK_INTERVAL_MS) return;
      this.lastOowAck = now;
    }
    this.sendAck();
  }

  /** RFC 5961 §3.2, §4.2, §5.2: answer a suspicious segment with an ACK of what we expect. */
  sendChallengeAck(): void {
    // RFC 5961 §7: limit challenge ACKs so they cannot be used to flood (like Linux's tcp_challenge_ack_limit).
    if (!this.proto.allowChallengeAck(this.now())) return;
    this.stack.stats.tcp.challengeAcksSent++;
    this.sendAck();
  }

  sendRst(seq: number, ack: number, withAck: boolean): void {
    if (!this.route) return;
    this.transmit({
      srcPort: this.id.localPort,
      dstPort: this.id.remotePort,
      seq,
      ack: withAck ? ack : 0,
      flags: TCP_RST | (withAck ? TCP_ACK : 0),
      window: 0,
    });
    this.stack.stats.tcp.resetsSent++;
  }

  /** `ect`: an ECN connection's new data, sent ECT(0) (RFC 3168 §5); the ECN bits are TCP's, not the TOS's (as Linux). */
  private transmit(s: OutSegment, ect = false): void {
    if (!this.route) return;
    const tos = (this.tos & ~IP_ECN_MASK) | (ect ? IP_ECN_ECT0 : 0);
    writeSegment(this.route, s, this.ttl || this.route.defaultTtl, tos, this.stack.stats);
  }

  private afterAck(): void {
    const r = this.rcv;
    r.lastAckSent = r.nxt;
    r.ackNow = false;
    r.ackPending = false;
    this.ackT?.stop();
  }

  private segmentOptions(): OutSegment["options"] {
    const r = this.rcv;
    const ts = r.tsEnabled;
    const sack = r.sackEnabled ? r.sackBlocks(ts ? 3 : 4, this.sackScratch) : this.sackScratch;
    if (!r.sackEnabled) sack.length = 0;
    if (ts) {
      // One options object per endpoint, refilled for each segment (encoded before `transmit` returns).
      const o = this.tsOptions;
      o.tsVal = this.tsNow();
      o.tsEcr = r.tsRecent;
      return o;
    }
    return sack.length > 0 ? this.sackOptions : undefined;
  }

  /**
   * `output()` after an inbound segment: at the end of the link's batch when
   * the link delivers batches (StackContext.deferUntilBatchEnd), so a batch of
   * segments is answered with one ACK, and the sends its ACKs allow go out as
   * one pass (larger GSO super-segments), rather than per segment (issue 10;
   * Linux gets the same from GRO per NAPI poll). A duplicate ACK for
   * out-of-order data still goes at once: RFC 5681 §4.2 "A TCP receiver SHOULD
   * send an immediate duplicate ACK when an out-of-order segment arrives".
   * So does an ACK once a quarter of the window we last advertised has
   * arrived unacknowledged: a batch of GRO super-segments can hold more than
   * the window, and a sender that waits for the batch's end stalls (measured:
   * one ACK per ~1.6 MB, the stack idle 40% of an `--offload` upload).
   */
  outputAfterBatch(): void {
    const r = this.rcv;
    const due =
      r.ackNow && (r.oooBytes > 0 || seqSize(r.lastAckSent, r.nxt) * 4 >= seqSize(r.lastAckSent, r.advEdge));
    if (!due) {
      if (this.outputDeferred > 0) return;
      if (this.stack.deferUntilBatchEnd?.(this) === true) {
        this.outputDeferred = 1;
        return;
      }
    }
    this.output();
  }

  /** The link's batch ended (see `outputAfterBatch`); output at this endpoint's last entry. */
  flushDeferred(): void {
    if (--this.outputDeferred > 0) return;
    this.outputDeferred = 0;
    const st = this.state;
    if (st !== "CLOSED" && st !== "LISTEN") this.output();
  }

  /** After processing input or a user call: send what can go, then the ACK if still owed. */
  output(): void {
    trySend(this);
    const r = this.rcv;
    if (!isSynchronized(this.state) || this.state === "SYN-RECEIVED") return;
    if (r.ackNow) this.sendAck();
    else if (r.ackPending) this.ackTimer.armIfIdle(this.opts.delayedAckMs);
  }

  armRto(): void {
    const s = this.snd;
    let d = s.rtt.backedOff(s.backoff);
    if (this.userTimeout > 0) {
      // Like Linux's tcp_clamp_rto_to_user_timeout: never sleep past the user timeout.
      const left = this.userTimeout - (this.now() - s.unaTime);
      d = Math.max(1, Math.min(d, left));
    }
    this.rtxMode = "rto";
    this.rtxTimer.arm(d);
  }

  /** RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: probe a zero window, backing off exponentially. */
  armPersist(): void {
    if (this.rtxTimer.pending) return;
    const s = this.snd;
    this.rtxMode = "persist";
    this.rtxTimer.arm(s.rtt.backedOff(s.persistBackoff));
  }

  armKeepalive(): void {
    if (this.keepalive) this.stateTimer.arm(this.keepaliveIdleMs);
  }

  private onRtxTimer(): void {
    switch (this.rtxMode) {
      case "handshake":
        this.onHandshakeTimeout();
        return;
      case "persist":
        onPersistTimeout(this);
        return;
      default:
        onRetransmitTimeout(this);
    }
  }

  /** SYN / SYN-ACK retransmission with exponential backoff (RFC 6298 §5.5, RFC 9293 §3.8.1). */
  private onHandshakeTimeout(): void {
    const s = this.snd;
    if (this.state === "SYN-SENT") {
      if (s.retries >= this.opts.synRetries) {
        this.stack.stats.tcp.failedConnectionAttempts++;
        this.abort(new ErrTimeout(), false);
        return;
      }
    } else if (this.state === "SYN-RECEIVED") {
      if (s.retries >= this.opts.synAckRetries) {
        this.stack.stats.tcp.failedConnectionAttempts++;
        if (this.listener) this.cleanup();
        else this.abort(new ErrTimeout(), false);
        return;
      }
    } else {
      return;
    }
    s.retries++;
    s.backoff++;
    this.stack.stats.tcp.retransmits++;
    this.sendSyn();
    this.rtxTimer.arm(s.rtt.backedOff(s.backoff));
  }

  private onCorkTimer(): void {
    const s = this.snd;
    s.force = true;
    trySend(this);
    s.force = false;
  }

  private onAckTimer(): void {
    const r = this.rcv;
    if ((r.ackPending || r.ackNow) && isSynchronized(this.state)) this.sendAck();
  }

  private onStateTimer(): void {
    switch (this.state) {
      case "TIME-WAIT":
        // RFC 9293 §3.10.8: "If the time-wait timeout expires on a connection, delete the TCB".
        this.cleanup();
        return;
      case "FIN-WAIT-2":
        // Linux tcp_fin_timeout: an orphaned connection does not wait for the peer's FIN forever.
        if (this.closedByUser) this.cleanup();
        return;
      default:
        onKeepaliveTimer(this);
    }
  }

  /** The handshake completed (RFC 9293 §3.10.7.3 / §3.10.7.4 SYN-RECEIVED). */
  established(): void {
    const s = this.snd;
    this.setState("ESTABLISHED");
    this.everConnected = true;
    if (this.ecn) this.stack.stats.tcp.ecnNegotiated++;
    s.retries = 0;
    s.backoff = 0;
    s.smallEnd = s.una;
    this.rtxTimer.stop();
    this.rtxMode = "rto";
    s.cc.setMss(this.maxPayload());
    this.rcv.mss = Math.min(this.maxPayload(), 536);
    this.rcv.quickAcks = this.opts.quickAckSegments;
    this.lastRcvTime = this.now();
    this.armKeepalive();
    expandSendBuffer(this);
    this.notify(EventOut);
    if (this.finAfterHandshake) this.shutdownWrite();
  }

  shutdownWrite(): void {
    if (this.sndShutdown) return;
    if (this.state === "SYN-SENT") {
      this.cleanup();
      return;
    }
    if (this.state === "SYN-RECEIVED") {
      this.finAfterHandshake = true;
      return;
    }
    this.sndShutdown = true;
    const s = this.snd;
    if (this.state === "ESTABLISHED") this.setState("FIN-WAIT-1");
    else if (this.state === "CLOSE-WAIT") this.setState("LAST-ACK");
    else return;
    s.finQueued = true;
    s.finSeq = s.dataEnd;
    s.held = false;
    this.stateT?.stop();
    trySend(this);
  }

  enterTimeWait(): void {
    this.setState("TIME-WAIT");
    this.rtxT?.stop();
    this.ackT?.stop();
    this.stateTimer.arm(this.opts.timeWaitMs);
    this.notify(EventIn | EventHUp);
  }

  /** Ends the connection with `err` (reset, timeout); sends RST <SEQ=SND.NXT> first when `rst`. */
  abort(err: TcpipError, rst: boolean): void {
    if (rst && isSynchronized(this.state)) this.sendRst(this.snd.max, this.rcv.nxt, true);
    if (err instanceof ErrTimeout && (this.state === "ESTABLISHED" || this.state === "CLOSE-WAIT"))
      this.stack.stats.tcp.establishedTimedOut++;
    this.hardError = err;
    this.pendingError = err;
    this.cleanup();
  }

  /** Stops everything and forgets the connection (RFC 9293 "delete the TCB"). */
  cleanup(): void {
    this.rtxT?.stop();
    this.ackT?.stop();
    this.stateT?.stop();
    this.corkT?.stop();
    stopRecoveryTimers(this);
    if (this.state === "SYN-RECEIVED" && this.listener) this.listener.synQueue.delete(this);
    if (this.listener) {
      const i = this.listener.acceptQueue.indexOf(this);
      if (i >= 0) this.listener.acceptQueue.splice(i, 1);
    }
    if (this.state === "LISTEN") this.proto.removeListener(this);
    this.setState("CLOSED");
    if (this.registered) {
      this.registered = false;
      this.stack.unregisterTransportEndpoint(this.nic, this.netProtos, TCP_PROTOCOL_NUMBER, this.id, this);
      if (this.id.remoteAddress) this.proto.removeConnection(this.id, this);
    }
    this.releasePort();
    if (this.route) {
      this.route.release();
    }
    this.rcv.clear();
    this.notify(EventIn | EventOut | EventHUp | (this.hardError ? EventErr : 0));
  }

  private closeListener(): void {
    for (const c of [...(this.synQ ?? []), ...(this.acceptQ ?? [])]) {
      c.listener = undefined;
      c.abort(new ErrConnectionAborted(), true);
    }
    this.synQ?.clear();
    if (this.acceptQ) this.acceptQ.length = 0;
    this.cleanup();
  }

  notify(mask: number): void {
    this.waiterQueue.notify(mask);
    // Issue 10: a reader woken after our batch-end output was queued (a later segment of the batch)
    // may have queued its read for the batch's end too, behind us: queue once more, behind it, so
    // that its answer (echo, FIN) carries our ACK instead of following it (one segment, not two).
    if (this.outputDeferred === 1 && (mask & EventIn) !== 0 && this.stack.deferUntilBatchEnd?.(this) === true)
      this.outputDeferred = 2;
  }

  register(nic: number, netProtos: NetworkProtocolNumber[], id: TransportEndpointId): void {
    this.stack.registerTransportEndpoint(nic, netProtos, TCP_PROTOCOL_NUMBER, id, this, this.portFlags());
    this.registered = true;
    if (id.remoteAddress) this.proto.addConnection(id, this);
    this.nic = nic;
    this.netProtos = netProtos;
    this.id = id;
  }

  private releasePort(): void {
    if (!this.portReserved) return;
    this.portReserved = false;
    this.stack.releasePort(
      this.netProtos,
      TCP_PROTOCOL_NUMBER,
      this.id.localAddress,
      this.id.localPort,
      this.portFlags(),
    );
  }

  portFlags(): PortFlags {
    return { reuseAddress: this.reuseAddress, reusePort: this.reusePort };
  }

  /** A connection made by this listener for an incoming SYN (a child in the SYN queue). */
  newChild(): TcpEndpoint {
    const c = new TcpEndpoint(this.stack, this.proto, this.netProto, { notify() {} });
    c.listener = this;
    c.noDelay = this.noDelay;
    c.keepalive = this.keepalive;
    c.keepaliveIdleMs = this.keepaliveIdleMs;
    c.keepaliveIntervalMs = this.keepaliveIntervalMs;
    c.keepaliveCount = this.keepaliveCount;
    c.userTimeout = this.userTimeout;
    c.userMss = this.userMss;
    c.ttl = this.ttl;
    c.ecnMode = this.ecnMode;
    c.rcv.bufSize = this.rcv.bufSize;
    c.snd.bufSize = this.snd.bufSize;
    c.autoTune.rcvLocked = this.autoTune.rcvLocked;
    c.autoTune.sndLocked = this.autoTune.sndLocked;
    c.reuseAddress = this.reuseAddress;
    c.reusePort = this.reusePort;
    return c;
  }

  /** Takes a freshly made child's route (the caller found it). */
  adoptRoute(route: Route): void {
    this.route = route;
  }

  /** The network protocols and address for a user-given address, honouring dual-stack rules. */
  private familyFor(
    addr: Address | undefined,
    forBind: boolean,
  ): { netProtos: NetworkProtocolNumber[]; address: Address | undefined } {
    if (this.netProto === IPV4_PROTOCOL_NUMBER) {
      if (addr && !addr.is4) {
        const v4 = addr.to4();
        if (!v4) throw new ErrAddressFamilyNotSupported();
        return { netProtos: [IPV4_PROTOCOL_NUMBER], address: v4 };
      }
      return { netProtos: [IPV4_PROTOCOL_NUMBER], address: addr };
    }
    if (!addr || addr.isUnspecified) {
      // A wildcard IPv6 socket hears IPv4 too unless V6Only (RFC 3493 §3.7).
      const netProtos =
        this.v6only || !forBind ? [IPV6_PROTOCOL_NUMBER] : [IPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER];
      return { netProtos, address: undefined };
    }
    if (addr.is4 || addr.isV4Mapped) {
      if (this.v6only) throw new ErrAddressFamilyNotSupported();
      return { netProtos: [IPV4_PROTOCOL_NUMBER], address: addr.to4() };
    }
    return { netProtos: [IPV6_PROTOCOL_NUMBER], address: addr };
  }

  /** IPv4 addresses of an IPv6 socket are shown v4-mapped (RFC 4291 §2.5.5.2). */
  private userAddress(a: Address | undefined): Address | undefined {
    if (a?.is4 && this.netProto === IPV6_PROTOCOL_NUMBER) return a.toV4Mapped();
    return a;
  }

  /** Debug aid: bytes in flight. */
  get inFlight(): number {
    return seqSize(this.snd.una, this.snd.nxt);
  }

  /** A probe segment one below SND.NXT (RFC 1122 §4.2.3.6 keep-alive). */
  sendKeepaliveProbe(): void {
    this.emitAck(seqSub(this.snd.max, 1));
  }
}

function fullAddress(nic: number, addr: Address | undefined, port: number): FullAddress {
  return addr ? { nic, addr, port } : { nic, port };
}

/** The error an ICMP report (or a failed link-address resolution) stands for. */
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
      return undefined;
  }
}

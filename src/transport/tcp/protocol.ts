/**
 * The TCP transport protocol: makes endpoints, answers segments for which no
 * endpoint exists with RST (RFC 9293 §3.10.7.1), holds the stack-wide options
 * and the secrets for ISNs (RFC 6528) and SYN cookies (RFC 4987).
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { TCP_MIN_SIZE } from "../../header/tcp.ts";
import type {
  EndpointFactory,
  StackContext,
  TransportEndpointId,
  TransportPacketInfo,
  TransportProtocol,
} from "../../stack/registration.ts";
import type { Address } from "../../tcpip/address.ts";
import { ErrInvalidOptionValue, ErrUnknownProtocolOption } from "../../tcpip/errors.ts";
import { type NetworkProtocolNumber, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { CONGESTION_CONTROLS } from "./congestion-controls.ts";
import { isEcnMode } from "./ecn.ts";
import { TcpEndpoint } from "./endpoint.ts";
import type { Notifier } from "./events.ts";
import { IsnGenerator } from "./isn.ts";
import { defaultTcpStackOptions, MAX_BUFFER_SIZE, type TcpStackOptions } from "./protocol-options.ts";
import { replyWithReset } from "./rst.ts";
import { parseSegment, releaseSegment, type Segment } from "./segment.ts";
import { SynCookies } from "./syn-cookies.ts";

export class TcpProtocol implements TransportProtocol, EndpointFactory {
  readonly number = TCP_PROTOCOL_NUMBER;
  readonly name = "tcp";
  readonly minimumPacketSize = TCP_MIN_SIZE;
  readonly options: TcpStackOptions;
  private keys: { isn: IsnGenerator; cookies: SynCookies } | undefined;
  private readonly listeners = new Set<TcpEndpoint>();
  /** Connected endpoints (any state with a remote) by 4-tuple. */
  private readonly connections = new Map<string, TcpEndpoint>();

  constructor(
    readonly stack: StackContext,
    options: Partial<TcpStackOptions> = {},
  ) {
    this.options = { ...defaultTcpStackOptions(), ...options };
  }

  /** A factory for `new Stack({ transportProtocols: [TcpProtocol.factory()] })`. */
  static factory(options: Partial<TcpStackOptions> = {}): (stack: StackContext) => TcpProtocol {
    return (stack) => new TcpProtocol(stack, options);
  }

  newEndpoint(netProto: NetworkProtocolNumber, waiterQueue: Notifier): TcpEndpoint {
    return new TcpEndpoint(this.stack, this, netProto, waiterQueue);
  }

  private challengeWindowStart = 0;
  private challengeCount = 0;

  /** RFC 5961 §7: at most `challengeAckLimit` challenge ACKs per second, stack-wide. */
  allowChallengeAck(nowMs: number): boolean {
    if (nowMs - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = nowMs;
      this.challengeCount = 0;
    }
    return this.challengeCount++ < this.options.challengeAckLimit;
  }

  secrets(): { isn: IsnGenerator; cookies: SynCookies } {
    this.keys ??= { isn: new IsnGenerator(this.stack.random), cookies: new SynCookies(this.stack.random) };
    return this.keys;
  }

  /** One result object, reused: the stack reads it at once (see `TransportProtocol.parsePorts`; issue 10). */
  private readonly ports = { src: 0, dst: 0 };

  parsePorts(b: Uint8Array, off: number, len: number): { src: number; dst: number } | undefined {
    if (len < 4 || off + 4 > b.length) return undefined;
    this.ports.src = (b[off]! << 8) | b[off + 1]!;
    this.ports.dst = (b[off + 2]! << 8) | b[off + 3]!;
    return this.ports;
  }

  private forwarder: ((seg: Segment, info: TransportPacketInfo) => boolean) | undefined;

  /** Sees segments that match no endpoint before the RST; true = it took them (forwarder.ts). */
  setForwarder(fn: ((seg: Segment, info: TransportPacketInfo) => boolean) | undefined): void {
    this.forwarder = fn;
  }

  handleUnknownDestinationPacket(
    _id: TransportEndpointId,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
    stack: StackContext,
  ): boolean {
    const seg = parseSegment(pkt, info, stack.stats);
    // Malformed: counted by parseSegment; say handled so no ICMP goes out for garbage.
    if (!seg) return true;
    if (!this.forwarder?.(seg, info)) replyWithReset(stack, info, seg);
    releaseSegment(seg);
    return true;
  }

  setOption(name: string, value: unknown): void {
    const o = this.options as unknown as Record<string, unknown>;
    if (!(name in o)) throw new ErrUnknownProtocolOption();
    const cur = o[name];
    if (typeof cur === "object" && cur !== null) {
      const v = value as { min?: unknown; default?: unknown; max?: unknown };
      if (typeof v !== "object" || v === null) throw new ErrInvalidOptionValue();
      const { min, default: def, max } = v;
      // Whole bytes, 0 < min <= default <= max, and no more than a window can advertise (RFC 7323 §2.3).
      if (
        !Number.isSafeInteger(min) ||
        !Number.isSafeInteger(def) ||
        !Number.isSafeInteger(max) ||
        !((min as number) <= (def as number) && (def as number) <= (max as number)) ||
        (min as number) <= 0 ||
        (max as number) > MAX_BUFFER_SIZE
      )
        throw new ErrInvalidOptionValue();
      o[name] = { min, default: def, max };
      return;
    }
    if (typeof cur !== typeof value) throw new ErrInvalidOptionValue();
    if (typeof value === "number" && (!Number.isFinite(value) || value < 0))
      throw new ErrInvalidOptionValue();
    if (name === "congestionControl" && !CONGESTION_CONTROLS.has(value as string))
      throw new ErrInvalidOptionValue();
    if (name === "ecn" && !isEcnMode(value)) throw new ErrInvalidOptionValue();
    o[name] = value;
  }

  option(name: string): unknown {
    const o = this.options as unknown as Record<string, unknown>;
    if (!(name in o)) throw new ErrUnknownProtocolOption();
    return o[name];
  }

  close(): void {
    for (const ep of [...this.connections.values()]) if (ep.state === "TIME-WAIT") ep.cleanup();
    for (const ep of [...this.listeners]) ep.close();
  }

  // ---- registries the endpoints use (TIME-WAIT reuse needs the listener of a port) ----

  addListener(ep: TcpEndpoint): void {
    this.listeners.add(ep);
  }

  removeListener(ep: TcpEndpoint): void {
    this.listeners.delete(ep);
  }

  findListener(
    nic: number,
    local: Address,
    port: number,
    netProto: NetworkProtocolNumber,
  ): TcpEndpoint | undefined {
    let wildcard: TcpEndpoint | undefined;
    for (const l of this.listeners) {
      if (l.state !== "LISTEN" || l.id.localPort !== port || !l.netProtos.includes(netProto)) continue;
      if (l.nic !== 0 && l.nic !== nic) continue;
      if (l.id.localAddress?.equals(local)) return l;
      if (!l.id.localAddress) wildcard = l;
    }
    return wildcard;
  }

  addConnection(id: TransportEndpointId, ep: TcpEndpoint): void {
    this.connections.set(tupleKey(id), ep);
  }

  removeConnection(id: TransportEndpointId, ep: TcpEndpoint): void {
    const k = tupleKey(id);
    if (this.connections.get(k) === ep) this.connections.delete(k);
  }

  /** The connection on this 4-tuple, if any (TIME-WAIT included). */
  connectionFor(id: TransportEndpointId): TcpEndpoint | undefined {
    return this.connections.get(tupleKey(id));
  }
}

function tupleKey(id: TransportEndpointId): string {
  return `${id.localAddress?.key ?? ""}|${id.localPort}|${id.remoteAddress?.key ?? ""}|${id.remotePort}`;
}

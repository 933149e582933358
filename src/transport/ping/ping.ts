/**
 * ICMP echo sockets ("ping sockets", like Linux's SOCK_DGRAM/IPPROTO_ICMP):
 * the user writes an echo request (type, code and data; the stack sets the
 * identifier to the endpoint's port and computes the checksum) and reads
 * echo replies whose identifier matches. IPv4 (RFC 792) and IPv6 (RFC 4443
 * §4.1, checksum with the pseudo-header of RFC 8200 §8.1).
 *
 * Demux: an echo request travels "from port ident to port 0" and its reply
 * "from port 0 to port ident", so replies and errors quoting our requests both
 * find the endpoint bound to the ident.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import type {
  Endpoint,
  EndpointFactory,
  Route,
  StackContext,
  TransportEndpointId,
  TransportPacketInfo,
  TransportProtocol,
  TransportProtocolFactory,
  WaiterQueueLike,
} from "../../stack/registration.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  type TransportProtocolNumber,
} from "../../tcpip/protocols.ts";
import { DatagramEndpoint } from "../udp/datagram-endpoint.ts";

const ICMP_HEADER_SIZE = 8;
const ECHO_V4 = 8;
const ECHO_REPLY_V4 = 0;
const ECHO_V6 = 128;
const ECHO_REPLY_V6 = 129;

export class PingEndpoint extends DatagramEndpoint {
  private readonly echoType: number;

  constructor(stack: StackContext, netProto: NetworkProtocolNumber, waiterQueue: WaiterQueueLike) {
    const v6 = netProto === IPV6_PROTOCOL_NUMBER;
    super(stack, netProto, v6 ? ICMPV6_PROTOCOL_NUMBER : ICMPV4_PROTOCOL_NUMBER, waiterQueue);
    this.echoType = v6 ? ECHO_V6 : ECHO_V4;
    // Ping sockets are one family each (Linux has no dual-stack ping).
    if (v6) this.v6only = true;
  }

  protected parseInbound(pkt: PacketBuffer, _info: TransportPacketInfo): number {
    return pkt.size < ICMP_HEADER_SIZE ? -1 : 0;
  }

  protected buildPacket(route: Route, data: Uint8Array, _remotePort: number): PacketBuffer {
    if (data.length < ICMP_HEADER_SIZE || data[0] !== this.echoType || data[1] !== 0) {
      throw new ErrInvalidOptionValue();
    }
    const pkt = PacketBuffer.withPayload(route.maxHeaderLength, data);
    const b = pkt.data;
    const o = pkt.head;
    b[o + 4] = this.localPort >>> 8;
    b[o + 5] = this.localPort & 0xff;
    b[o + 2] = 0;
    b[o + 3] = 0;
    const initial =
      this.transProto === ICMPV6_PROTOCOL_NUMBER
        ? route.pseudoHeaderChecksum(ICMPV6_PROTOCOL_NUMBER, data.length)
        : 0;
    const c = finishChecksum(checksum(b, o, data.length, initial));
    b[o + 2] = c >>> 8;
    b[o + 3] = c & 0xff;
    pkt.transportHeader = o;
    pkt.transportProtocol = this.transProto;
    return pkt;
  }

  protected maxPayload(netProto: NetworkProtocolNumber): number {
    return netProto === IPV6_PROTOCOL_NUMBER ? 0xffff : 0xffff - 20;
  }

  private get counters() {
    return this.transProto === ICMPV6_PROTOCOL_NUMBER ? this.stack.stats.icmp.v6 : this.stack.stats.icmp.v4;
  }
  protected countSent(): void {
    this.counters.echoRequest.sent++;
    this.counters.packetsSent++;
  }
  protected countReceived(): void {}
  protected countReceiveBufferError(): void {
    this.stack.stats.droppedPackets++;
  }
}

export class PingProtocol implements TransportProtocol, EndpointFactory {
  readonly name: string;
  readonly minimumPacketSize = ICMP_HEADER_SIZE;
  private readonly echo: number;
  private readonly reply: number;

  constructor(
    readonly stack: StackContext,
    readonly number: TransportProtocolNumber,
  ) {
    const v6 = number === ICMPV6_PROTOCOL_NUMBER;
    this.name = v6 ? "ping6" : "ping4";
    this.echo = v6 ? ECHO_V6 : ECHO_V4;
    this.reply = v6 ? ECHO_REPLY_V6 : ECHO_REPLY_V4;
  }

  /** One result object, reused: the stack reads it at once (see `TransportProtocol.parsePorts`). */
  private readonly ports = { src: 0, dst: 0 };

  parsePorts(b: Uint8Array, off: number, len: number): { src: number; dst: number } | undefined {
    if (len < ICMP_HEADER_SIZE || off + ICMP_HEADER_SIZE > b.length) return undefined;
    const ident = (b[off + 4]! << 8) | b[off + 5]!;
    const type = b[off]!;
    if (type === this.reply) {
      this.ports.src = 0;
      this.ports.dst = ident;
      return this.ports;
    }
    if (type === this.echo) {
      this.ports.src = ident;
      this.ports.dst = 0;
      return this.ports;
    }
    return undefined;
  }

  /** A reply nobody waits for is dropped quietly: ICMP never answers ICMP with Port Unreachable. */
  handleUnknownDestinationPacket(
    _id: TransportEndpointId,
    _pkt: PacketBuffer,
    _info: TransportPacketInfo,
  ): boolean {
    return true;
  }

  newEndpoint(netProto: NetworkProtocolNumber, waiterQueue: WaiterQueueLike): Endpoint {
    const want = this.number === ICMPV6_PROTOCOL_NUMBER ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
    if (netProto !== want) throw new ErrInvalidOptionValue();
    return new PingEndpoint(this.stack, netProto, waiterQueue);
  }
}

/** Ping sockets for IPv4 (transport protocol number 1). */
export function newPingProtocol4(): TransportProtocolFactory {
  return (stack) => new PingProtocol(stack, ICMPV4_PROTOCOL_NUMBER);
}

/** Ping sockets for IPv6 (transport protocol number 58). */
export function newPingProtocol6(): TransportProtocolFactory {
  return (stack) => new PingProtocol(stack, ICMPV6_PROTOCOL_NUMBER);
}

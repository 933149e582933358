/**
 * UDP (RFC 768; RFC 1122 §4.1; IPv6 rules of RFC 8200 §8.1). Network-agnostic:
 * every packet goes out through a `Route`, so the same endpoint serves IPv4,
 * IPv6 and dual-stack.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import { encodeUdp, UDP_HEADER_SIZE, UdpHeader } from "../../header/udp.ts";
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
import { ErrInvalidEndpointState } from "../../tcpip/errors.ts";
import {
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  UDP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { DatagramEndpoint } from "./datagram-endpoint.ts";

/**
 * Checks a datagram at `pkt.head` and trims link/IP padding to its Length.
 * Returns false (and counts) when it must be dropped.
 */
function validate(pkt: PacketBuffer, info: TransportPacketInfo, stats: StackContext["stats"]): boolean {
  const b = pkt.data;
  const off = pkt.head;
  const h = new UdpHeader(b, off);
  if (!h.isValid(pkt.size)) {
    stats.udp.malformedPacketsReceived++;
    return false;
  }
  const len = h.length;
  pkt.truncate(len);
  const sum = h.checksum;
  if (sum === 0) {
    // RFC 768: zero means "no checksum" for IPv4. RFC 8200 §8.1: "IPv6 receivers must discard UDP
    // packets containing a zero checksum and should log the error."
    if (info.netProto === IPV6_PROTOCOL_NUMBER) {
      stats.udp.checksumErrors++;
      return false;
    }
    return true;
  }
  if (pkt.checksumVerified) return true;
  if (checksum(b, off, len, pseudoHeaderChecksum(UDP_PROTOCOL_NUMBER, info.src, info.dst, len)) !== 0xffff) {
    stats.udp.checksumErrors++;
    return false;
  }
  return true;
}

export class UdpEndpoint extends DatagramEndpoint {
  constructor(stack: StackContext, netProto: NetworkProtocolNumber, waiterQueue: WaiterQueueLike) {
    super(stack, netProto, UDP_PROTOCOL_NUMBER, waiterQueue);
  }

  protected parseInbound(pkt: PacketBuffer, info: TransportPacketInfo): number {
    return validate(pkt, info, this.stack.stats) ? UDP_HEADER_SIZE : -1;
  }

  protected buildPacket(route: Route, data: Uint8Array, remotePort: number): PacketBuffer {
    const pkt = PacketBuffer.withPayload(route.maxHeaderLength + UDP_HEADER_SIZE, data);
    const off = pkt.prepend(UDP_HEADER_SIZE);
    const len = UDP_HEADER_SIZE + data.length;
    encodeUdp(pkt.data, off, { srcPort: this.localPort, dstPort: remotePort, length: len, checksum: 0 });
    // RFC 768: "If the computed checksum is zero, it is transmitted as all ones."
    const c = finishChecksum(
      checksum(pkt.data, off, len, route.pseudoHeaderChecksum(UDP_PROTOCOL_NUMBER, len)),
    );
    new UdpHeader(pkt.data, off).setChecksum(c === 0 ? 0xffff : c);
    pkt.transportHeader = off;
    pkt.transportProtocol = UDP_PROTOCOL_NUMBER;
    return pkt;
  }

  protected maxPayload(netProto: NetworkProtocolNumber): number {
    // The Length field is 16 bits; IPv4's Total Length also counts its own 20-byte header.
    return netProto === IPV6_PROTOCOL_NUMBER ? 0xffff - UDP_HEADER_SIZE : 0xffff - UDP_HEADER_SIZE - 20;
  }

  protected override checkRemotePort(port: number): void {
    // Linux refuses to send to port 0 (EINVAL).
    if (port === 0) throw new ErrInvalidEndpointState();
  }

  protected countSent(): void {
    this.stack.stats.udp.packetsSent++;
  }
  protected countReceived(): void {
    this.stack.stats.udp.packetsReceived++;
  }
  protected countReceiveBufferError(): void {
    this.stack.stats.udp.receiveBufferErrors++;
  }
}

export class UdpProtocol implements TransportProtocol, EndpointFactory {
  readonly number = UDP_PROTOCOL_NUMBER;
  readonly name = "udp";
  readonly minimumPacketSize = UDP_HEADER_SIZE;

  constructor(readonly stack: StackContext) {}

  /** One result object, reused: the stack reads it at once (see `TransportProtocol.parsePorts`). */
  private readonly ports = { src: 0, dst: 0 };

  parsePorts(b: Uint8Array, off: number, len: number): { src: number; dst: number } | undefined {
    if (len < 4 || off + 4 > b.length) return undefined;
    this.ports.src = (b[off]! << 8) | b[off + 1]!;
    this.ports.dst = (b[off + 2]! << 8) | b[off + 3]!;
    return this.ports;
  }

  handleUnknownDestinationPacket(
    _id: TransportEndpointId,
    pkt: PacketBuffer,
    info: TransportPacketInfo,
    stack: StackContext,
  ): boolean {
    // Only a datagram that is intact earns a Port Unreachable (a corrupt one is counted and dropped).
    if (!validate(pkt, info, stack.stats)) return true;
    stack.stats.udp.unknownPortErrors++;
    return false;
  }

  newEndpoint(netProto: NetworkProtocolNumber, waiterQueue: WaiterQueueLike): Endpoint {
    return new UdpEndpoint(this.stack, netProto, waiterQueue);
  }
}

/** The UDP protocol factory for `new Stack({ transportProtocols: [newUdpProtocol()] })`. */
export function newUdpProtocol(): TransportProtocolFactory {
  return (stack) => new UdpProtocol(stack);
}

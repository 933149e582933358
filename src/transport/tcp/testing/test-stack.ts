/**
 * A small deterministic StackContext for TCP tests: one NIC, a few addresses,
 * exact-then-wildcard demux, simple port reservations, and routes whose
 * `writePacket` hands the finished segment bytes to `wire`. Two of these back
 * to back (`pair.ts`) or one facing a scripted peer (`peer.ts`) test TCP
 * without the real Stack.
 */
import { PacketBuffer } from "../../../buffer/packet-buffer.ts";
import { pseudoHeaderChecksum } from "../../../header/checksum.ts";
import type {
  NetworkHeaderParams,
  PortFlags,
  Route,
  StackContext,
  TransportEndpoint,
  TransportEndpointId,
  TransportPacketInfo,
} from "../../../stack/registration.ts";
import type { Address } from "../../../tcpip/address.ts";
import type { ManualClock } from "../../../tcpip/clock.ts";
import { ErrNoPortAvailable, ErrNoRoute, ErrPortInUse } from "../../../tcpip/errors.ts";
import { LinkAddress } from "../../../tcpip/link-address.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
  type TransportProtocolNumber,
} from "../../../tcpip/protocols.ts";
import { SeededRandom } from "../../../tcpip/random.ts";
import { newStats, type Stats } from "../../../tcpip/stats.ts";
import { TcpProtocol } from "../protocol.ts";
import type { TcpStackOptions } from "../protocol-options.ts";

/** `tos`: the IPv4 TOS / IPv6 Traffic Class the segment was written with (its ECN bits, RFC 3168 §5). */
export type Wire = (
  bytes: Uint8Array,
  src: Address,
  dst: Address,
  netProto: NetworkProtocolNumber,
  tos: number,
) => void;

export class TestRoute implements Route {
  readonly nic = 1;
  readonly localLinkAddress = LinkAddress.EMPTY;
  readonly capabilities = 0;
  readonly gsoMaxSize = 0;
  readonly defaultTtl = 64;
  readonly loopback = false;
  readonly nextHop: Address;
  readonly maxHeaderLength: number;

  constructor(
    private readonly owner: TestStack,
    readonly netProto: NetworkProtocolNumber,
    readonly localAddress: Address,
    readonly remoteAddress: Address,
    readonly mtu: number,
  ) {
    this.nextHop = remoteAddress;
    this.maxHeaderLength = netProto === IPV6_PROTOCOL_NUMBER ? 40 : 20;
  }

  writePacket(pkt: PacketBuffer, params: NetworkHeaderParams): void {
    this.owner.wire(pkt.bytes().slice(), this.localAddress, this.remoteAddress, this.netProto, params.tos);
  }

  pseudoHeaderChecksum(protocol: TransportProtocolNumber, length: number): number {
    return pseudoHeaderChecksum(protocol, this.localAddress, this.remoteAddress, length);
  }

  release(): void {}
}

/**
 * The buffer limits the harness's stacks use unless a test gives its own: the stack defaults of
 * before auto-tuning (1 MiB receive and send buffers, at most 4 MiB, window scale 7). The
 * packet-trace tests (RawPeer) and Pair runs were written against them — exact window fields, a
 * whole 200 KB write taken at once — and are about other things; tests of the real defaults and of
 * auto-tuning pass `receiveBufferSize` / `sendBufferSize` (see buffer-autotune.test.ts).
 */
export const HARNESS_BUFFERS: Pick<TcpStackOptions, "receiveBufferSize" | "sendBufferSize"> = {
  receiveBufferSize: { min: 4096, default: 1 << 20, max: 4 << 20 },
  sendBufferSize: { min: 4096, default: 1 << 20, max: 4 << 20 },
};

export interface TestStackOptions {
  addresses: Address[];
  clock: ManualClock;
  seed?: number;
  /** Transport MTU of routes (TCP header + payload), like RouteInfo.mtu. Default 1460 + 20 + 20 - 20 = 1480. */
  mtu?: number;
  tcp?: Partial<TcpStackOptions>;
}

export class TestStack implements StackContext {
  readonly clock: ManualClock;
  readonly random: SeededRandom;
  readonly stats: Stats = newStats();
  readonly tcp: TcpProtocol;
  readonly addresses: Address[];
  mtu: number;
  /** Where sent segments go; set by the harness. */
  wire: Wire = () => {};
  private readonly endpoints = new Map<string, TransportEndpoint>();
  private readonly ports = new Map<number, number>();
  private nextPort = 40000;

  constructor(o: TestStackOptions) {
    this.clock = o.clock;
    this.random = new SeededRandom(o.seed ?? 1);
    this.addresses = o.addresses;
    this.mtu = o.mtu ?? 1480;
    this.tcp = new TcpProtocol(this, { ...structuredClone(HARNESS_BUFFERS), ...o.tcp });
  }

  findRoute(
    _nic: number,
    local: Address | undefined,
    remote: Address,
    netProto: NetworkProtocolNumber,
  ): Route {
    const want = netProto === IPV6_PROTOCOL_NUMBER ? 16 : 4;
    if (remote.length !== want) throw new ErrNoRoute();
    const src = local ?? this.addresses.find((a) => a.length === want);
    if (!src) throw new ErrNoRoute();
    return new TestRoute(this, netProto, src, remote, this.mtu);
  }

  registerTransportEndpoint(
    _nic: number,
    netProtos: readonly NetworkProtocolNumber[],
    _transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
    _flags: PortFlags,
  ): void {
    const keys = netProtos.map((np) => key(np, id));
    for (const k of keys) if (this.endpoints.has(k)) throw new ErrPortInUse();
    for (const k of keys) this.endpoints.set(k, ep);
  }

  unregisterTransportEndpoint(
    _nic: number,
    netProtos: readonly NetworkProtocolNumber[],
    _transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
  ): void {
    for (const np of netProtos) {
      const k = key(np, id);
      if (this.endpoints.get(k) === ep) this.endpoints.delete(k);
    }
  }

  reservePort(
    _netProtos: readonly NetworkProtocolNumber[],
    _transProto: TransportProtocolNumber,
    _addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): number {
    if (port === 0) {
      for (let i = 0; i < 20000; i++) {
        const p = this.nextPort++;
        if (!this.ports.has(p)) {
          this.ports.set(p, 1);
          return p;
        }
      }
      throw new ErrNoPortAvailable();
    }
    const n = this.ports.get(port) ?? 0;
    if (n > 0 && !flags.reuseAddress) throw new ErrPortInUse();
    this.ports.set(port, n + 1);
    return port;
  }

  releasePort(
    _netProtos: readonly NetworkProtocolNumber[],
    _transProto: TransportProtocolNumber,
    _addr: Address | undefined,
    port: number,
  ): void {
    const n = (this.ports.get(port) ?? 0) - 1;
    if (n <= 0) this.ports.delete(port);
    else this.ports.set(port, n);
  }

  hasAddress(_nic: number, addr: Address): boolean {
    return this.addresses.some((a) => a.equals(addr));
  }

  transportOptions(): Record<string, unknown> {
    return {};
  }

  /** Number of registered endpoint keys (for leak checks). */
  get registeredCount(): number {
    return this.endpoints.size;
  }

  /**
   * Delivers a TCP segment that arrived from `src` to `dst` (demux like the stack: exact 4-tuple, then
   * listener), in an IP packet with TOS / Traffic Class `tos` (its ECN field: RFC 3168 §5).
   */
  deliver(bytes: Uint8Array, src: Address, dst: Address, netProto: NetworkProtocolNumber, tos = 0): void {
    const pkt = PacketBuffer.wrap(bytes.slice());
    const info: TransportPacketInfo = { nic: 1, netProto, src, dst, ttl: 64, tos };
    const ports = this.tcp.parsePorts(bytes, 0, bytes.length);
    if (!ports || bytes.length < 20) {
      this.stats.malformedRcvdPackets++;
      return;
    }
    const id: TransportEndpointId = {
      localPort: ports.dst,
      localAddress: dst,
      remotePort: ports.src,
      remoteAddress: src,
    };
    const ep =
      this.endpoints.get(key(netProto, id)) ??
      this.endpoints.get(
        key(netProto, { localPort: ports.dst, localAddress: dst, remotePort: 0, remoteAddress: undefined }),
      ) ??
      this.endpoints.get(
        key(netProto, {
          localPort: ports.dst,
          localAddress: undefined,
          remotePort: 0,
          remoteAddress: undefined,
        }),
      );
    if (ep) ep.handlePacket(id, pkt, info);
    else this.tcp.handleUnknownDestinationPacket(id, pkt, info, this);
  }
}

function key(np: NetworkProtocolNumber, id: TransportEndpointId): string {
  return `${np === IPV4_PROTOCOL_NUMBER ? 4 : 6}|${id.localPort}|${id.localAddress?.key ?? "*"}|${id.remotePort}|${id.remoteAddress?.key ?? "*"}`;
}

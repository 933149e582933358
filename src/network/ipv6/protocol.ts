/**
 * The IPv6 network protocol (RFC 8200) as the stack sees it: one protocol
 * object per stack, one `Ipv6Endpoint` per NIC. The protocol owns what is
 * shared across NICs: the fragment reassembler (RFC 8200 §4.5), the path MTU
 * cache (RFC 8201) and the ICMPv6 error rate limiter (RFC 4443 §2.4(f)).
 */

import { IPV6_DST_OFFSET, IPV6_HEADER_SIZE, IPV6_MINIMUM_MTU, IPV6_SRC_OFFSET } from "../../header/ipv6.ts";
import type {
  NetworkProtocol,
  NetworkProtocolFactory,
  NicContext,
  StackContext,
} from "../../stack/registration.ts";
import { TokenBucket } from "../../stack/token-bucket.ts";
import { Address } from "../../tcpip/address.ts";
import type { Timer } from "../../tcpip/clock.ts";
import { IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { IPV6_REASSEMBLY_TIMEOUT_MS, Reassembler } from "../fragmentation/reassembler.ts";
import { Ipv6Endpoint } from "./endpoint.ts";

export interface Ipv6Options {
  /** RFC 4862 §5.1 DupAddrDetectTransmits (1); 0 turns DAD off. */
  dupAddrDetectTransmits?: number;
  /** Make fe80::/64 + modified EUI-64 on Ethernet NICs (RFC 4862 §5.3). Default true. */
  autoLinkLocal?: boolean;
  /** Router solicitations sent when a NIC comes up (RFC 4861 §10 MAX_RTR_SOLICITATIONS = 3). */
  maxRouterSolicitations?: number;
  /** Learn default routers, on-link prefixes and MTU from router advertisements (hosts only). Default true. */
  handleRouterAdvertisements?: boolean;
  /** Stateless address autoconfiguration from prefix information (RFC 4862 §5.5.3). Default true. */
  autoGenerateAddresses?: boolean;
  /** RFC 8200 §4.5: 60 s. */
  reassemblyTimeoutMs?: number;
  /** ICMPv6 error rate (RFC 4443 §2.4(f)): tokens per second and burst (Linux and gVisor: 1000/s, burst 50). */
  icmpErrorsPerSecond?: number;
  icmpErrorBurst?: number;
  /** Hop limit of packets this layer makes itself (echo replies, errors). Default 64. */
  defaultHopLimit?: number;
  /** Multicast Listener Discovery reports for joined groups (RFC 2710). Default true. */
  mld?: boolean;
}

/** Context kept with the fragment at offset 0 so a timeout can quote it (RFC 8200 §4.5). */
export interface FirstFragment {
  ep: Ipv6Endpoint;
  /** The first fragment's packet from its IPv6 header, at most what an ICMPv6 error may quote. */
  bytes: Uint8Array;
}

/** RFC 8201 §5.3: "an attempt to detect an increase ... should be done at less frequent intervals ... the recommended setting for this timer is twice its minimum value (10 minutes)". */
export const PMTU_AGING_MS = 10 * 60_000;
/**
 * At most this many learnt path MTUs: a Packet Too Big can quote any
 * destination, so an off-path sender could otherwise grow the cache (and its
 * timers) without bound. The least recently updated entry goes first (RFC 8201
 * §5.2 leaves the cache's management to the implementation; Linux bounds its
 * route cache the same way).
 */
export const MAX_PATH_MTU_ENTRIES = 4096;

export class Ipv6Protocol implements NetworkProtocol {
  readonly number = IPV6_PROTOCOL_NUMBER;
  readonly name = "ipv6";
  readonly addressLength = 16;
  readonly minimumPacketSize = IPV6_HEADER_SIZE;
  readonly defaultTtl: number;
  readonly opts: Required<Ipv6Options>;
  readonly reassembler: Reassembler<FirstFragment>;
  readonly errorLimiter: TokenBucket;
  private readonly pmtu = new Map<string, { mtu: number; timer: Timer }>();
  private readonly endpoints = new Set<Ipv6Endpoint>();

  constructor(
    readonly stack: StackContext,
    opts: Ipv6Options = {},
  ) {
    this.opts = {
      dupAddrDetectTransmits: opts.dupAddrDetectTransmits ?? 1,
      autoLinkLocal: opts.autoLinkLocal ?? true,
      maxRouterSolicitations: opts.maxRouterSolicitations ?? 3,
      handleRouterAdvertisements: opts.handleRouterAdvertisements ?? true,
      autoGenerateAddresses: opts.autoGenerateAddresses ?? true,
      reassemblyTimeoutMs: opts.reassemblyTimeoutMs ?? IPV6_REASSEMBLY_TIMEOUT_MS,
      icmpErrorsPerSecond: opts.icmpErrorsPerSecond ?? 1000,
      icmpErrorBurst: opts.icmpErrorBurst ?? 50,
      defaultHopLimit: opts.defaultHopLimit ?? 64,
      mld: opts.mld ?? true,
    };
    this.defaultTtl = this.opts.defaultHopLimit;
    this.reassembler = new Reassembler<FirstFragment>({
      clock: stack.clock,
      stats: stack.stats.fragments,
      timeoutMs: this.opts.reassemblyTimeoutMs,
      overlap: "discard",
      // RFC 8200 §4.5: the reassembled Payload Length may not exceed 65535 (no jumbograms, RFC 2675).
      maxPayloadSize: 65535,
      onTimeout: (_key, first) => first?.ep.reassemblyTimedOut(first.bytes),
    });
    this.errorLimiter = new TokenBucket(stack.clock, this.opts.icmpErrorsPerSecond, this.opts.icmpErrorBurst);
  }

  newEndpoint(nic: NicContext): Ipv6Endpoint {
    const ep = new Ipv6Endpoint(this, nic);
    this.endpoints.add(ep);
    return ep;
  }

  /** @internal */
  endpointClosed(ep: Ipv6Endpoint): void {
    this.endpoints.delete(ep);
  }

  parseAddresses(b: Uint8Array, off: number, len: number): { src: Address; dst: Address } | undefined {
    if (len < IPV6_HEADER_SIZE || off + IPV6_HEADER_SIZE > b.length || b[off]! >> 4 !== 6) return undefined;
    return {
      src: Address.fromBytes(b, off + IPV6_SRC_OFFSET, 16),
      dst: Address.fromBytes(b, off + IPV6_DST_OFFSET, 16),
    };
  }

  /** The path MTU to `dst` learnt from Packet Too Big, if lower than the link's. */
  pathMtu(dst: Address): number | undefined {
    return this.pmtu.get(dst.key)?.mtu;
  }

  /**
   * RFC 8201 §4: a Packet Too Big lowers the estimate, never below 1280
   * ("A node MUST NOT reduce the estimate of the Path MTU below the IPv6
   * minimum link MTU"); it ages out after `PMTU_AGING_MS`. Returns the new estimate.
   */
  updatePathMtu(dst: Address, mtu: number, linkMtu: number): number {
    const key = dst.key;
    const cur = this.pmtu.get(key);
    const est = Math.max(IPV6_MINIMUM_MTU, Math.min(mtu, cur?.mtu ?? linkMtu));
    if (cur) {
      cur.mtu = est;
      cur.timer.reset(PMTU_AGING_MS);
      // Map order is insertion order: move it to the newest end.
      this.pmtu.delete(key);
      this.pmtu.set(key, cur);
    } else {
      if (this.pmtu.size >= MAX_PATH_MTU_ENTRIES) {
        const [oldestKey, oldest] = this.pmtu.entries().next().value!;
        oldest.timer.stop();
        this.pmtu.delete(oldestKey);
      }
      const timer = this.stack.clock.afterFunc(PMTU_AGING_MS, () => this.pmtu.delete(key));
      this.pmtu.set(key, { mtu: est, timer });
    }
    return est;
  }

  close(): void {
    this.reassembler.clear();
    for (const e of this.pmtu.values()) e.timer.stop();
    this.pmtu.clear();
    for (const ep of [...this.endpoints]) ep.close();
  }
}

/** The factory `new Stack({ networkProtocols: [ipv6()] })` takes. */
export function ipv6(opts: Ipv6Options = {}): NetworkProtocolFactory {
  return (stack) => new Ipv6Protocol(stack, opts);
}

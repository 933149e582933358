/**
 * The neighbour cache of one NIC for one network protocol: the RFC 4861 §7.3
 * state machine (INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, plus FAILED and
 * static entries), used by ARP for IPv4 (as Linux and gVisor do) and by NDP
 * for IPv6. Packets wait in the entry while it is INCOMPLETE; when resolution
 * fails they are dropped, counted, and their senders told (`onUnresolved`,
 * reported to endpoints as `ErrNoLinkAddress`).
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import type { Address } from "../tcpip/address.ts";
import type { Clock, Timer } from "../tcpip/clock.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { NetworkProtocolNumber } from "../tcpip/protocols.ts";
import type { Random } from "../tcpip/random.ts";
import type {
  LinkAddressResolver,
  NeighborConfirmationFlags,
  NeighborEntry,
  NeighborState,
  NeighborTable,
} from "./registration.ts";

/** RFC 4861 §10 protocol constants (times in ms), and our queue limits. */
export interface NeighborConfig {
  /** BASE_REACHABLE_TIME (30 s). */
  baseReachableTimeMs: number;
  /** RETRANS_TIMER (1 s). */
  retransmitTimerMs: number;
  /** MAX_MULTICAST_SOLICIT (3): broadcast requests while INCOMPLETE. */
  maxMulticastProbes: number;
  /** MAX_UNICAST_SOLICIT (3): unicast probes in PROBE. */
  maxUnicastProbes: number;
  /** DELAY_FIRST_PROBE_TIME (5 s). */
  delayFirstProbeTimeMs: number;
  /** MIN_RANDOM_FACTOR / MAX_RANDOM_FACTOR (0.5, 1.5). */
  minRandomFactor: number;
  maxRandomFactor: number;
  /** Packets held per INCOMPLETE entry (Linux `unres_qlen_bytes` is in bytes; we count packets). */
  maxQueuedPerEntry: number;
  /** Entries kept; above it the oldest non-static, non-INCOMPLETE entries go (Linux `gc_thresh3`). */
  maxEntries: number;
  /** How long a FAILED entry stays before it is removed. */
  failedLifetimeMs: number;
}

export const DEFAULT_NEIGHBOR_CONFIG: Readonly<NeighborConfig> = {
  baseReachableTimeMs: 30_000,
  retransmitTimerMs: 1_000,
  maxMulticastProbes: 3,
  maxUnicastProbes: 3,
  delayFirstProbeTimeMs: 5_000,
  minRandomFactor: 0.5,
  maxRandomFactor: 1.5,
  maxQueuedPerEntry: 32,
  maxEntries: 1024,
  failedLifetimeMs: 30_000,
};

interface Waiting {
  pkt: PacketBuffer;
  protocol: NetworkProtocolNumber;
  onUnresolved: ((pkt: PacketBuffer) => void) | undefined;
}

class Entry implements NeighborEntry {
  linkAddress: LinkAddress | undefined;
  state: NeighborState = "incomplete";
  isRouter = false;
  timer: Timer | undefined;
  /** Requests sent in the current INCOMPLETE or PROBE phase. */
  probes = 0;
  queue: Waiting[] = [];
  /** Source hint for requests. */
  localAddress: Address | undefined;
  constructor(readonly address: Address) {}
}

/** What the cache needs from its NIC. */
export interface NeighborCacheHost {
  clock: Clock;
  random: Random;
  /** Writes a resolved packet to the link. */
  writeResolved(pkt: PacketBuffer, protocol: NetworkProtocolNumber, linkAddress: LinkAddress): void;
  /** Counts a dropped packet. */
  dropped(): void;
}

export class NeighborCache implements NeighborTable {
  private readonly table = new Map<string, Entry>();
  readonly config: NeighborConfig;
  /** The randomized ReachableTime (RFC 4861 §6.3.2), recomputed when the base changes. */
  private reachableTimeMs: number;

  constructor(
    private readonly host: NeighborCacheHost,
    private readonly resolver: LinkAddressResolver,
    config: Partial<NeighborConfig> = {},
  ) {
    this.config = { ...DEFAULT_NEIGHBOR_CONFIG, ...config };
    this.reachableTimeMs = this.randomReachableTime();
  }

  /** RFC 4861 §6.3.2: "a uniformly distributed random value between MIN_RANDOM_FACTOR and MAX_RANDOM_FACTOR times BaseReachableTime". */
  private randomReachableTime(): number {
    const c = this.config;
    const f =
      c.minRandomFactor + (this.host.random.u32() / 4294967296) * (c.maxRandomFactor - c.minRandomFactor);
    return Math.round(c.baseReachableTimeMs * f);
  }

  /** Changes the base reachable time (an NDP Router Advertisement may carry one). */
  setBaseReachableTime(ms: number): void {
    this.config.baseReachableTimeMs = ms;
    this.reachableTimeMs = this.randomReachableTime();
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * Sends `pkt` to `addr`: at once when the link address is known, else after
   * resolution (RFC 4861 §7.2.2: "the sender ... queue the packet ... while
   * address resolution is performed").
   */
  send(
    addr: Address,
    localAddress: Address | undefined,
    pkt: PacketBuffer,
    protocol: NetworkProtocolNumber,
    onUnresolved?: (pkt: PacketBuffer) => void,
  ): void {
    let e = this.table.get(addr.key);
    if (e && e.state === "failed") {
      // Linux restarts resolution for a FAILED neighbour on the next packet; so do we.
      this.removeEntry(e);
      e = undefined;
    }
    if (!e) {
      e = this.newEntry(addr);
      e.localAddress = localAddress;
      this.enqueue(e, pkt, protocol, onUnresolved);
      this.startIncomplete(e);
      return;
    }
    switch (e.state) {
      case "incomplete":
        this.enqueue(e, pkt, protocol, onUnresolved);
        return;
      case "stale":
        // RFC 4861 §7.3.3: "the first time a node sends a packet to a neighbor whose entry is STALE,
        // the sender changes the state to DELAY and sets a timer to expire in DELAY_FIRST_PROBE_TIME".
        this.setState(e, "delay", this.config.delayFirstProbeTimeMs);
        break;
      default:
        break;
    }
    this.host.writeResolved(pkt, protocol, e.linkAddress!);
  }

  private newEntry(addr: Address): Entry {
    if (this.table.size >= this.config.maxEntries) this.evictOne();
    const e = new Entry(addr);
    this.table.set(addr.key, e);
    return e;
  }

  private evictOne(): void {
    for (const e of this.table.values()) {
      if (e.state === "static" || e.state === "incomplete") continue;
      this.removeEntry(e);
      return;
    }
  }

  private enqueue(
    e: Entry,
    pkt: PacketBuffer,
    protocol: NetworkProtocolNumber,
    onUnresolved: ((pkt: PacketBuffer) => void) | undefined,
  ): void {
    if (e.queue.length >= this.config.maxQueuedPerEntry) {
      // Like Linux's neigh queue: the oldest packet makes room for the newest.
      e.queue.shift();
      this.host.dropped();
    }
    // The packet may live in a link's receive buffer (a forwarded packet), which the link reuses once
    // delivery returns: keep a copy of what waits.
    e.queue.push({ pkt: pkt.compact(pkt.headroom), protocol, onUnresolved });
  }

  private startIncomplete(e: Entry): void {
    e.state = "incomplete";
    e.probes = 0;
    this.sendRequest(e, undefined);
  }

  private sendRequest(e: Entry, unicast: LinkAddress | undefined): void {
    e.probes++;
    const entry = e;
    e.timer?.stop();
    e.timer = this.host.clock.afterFunc(this.config.retransmitTimerMs, () => this.onRetransmit(entry));
    this.resolver.linkAddressRequest(e.address, e.localAddress, unicast);
  }

  private onRetransmit(e: Entry): void {
    if (this.table.get(e.address.key) !== e) return;
    if (e.state === "incomplete") {
      // RFC 4861 §7.2.2: "If no Neighbor Advertisement is received after MAX_MULTICAST_SOLICIT
      // solicitations, address resolution has failed."
      if (e.probes >= this.config.maxMulticastProbes) this.fail(e);
      else this.sendRequest(e, undefined);
      return;
    }
    if (e.state === "probe") {
      // RFC 4861 §7.3.3: after MAX_UNICAST_SOLICIT probes without an answer the entry is deleted.
      if (e.probes >= this.config.maxUnicastProbes) this.fail(e);
      else this.sendRequest(e, e.linkAddress);
    }
  }

  private fail(e: Entry): void {
    e.timer?.stop();
    e.state = "failed";
    e.linkAddress = undefined;
    const queue = e.queue;
    e.queue = [];
    const entry = e;
    e.timer = this.host.clock.afterFunc(this.config.failedLifetimeMs, () => {
      if (this.table.get(entry.address.key) === entry && entry.state === "failed") this.removeEntry(entry);
    });
    this.resolver.resolutionFailed?.(e.address);
    for (const w of queue) {
      this.host.dropped();
      w.onUnresolved?.(w.pkt);
    }
  }

  private setState(e: Entry, state: NeighborState, timeoutMs?: number): void {
    e.state = state;
    e.timer?.stop();
    e.timer = undefined;
    if (timeoutMs === undefined) return;
    const entry = e;
    e.timer = this.host.clock.afterFunc(timeoutMs, () => this.onStateTimer(entry));
  }

  private onStateTimer(e: Entry): void {
    if (this.table.get(e.address.key) !== e) return;
    switch (e.state) {
      case "reachable":
        // RFC 4861 §7.3.3: "When ReachableTime milliseconds have passed since receipt of the last
        // reachability confirmation for a neighbor, the Neighbor Cache entry's state changes from
        // REACHABLE to STALE."
        this.setState(e, "stale");
        return;
      case "delay":
        // RFC 4861 §7.3.3: "If the entry is still in the DELAY state when the timer expires, the
        // entry's state changes to PROBE."
        e.state = "probe";
        e.probes = 0;
        this.sendRequest(e, e.linkAddress);
        return;
      default:
        return;
    }
  }

  private resolved(e: Entry, linkAddress: LinkAddress, state: NeighborState): void {
    e.linkAddress = linkAddress;
    this.setState(e, state, state === "reachable" ? this.reachableTimeMs : undefined);
    const queue = e.queue;
    e.queue = [];
    for (const w of queue) this.host.writeResolved(w.pkt, w.protocol, linkAddress);
  }

  handleProbe(addr: Address, linkAddress: LinkAddress): void {
    const e = this.table.get(addr.key);
    if (!e) {
      // RFC 4861 §7.2.3: "If an entry does not already exist, the node SHOULD create a new one and
      // set its reachability state to STALE."
      this.resolved(this.newEntry(addr), linkAddress, "stale");
      return;
    }
    if (e.state === "static") return;
    if (e.state === "incomplete" || e.state === "failed") {
      this.resolved(e, linkAddress, "stale");
      return;
    }
    // "If an entry already exists, and the cached link-layer address differs from the one in the
    // received Source Link-Layer option, the cached address should be replaced by the received
    // address, and the entry's reachability state MUST be set to STALE."
    if (!e.linkAddress?.equals(linkAddress)) this.resolved(e, linkAddress, "stale");
  }

  handleConfirmation(
    addr: Address,
    linkAddress: LinkAddress | undefined,
    flags: NeighborConfirmationFlags,
  ): void {
    const e = this.table.get(addr.key);
    // RFC 4861 §7.2.5: "If no entry exists, the advertisement SHOULD be silently discarded."
    if (!e || e.state === "static") return;
    if (e.state === "incomplete" || e.state === "failed") {
      // "If the link layer has addresses and no Target Link-Layer Address option is included, the
      // receiving node SHOULD silently discard the received advertisement."
      if (!linkAddress) return;
      e.isRouter = flags.isRouter;
      // "If the advertisement's Solicited flag is set, the state of the entry is set to REACHABLE;
      // otherwise, it is set to STALE."
      this.resolved(e, linkAddress, flags.solicited ? "reachable" : "stale");
      return;
    }
    const differs = linkAddress !== undefined && !e.linkAddress?.equals(linkAddress);
    if (!flags.override && differs) {
      // "If the Override flag is clear and the supplied link-layer address differs from that in the
      // cache, then ... if its state is REACHABLE, set it to STALE, but do not update the entry."
      if (e.state === "reachable") this.setState(e, "stale");
      return;
    }
    e.isRouter = flags.isRouter;
    if (flags.solicited) {
      this.resolved(e, linkAddress ?? e.linkAddress!, "reachable");
    } else if (differs) {
      this.resolved(e, linkAddress!, "stale");
    }
  }

  handleUpperLevelConfirmation(addr: Address): void {
    const e = this.table.get(addr.key);
    if (!e?.linkAddress) return;
    if (e.state === "reachable" || e.state === "stale" || e.state === "delay" || e.state === "probe") {
      this.setState(e, "reachable", this.reachableTimeMs);
    }
  }

  entry(addr: Address): NeighborEntry | undefined {
    return this.table.get(addr.key);
  }

  entries(): NeighborEntry[] {
    return [...this.table.values()].map((e) => ({
      address: e.address,
      linkAddress: e.linkAddress,
      state: e.state,
      isRouter: e.isRouter,
    }));
  }

  addStatic(addr: Address, linkAddress: LinkAddress): void {
    let e = this.table.get(addr.key);
    if (!e) e = this.newEntry(addr);
    this.resolved(e, linkAddress, "static");
  }

  remove(addr: Address): boolean {
    const e = this.table.get(addr.key);
    if (!e) return false;
    this.removeEntry(e);
    return true;
  }

  private removeEntry(e: Entry): void {
    e.timer?.stop();
    e.timer = undefined;
    this.table.delete(e.address.key);
    for (const _ of e.queue) this.host.dropped();
    e.queue = [];
  }

  /** Drops every entry and stops every timer. */
  clear(): void {
    for (const e of [...this.table.values()]) this.removeEntry(e);
  }
}

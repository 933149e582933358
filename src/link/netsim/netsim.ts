/**
 * A deterministic network simulator: one in-memory path between two IP-mode
 * link endpoints, with a bottleneck of configurable bandwidth, a drop-tail
 * queue counted in bytes, one-way propagation delay, random loss,
 * duplication and reordering.
 *
 * Time is the injected `Clock` (a `ManualClock` in tests: packets move only
 * inside `clock.advance`, so a 100 MB transfer over a 100 ms path runs in
 * simulated time, as fast as the CPU allows) and chance is the injected
 * `Random` (a `SeededRandom`: the same seed gives the same losses, the same
 * trace and the same counters on every run).
 *
 * The model of one direction, per packet written by the sender's stack:
 *
 *   1. loss: with probability `lossRate` the packet is lost (`droppedLoss`);
 *      the `drop` option, if given, drops chosen packets (`droppedFilter`)
 *      after that draw;
 *   2. queue: the bottleneck queue holds every byte accepted but not yet
 *      fully serialised (the packet being put on the wire included). When the
 *      packet does not fit in `queueBytes`, it is dropped at the tail
 *      (`droppedQueue`), as a drop-tail router queue does. With
 *      `ceThresholdBytes`, an ECN-capable packet that finds at least that many
 *      bytes queued ahead of it is marked CE (`ceMarked`, RFC 3168 §5) and
 *      queued; Not-ECT packets are left to the tail drop;
 *   3. serialisation: the bottleneck sends one packet at a time, each taking
 *      `size * 8 / bandwidthBps` seconds, after the ones before it;
 *   4. propagation: the packet arrives `delayMs` after its last bit left;
 *   5. reordering: with probability `reorderRate` it is held `reorderDelayMs`
 *      longer, so packets sent after it overtake it (`reordered`);
 *   6. duplication: with probability `duplicateRate` a second copy arrives
 *      right after it (`duplicated`); the copy is made past the bottleneck, so
 *      it takes no queue space or bandwidth.
 *
 * Random draws happen in that order, one per feature whose rate is not zero
 * (a feature that is off draws nothing), from the one `Random` both
 * directions share; events run in clock order, so the draws do too.
 *
 * The sender never learns of a loss: `writePackets` accepts every packet that
 * fits the MTU, as a NIC does, and the path drops it later. Each packet is
 * copied when it is written (the sender may reuse its buffer at once) and
 * arrives as a fresh buffer without metadata, as from a real wire.
 *
 * Delivery happens only from the clock's timers (one per direction, re-armed
 * for the earliest arrival), never inside a `writePackets` call, so stacks on
 * both ends never nest into each other.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksumUpdate2 } from "../../header/checksum.ts";
import type { Clock, Timer } from "../../tcpip/clock.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { Random } from "../../tcpip/random.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";

/** The shape of one direction of the path. Every field is optional: the default is a perfect wire. */
export interface PathOptions {
  /** Bottleneck rate in bits per second; 0 or `Infinity` (default) means no serialisation delay. */
  bandwidthBps?: number;
  /** One-way propagation delay in milliseconds (default 0). */
  delayMs?: number;
  /** Bottleneck queue limit in bytes, drop-tail (default `Infinity`). */
  queueBytes?: number;
  /**
   * ECN marking at the bottleneck (RFC 3168 §5, a step threshold like DCTCP's K, RFC 8257 §3.1): a packet
   * sent ECT(0) or ECT(1) that arrives with at least this many bytes queued ahead of it is marked CE
   * instead of being left unmarked (default `Infinity`: no marking). Not-ECT packets are unaffected.
   */
  ceThresholdBytes?: number;
  /** Probability that a packet is lost, in [0, 1] (default 0). */
  lossRate?: number;
  /** Probability that a packet arrives twice, in [0, 1] (default 0). */
  duplicateRate?: number;
  /** Probability that a packet is held back by `reorderDelayMs`, in [0, 1] (default 0). */
  reorderRate?: number;
  /** Extra delay of a reordered packet in milliseconds (default 0). */
  reorderDelayMs?: number;
  /**
   * Drops chosen packets (counted in `droppedFilter`): called with the packet's index in this
   * direction (0 for the first packet written) and its bytes, after the packet's loss draw, so a test
   * can lose "the third data segment" and every other packet meets the same random losses.
   */
  drop?: (index: number, bytes: Uint8Array) => boolean;
}

export interface NetSimOptions {
  clock: Clock;
  random: Random;
  /** MTU of both endpoints (default 1500). Larger writes are dropped and counted. */
  mtu?: number;
  /** The direction from endpoint `a` to endpoint `b`. */
  aToB?: PathOptions;
  /** The direction from `b` to `a` (default: the same as `aToB`). */
  bToA?: PathOptions;
}

/** Counters of one direction. Bytes are network-layer bytes (IP header included). */
export interface PathStats {
  /** Packets written into this direction (accepted by the endpoint). */
  sent: number;
  bytesSent: number;
  /** Packets handed to the receiving dispatcher (duplicates included). */
  delivered: number;
  bytesDelivered: number;
  /** Packets lost to `lossRate`. */
  droppedLoss: number;
  /** Packets dropped by the `drop` option. */
  droppedFilter: number;
  /** Packets dropped because the bottleneck queue was full. */
  droppedQueue: number;
  /** ECN-capable packets marked CE at the `ceThresholdBytes` threshold. */
  ceMarked: number;
  /** Extra copies made by `duplicateRate`. */
  duplicated: number;
  /** Packets held back by `reorderRate`. */
  reordered: number;
  /** Packets that arrived while the receiving endpoint was detached or closed. */
  droppedDetached: number;
  /** Writes refused for exceeding the MTU. */
  droppedOversize: number;
  /** Writes refused because the sending endpoint was closed. */
  droppedClosed: number;
  /** The largest bottleneck queue occupancy seen, in bytes. */
  maxQueueBytes: number;
}

function newPathStats(): PathStats {
  return {
    sent: 0,
    bytesSent: 0,
    delivered: 0,
    bytesDelivered: 0,
    droppedLoss: 0,
    droppedFilter: 0,
    droppedQueue: 0,
    ceMarked: 0,
    duplicated: 0,
    reordered: 0,
    droppedDetached: 0,
    droppedOversize: 0,
    droppedClosed: 0,
    maxQueueBytes: 0,
  };
}

interface Flight {
  at: number;
  order: number;
  protocol: number;
  bytes: Uint8Array;
}

/** The packets of one direction still on the wire, ordered by (arrival time, write order). */
class FlightHeap {
  private readonly h: Flight[] = [];
  get size(): number {
    return this.h.length;
  }
  peek(): Flight | undefined {
    return this.h[0];
  }
  push(f: Flight): void {
    const h = this.h;
    let i = h.length;
    h.push(f);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(f, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = f;
  }
  pop(): Flight | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
  clear(): void {
    this.h.length = 0;
  }
}

const EMPTY = new Uint8Array(0);

function before(a: Flight, b: Flight): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

function checkRate(v: number): number {
  if (!(v >= 0 && v <= 1)) throw new ErrInvalidOptionValue();
  return v;
}

function checkNonNegative(v: number): number {
  if (!(v >= 0)) throw new ErrInvalidOptionValue();
  return v;
}

/** One direction of the path: the bottleneck queue and the packets in flight after it. */
class Path {
  readonly stats = newPathStats();
  /** Bottleneck rate in bits per second (`Infinity`: none); a packet takes `size * 8000 / bps` ms. */
  private readonly bps: number;
  private readonly delayMs: number;
  private readonly queueLimit: number;
  private readonly ceThreshold: number;
  private readonly lossRate: number;
  private readonly duplicateRate: number;
  private readonly reorderRate: number;
  private readonly reorderDelayMs: number;
  private readonly drop: ((index: number, bytes: Uint8Array) => boolean) | undefined;

  /** When the bottleneck finishes serialising everything accepted so far. */
  private busyUntil = 0;
  /** Bytes accepted and not yet fully serialised, with their finish times (a FIFO). */
  private queued = 0;
  private readonly queueFinish: number[] = [];
  private readonly queueSize: number[] = [];
  private queueHead = 0;

  private readonly flights = new FlightHeap();
  /** Delivered records, reused for later packets (no allocation per packet besides its bytes). */
  private readonly pool: Flight[] = [];
  private order = 0;
  private timer: Timer | undefined;
  private armedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    opts: PathOptions,
    private readonly to: NetSimEndpoint,
  ) {
    const bw = opts.bandwidthBps ?? Number.POSITIVE_INFINITY;
    this.bps = bw === 0 ? Number.POSITIVE_INFINITY : checkNonNegative(bw);
    this.delayMs = checkNonNegative(opts.delayMs ?? 0);
    this.queueLimit = checkNonNegative(opts.queueBytes ?? Number.POSITIVE_INFINITY);
    this.ceThreshold = checkNonNegative(opts.ceThresholdBytes ?? Number.POSITIVE_INFINITY);
    this.lossRate = checkRate(opts.lossRate ?? 0);
    this.duplicateRate = checkRate(opts.duplicateRate ?? 0);
    this.reorderRate = checkRate(opts.reorderRate ?? 0);
    this.reorderDelayMs = checkNonNegative(opts.reorderDelayMs ?? 0);
    this.drop = opts.drop;
  }

  /** Packets accepted and not yet delivered or dropped. */
  get inFlight(): number {
    return this.flights.size;
  }

  /** Bytes in the bottleneck queue now. */
  get queueBytes(): number {
    this.drainQueue(this.clock.now());
    return this.queued;
  }

  send(protocol: number, pkt: PacketBuffer): void {
    const size = pkt.size;
    const st = this.stats;
    const index = st.sent++;
    st.bytesSent += size;
    // The loss draw comes first, so a `drop` choice leaves every other packet's loss draw as it was.
    const lost = this.lossRate > 0 && this.chance() < this.lossRate;
    if (this.drop?.(index, pkt.bytes())) {
      st.droppedFilter++;
      return;
    }
    if (lost) {
      st.droppedLoss++;
      return;
    }
    const now = this.clock.now();
    this.drainQueue(now);
    if (this.queued + size > this.queueLimit) {
      st.droppedQueue++;
      return;
    }
    const mark = this.queued >= this.ceThreshold;
    const start = Math.max(this.busyUntil, now);
    const finish = this.bps === Number.POSITIVE_INFINITY ? start : start + (size * 8000) / this.bps;
    this.busyUntil = finish;
    if (finish > now) {
      this.queued += size;
      this.queueFinish.push(finish);
      this.queueSize.push(size);
      if (this.queued > st.maxQueueBytes) st.maxQueueBytes = this.queued;
    }
    let at = finish + this.delayMs;
    if (this.reorderRate > 0 && this.chance() < this.reorderRate) {
      at += this.reorderDelayMs;
      st.reordered++;
    }
    const bytes = pkt.bytes().slice();
    if (mark && markCe(bytes, protocol)) st.ceMarked++;
    this.schedule(at, protocol, bytes);
    if (this.duplicateRate > 0 && this.chance() < this.duplicateRate) {
      st.duplicated++;
      this.schedule(at, protocol, bytes.slice());
    }
  }

  /** Forgets everything in flight and stops the timer. */
  close(): void {
    this.timer?.stop();
    this.flights.clear();
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private chance(): number {
    return this.random.u32() / 4294967296;
  }

  /** Removes from the queue what the bottleneck finished serialising by `now`. */
  private drainQueue(now: number): void {
    const fin = this.queueFinish;
    let i = this.queueHead;
    while (i < fin.length && fin[i]! <= now) {
      this.queued -= this.queueSize[i]!;
      i++;
    }
    if (i === fin.length) {
      fin.length = 0;
      this.queueSize.length = 0;
      this.queueHead = 0;
    } else if (i > 1024 && i * 2 > fin.length) {
      fin.splice(0, i);
      this.queueSize.splice(0, i);
      this.queueHead = 0;
    } else {
      this.queueHead = i;
    }
  }

  private schedule(at: number, protocol: number, bytes: Uint8Array): void {
    const f = this.pool.pop() ?? { at: 0, order: 0, protocol: 0, bytes };
    f.at = at;
    f.order = this.order++;
    f.protocol = protocol;
    f.bytes = bytes;
    this.flights.push(f);
    if (f.at < this.armedAt) this.arm(f.at);
  }

  private arm(at: number): void {
    this.armedAt = at;
    const delay = Math.max(0, at - this.clock.now());
    if (this.timer) this.timer.reset(delay);
    else this.timer = this.clock.afterFunc(delay, () => this.fire());
  }

  private fire(): void {
    // The timer fired at (about) `armedAt`; float rounding of `now + delay` must not leave
    // that packet behind, so deliver up to whichever is later.
    const until = Math.max(this.clock.now(), this.armedAt);
    this.armedAt = Number.POSITIVE_INFINITY;
    for (let f = this.flights.peek(); f !== undefined && f.at <= until; f = this.flights.peek()) {
      this.flights.pop();
      const { protocol, bytes } = f;
      f.bytes = EMPTY;
      this.pool.push(f);
      this.deliver(protocol, bytes);
    }
    const next = this.flights.peek();
    if (next !== undefined && next.at < this.armedAt) this.arm(next.at);
  }

  private deliver(protocol: number, bytes: Uint8Array): void {
    const st = this.stats;
    const d = this.to.dispatcherIfOpen();
    if (!d) {
      st.droppedDetached++;
      return;
    }
    st.delivered++;
    st.bytesDelivered += bytes.length;
    d.deliverNetworkPacket(protocol, PacketBuffer.wrap(bytes));
  }
}

/** One end of the simulated path: an IP-mode `LinkEndpoint` for a stack's NIC. */
export class NetSimEndpoint implements LinkEndpoint {
  readonly mtu: number;
  readonly capabilities = LinkCapability.None;
  readonly maxHeaderLength = 0;
  readonly linkAddress = LinkAddress.EMPTY;
  private dispatcher: NetworkDispatcher | undefined;
  private isClosed = false;
  /** @internal The direction this endpoint writes into (set by `NetSim`). */
  out!: Path;

  constructor(mtu: number) {
    this.mtu = mtu;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /**
   * Puts packets on the path. Returns how many were accepted: all but those
   * larger than the MTU and all after `close()`. Losses on the path are not
   * reported here (the sender cannot see them); they show in `stats`.
   */
  writePackets(pkts: readonly PacketBuffer[]): number {
    let accepted = 0;
    const st = this.out.stats;
    for (const pkt of pkts) {
      if (this.isClosed) {
        st.droppedClosed++;
        continue;
      }
      if (pkt.size > this.mtu) {
        st.droppedOversize++;
        continue;
      }
      this.out.send(pkt.networkProtocol || protocolFromVersion(pkt), pkt);
      accepted++;
    }
    return accepted;
  }

  /** Resolves at once: in-flight packets move with the clock, not with this promise. */
  wait(): Promise<void> {
    return Promise.resolve();
  }

  /** Later writes are dropped and counted; packets arriving here are dropped and counted. */
  close(): void {
    this.isClosed = true;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** @internal The dispatcher to deliver to, unless detached or closed. */
  dispatcherIfOpen(): NetworkDispatcher | undefined {
    return this.isClosed ? undefined : this.dispatcher;
  }
}

/**
 * The simulated path with its two endpoints: give `a` to one stack's NIC and
 * `b` to the other's, then advance the clock.
 */
export class NetSim {
  readonly a: NetSimEndpoint;
  readonly b: NetSimEndpoint;
  private readonly ab: Path;
  private readonly ba: Path;

  constructor(opts: NetSimOptions) {
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68) throw new ErrInvalidOptionValue();
    this.a = new NetSimEndpoint(mtu);
    this.b = new NetSimEndpoint(mtu);
    const aToB = opts.aToB ?? {};
    this.ab = new Path(opts.clock, opts.random, aToB, this.b);
    this.ba = new Path(opts.clock, opts.random, opts.bToA ?? aToB, this.a);
    this.a.out = this.ab;
    this.b.out = this.ba;
  }

  /** Counters of the direction from `a` to `b`. */
  get statsAToB(): Readonly<PathStats> {
    return this.ab.stats;
  }

  /** Counters of the direction from `b` to `a`. */
  get statsBToA(): Readonly<PathStats> {
    return this.ba.stats;
  }

  /** Packets on the path in either direction (queued or propagating). */
  get inFlight(): number {
    return this.ab.inFlight + this.ba.inFlight;
  }

  /** Bytes in the bottleneck queue of each direction now. */
  queueBytes(direction: "aToB" | "bToA"): number {
    return direction === "aToB" ? this.ab.queueBytes : this.ba.queueBytes;
  }

  /** Stops both directions: packets in flight are forgotten and no timer stays armed. */
  close(): void {
    this.a.close();
    this.b.close();
    this.ab.close();
    this.ba.close();
  }
}

/**
 * Sets the ECN field of an ECN-capable IP packet to CE (RFC 3168 §5: "a router ... sets the CE codepoint"
 * only in packets with ECT(0) or ECT(1)); returns whether it did. IPv4 keeps its header checksum valid
 * (RFC 1624 incremental update); IPv6 has none.
 */
function markCe(b: Uint8Array, protocol: number): boolean {
  if (protocol === IPV4_PROTOCOL_NUMBER) {
    if (b.length < 20) return false;
    const tos = b[1]!;
    if ((tos & 3) === 0 || (tos & 3) === 3) return false;
    const old = (b[0]! << 8) | tos;
    b[1] = tos | 3;
    const c = checksumUpdate2((b[10]! << 8) | b[11]!, old, old | 3);
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    return true;
  }
  if (protocol === IPV6_PROTOCOL_NUMBER) {
    // Traffic Class is bits 4–11 of the first word; its ECN field is the top two bits of the low nibble of byte 1.
    if (b.length < 40) return false;
    const ecn = (b[1]! >>> 4) & 3;
    if (ecn === 0 || ecn === 3) return false;
    b[1] = b[1]! | 0x30;
    return true;
  }
  return false;
}

/** For a packet written without `networkProtocol`: the IP version nibble decides (0 if neither). */
function protocolFromVersion(pkt: PacketBuffer): number {
  if (pkt.size === 0) return 0;
  const v = pkt.data[pkt.head]! >>> 4;
  return v === 4 ? IPV4_PROTOCOL_NUMBER : v === 6 ? IPV6_PROTOCOL_NUMBER : 0;
}

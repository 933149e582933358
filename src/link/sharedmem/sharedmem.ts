import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";
import { futexWaiter } from "./futex-waiter.ts";
import type { NotifierOptions } from "./queue/notifier.ts";
import { RxQueue } from "./queue/rx.ts";
import { TxQueue } from "./queue/tx.ts";
import {
  createSharedMemRegion,
  FRAME_HEADER_ALLOWANCE,
  readSharedMemRegion,
  type SharedMemRegionInfo,
  type SharedMemRegionOptions,
} from "./region.ts";

/** Most packets handed up per wake-up before yielding to the event loop. */
const DEFAULT_BATCH = 256;
/** Buffers are given back to the sender every this many packets within a batch, so it need not wait for the batch end. */
const COMPLETE_EVERY = 32;

export interface SharedMemEndpointOptions {
  /** Which end of the region this is: 0 or 1 (the two ends must differ). */
  side: 0 | 1;
  /** Frame mode: this end's MAC, the `linkAddress` an `EthernetEndpoint` on top will use. */
  linkAddress?: LinkAddress;
  /** Packets handed up per wake-up before yielding to the event loop (default 256). */
  batchSize?: number;
  /**
   * After a turn that found packets (or a `waitWritable` that found no
   * buffers), keep polling from the event loop (`setImmediate`) for this many
   * milliseconds before going to sleep: fewer wake-ups under load for some
   * CPU. Default 0 (off); an idle link never spins longer than this.
   */
  spinMs?: number;
  /**
   * How an idle side sleeps over a non-shared (mmap'd memfd) region, where
   * `Atomics.waitAsync` cannot: "futex" (default) blocks a helper Worker in
   * futex(2) and is woken by the peer (futex-waiter.ts); "poll" re-checks
   * every `pollMs`. Over a SharedArrayBuffer neither is used.
   */
  crossProcessWait?: "futex" | "poll";
  /** With `crossProcessWait: "poll"`: milliseconds between re-checks while idle (default 1). */
  pollMs?: number;
  /** Called when the dispatcher throws; the endpoint counts it and goes on. */
  onError?: (error: unknown) => void;
}

export interface SharedMemEndpointStats {
  rxPackets: number;
  rxBytes: number;
  /** Packets dropped on the way in: bad descriptors, empty packets, no IP version to go by. */
  rxMalformed: number;
  /** Dispatcher exceptions. */
  rxErrors: number;
  /** Times an idle reader was woken. */
  rxWakeups: number;
  /** Drains that stopped at `batchSize` with more waiting. */
  rxBatchLimited: number;
  txPackets: number;
  txBytes: number;
  /** Packets dropped because every buffer was in flight (the peer is slow or gone). */
  txFull: number;
  /** Packets larger than the MTU (plus 14 in frame mode), dropped. */
  txOversize: number;
  /** Lanes on which the peer broke the protocol (then nothing more moves on that lane). */
  peerBroken: number;
}

/**
 * A `LinkEndpoint` over shared memory (the seed's `sharedmem`): two stacks in
 * two Workers, two processes, or one thread exchange packets through the
 * queues of one region (region.ts) with no syscall per packet.
 *
 * Outbound, `writePackets` copies each packet into the peer-visible data
 * buffers of our sending lane and posts its descriptor; one commit and at most
 * one `Atomics.notify` per call. A full lane drops the rest of the batch
 * (counted; the stack sees the count) as a NIC's full TX ring would;
 * `waitWritable()` lets a bulk sender wait for buffers to come back.
 *
 * Inbound, while attached, a reader drains up to `batchSize` packets per
 * event-loop turn, copying each into its own buffer and handing it to the
 * dispatcher synchronously, then yields (`setImmediate`) if more are waiting.
 * An idle reader sleeps in `Atomics.waitAsync` on the lane's doorbell and
 * costs no CPU; the sender only notifies when the reader said it sleeps.
 * While detached, nothing is read: packets wait in the lane (and the sender
 * sees it fill up), as on a link whose receiver is down.
 *
 * IP mode (default): no link header, the protocol travels in the descriptor
 * (or comes from the IP version nibble when the writer left it 0). Frame mode
 * (`frames` in the region): whole Ethernet frames both ways (`carriesFrames`)
 * for an `EthernetEndpoint` on top.
 *
 * The endpoint does not keep the process or Worker alive by itself.
 *
 * Across Workers, create the region in one and post it to the other:
 *
 *   const region = createSharedMemRegion({ mtu: 1500 });      // SharedArrayBuffer
 *   const link = new SharedMemEndpoint(region, { side: 0 });
 *   worker.postMessage(region);
 *   // in the Worker: new SharedMemEndpoint(event.data, { side: 1 })
 *
 * Across processes, `createMemfdRegion()` (memfd.ts) and pass its fd to the
 * child (e.g. as an extra `Bun.spawn` stdio entry), which calls
 * `openMemfdRegion(3)` and opens side 1 on the result.
 */
export class SharedMemEndpoint implements LinkEndpoint {
  readonly mtu: number;
  readonly capabilities = LinkCapability.None;
  readonly maxHeaderLength = 0;
  readonly linkAddress: LinkAddress;
  readonly carriesFrames: boolean;
  readonly stats: SharedMemEndpointStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxMalformed: 0,
    rxErrors: 0,
    rxWakeups: 0,
    rxBatchLimited: 0,
    txPackets: 0,
    txBytes: 0,
    txFull: 0,
    txOversize: 0,
    peerBroken: 0,
  };
  /** The region's parameters, as read from its header. */
  readonly region: SharedMemRegionInfo;

  private readonly tx: TxQueue;
  private readonly rx: RxQueue;
  private readonly maxPacket: number;
  private readonly batchSize: number;
  private readonly spinMs: number;
  private lastPacketAt = 0;
  private readonly onError: ((error: unknown) => void) | undefined;
  private dispatcher: NetworkDispatcher | undefined;
  /** "idle": no reader turn pending; "scheduled": a setImmediate is; "waiting": asleep on the doorbell. */
  private reader: "idle" | "scheduled" | "waiting" = "idle";
  private closed = false;
  private txBrokenSeen = false;
  private rxBrokenSeen = false;

  /** Opens one end of a region (see region.ts); the buffer must stay alive while the endpoint is used. */
  constructor(
    readonly buffer: ArrayBufferLike,
    opts: SharedMemEndpointOptions,
  ) {
    if (opts.side !== 0 && opts.side !== 1) throw new ErrInvalidOptionValue();
    const info = readSharedMemRegion(buffer);
    this.region = info;
    this.mtu = info.mtu;
    this.carriesFrames = info.frames;
    this.maxPacket = info.mtu + (info.frames ? FRAME_HEADER_ALLOWANCE : 0);
    const mine = info.lanes[opts.side];
    const theirs = info.lanes[1 - opts.side]!;
    const wait: NotifierOptions = {};
    if (opts.pollMs !== undefined) wait.pollMs = opts.pollMs;
    if ((opts.crossProcessWait ?? "futex") === "futex") wait.external = futexWaiter;
    this.tx = new TxQueue(buffer, mine.base, info.config, wait);
    this.rx = new RxQueue(buffer, theirs.base, info.config, wait);
    if (opts.linkAddress && opts.linkAddress.length !== 6) throw new ErrInvalidOptionValue();
    this.linkAddress = (info.frames && opts.linkAddress) || LinkAddress.EMPTY;
    const batch = opts.batchSize ?? DEFAULT_BATCH;
    if (!Number.isInteger(batch) || batch < 1) throw new ErrInvalidOptionValue();
    this.batchSize = batch;
    const spin = opts.spinMs ?? 0;
    if (!(spin >= 0)) throw new ErrInvalidOptionValue();
    this.spinMs = spin;
    this.onError = opts.onError;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
    if (dispatcher && !this.closed && this.reader === "idle") this.schedule();
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  writePackets(pkts: readonly PacketBuffer[]): number {
    if (this.closed) return 0;
    let accepted = 0;
    for (const pkt of pkts) {
      const size = pkt.tail - pkt.head;
      if (size > this.maxPacket) {
        this.stats.txOversize++;
        continue;
      }
      const protocol = this.carriesFrames
        ? 0
        : pkt.networkProtocol || protocolFromVersion(pkt.data[pkt.head]);
      if (!this.tx.enqueue(pkt.data, pkt.head, pkt.tail, protocol)) {
        this.stats.txFull++;
        this.checkBroken();
        break;
      }
      accepted++;
      this.stats.txPackets++;
      this.stats.txBytes += size;
    }
    this.tx.commit();
    return accepted;
  }

  /**
   * Resolves when at least `minFree` data buffers are free (default: a
   * quarter of them, so a bulk sender wakes once per large batch of
   * completions rather than once per completion flush); at once when that
   * many are free already, or after `close()`. A bulk sender awaits it after
   * `writePackets` accepted fewer packets than it offered.
   */
  async waitWritable(minFree = Math.max(1, this.region.config.bufferCount >>> 2)): Promise<void> {
    const want = Math.min(minFree, this.region.config.bufferCount);
    const spinUntil = this.spinMs > 0 ? performance.now() + this.spinMs : 0;
    while (!this.closed && !this.tx.broken) {
      if (this.tx.freeBuffers >= want) return;
      this.tx.reap();
      if (this.tx.freeBuffers >= want) return;
      if (spinUntil > 0 && performance.now() < spinUntil) {
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      const w = this.tx.waitCompletions();
      if (w) await w;
    }
  }

  wait(): Promise<void> {
    return Promise.resolve();
  }

  /** Stops reading and refuses writes. The shared buffer is left as it is (the peer may still hold it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher = undefined;
    // Let a sleeping reader's promise settle now rather than at the peer's next write.
    if (this.reader === "waiting") this.rx.dataNotifier.wake();
    this.rx.close();
    this.tx.close();
  }

  private schedule(): void {
    this.reader = "scheduled";
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.reader = "idle";
    if (!this.dispatcher || this.closed) return;
    const n = this.drain(this.dispatcher);
    if (n >= this.batchSize) {
      this.stats.rxBatchLimited++;
      this.schedule();
      return;
    }
    if (n > 0 && this.rx.hasPending()) {
      this.schedule();
      return;
    }
    if (this.spinMs > 0) {
      const now = performance.now();
      if (n > 0) this.lastPacketAt = now;
      if (now - this.lastPacketAt < this.spinMs) {
        this.schedule();
        return;
      }
    }
    this.sleep();
  };

  private sleep(): void {
    const notifier = this.rx.dataNotifier;
    const token = notifier.prepare();
    // Re-check after raising the flag: a commit after this point is sure to notify us (notifier.ts).
    if (this.rx.hasPending()) {
      notifier.cancel();
      this.schedule();
      return;
    }
    if (this.rx.broken) this.checkBroken();
    const w = notifier.wait(token);
    if (!w) {
      this.schedule();
      return;
    }
    this.reader = "waiting";
    w.then(this.woken, this.woken);
  }

  private readonly woken = (): void => {
    this.reader = "idle";
    this.stats.rxWakeups++;
    this.turn();
  };

  private drain(d: NetworkDispatcher): number {
    const rx = this.rx;
    const before = rx.stats.malformed;
    let n = 0;
    while (n < this.batchSize) {
      const size = rx.next();
      if (size < 0) break;
      n++;
      if (size === 0) {
        rx.drop();
        this.stats.rxMalformed++;
        continue;
      }
      const data = rx.copyOut();
      if (!data) continue;
      let protocol = rx.protocol;
      if (!this.carriesFrames && protocol === 0) {
        protocol = protocolFromVersion(data[0]);
        if (protocol === 0) {
          this.stats.rxMalformed++;
          continue;
        }
      }
      const pkt = new PacketBuffer(data, 0, size);
      pkt.networkProtocol = protocol;
      this.stats.rxPackets++;
      this.stats.rxBytes += size;
      if (n % COMPLETE_EVERY === 0) rx.flush();
      try {
        d.deliverNetworkPacket(protocol, pkt);
      } catch (e) {
        this.stats.rxErrors++;
        this.onError?.(e);
      }
      // The dispatcher may have detached us or closed the link.
      if (this.dispatcher !== d) break;
    }
    rx.flush();
    this.stats.rxMalformed += rx.stats.malformed - before;
    if (rx.broken) this.checkBroken();
    return n;
  }

  private checkBroken(): void {
    if (!this.txBrokenSeen && this.tx.broken) {
      this.txBrokenSeen = true;
      this.stats.peerBroken++;
    }
    if (!this.rxBrokenSeen && this.rx.broken) {
      this.rxBrokenSeen = true;
      this.stats.peerBroken++;
    }
  }
}

function protocolFromVersion(first: number | undefined): number {
  const v = (first ?? 0) >>> 4;
  return v === 4 ? IPV4_PROTOCOL_NUMBER : v === 6 ? IPV6_PROTOCOL_NUMBER : 0;
}

/** Options for `createSharedMemPair`: the region's, plus each end's. */
export interface SharedMemPairOptions extends SharedMemRegionOptions {
  batchSize?: number;
  spinMs?: number;
  /** Frame mode: the MACs of end A and end B. */
  linkAddresses?: [LinkAddress, LinkAddress];
  onError?: (error: unknown) => void;
}

/** Two connected endpoints over a fresh region in this thread (for tests and in-process stacks). */
export function createSharedMemPair(opts: SharedMemPairOptions = {}): [SharedMemEndpoint, SharedMemEndpoint] {
  const buffer = createSharedMemRegion(opts);
  const end = (side: 0 | 1): SharedMemEndpoint => {
    const o: SharedMemEndpointOptions = { side };
    if (opts.batchSize !== undefined) o.batchSize = opts.batchSize;
    if (opts.spinMs !== undefined) o.spinMs = opts.spinMs;
    const mac = opts.linkAddresses?.[side];
    if (mac) o.linkAddress = mac;
    if (opts.onError) o.onError = opts.onError;
    return new SharedMemEndpoint(buffer, o);
  };
  return [end(0), end(1)];
}

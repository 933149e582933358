import { PipeRx } from "../pipe/rx.ts";
import { PipeTx } from "../pipe/tx.ts";
import {
  COMPLETION_SIZE,
  DESCRIPTOR_BUFFER_SIZE,
  DESCRIPTOR_HEADER_SIZE,
  LANE_COMPLETION_DOORBELL,
  LANE_DATA_DOORBELL,
  type LaneLayout,
  laneLayout,
  maxBuffersPerPacket,
  type QueueConfig,
} from "./layout.ts";
import { Notifier, type NotifierOptions } from "./notifier.ts";

/** Chunks up to this size are copied byte by byte: cheaper than making a `subarray` view for `set`. */
const SMALL_COPY = 128;

/**
 * The sending side of a lane (the seed's `queue.Tx`): copies each packet into
 * free data buffers, posts a descriptor naming them, and takes the buffers
 * back when the receiver completes the descriptor's id.
 *
 * Which buffers are free or in flight is kept in private memory, never in the
 * shared region, so a receiver can return only ids we actually posted: an
 * unknown or repeated id is counted in `badCompletions` and ignored.
 */
export class TxQueue {
  readonly stats = {
    packets: 0,
    bytes: 0,
    /** Packets refused because every buffer (or the descriptor ring) was in flight. */
    full: 0,
    /** Completions for ids not in flight, or of the wrong size. */
    badCompletions: 0,
  };
  /** Largest packet `enqueue` accepts. */
  readonly maxPacketSize: number;
  /** Rings the receiver's doorbell (`commit` does). */
  readonly dataNotifier: Notifier;
  /** The receiver rings this after returning buffers; wait on it when out of buffers. */
  readonly completionNotifier: Notifier;

  private readonly layout: LaneLayout;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly descriptors: PipeTx;
  private readonly completions: PipeRx;
  private readonly bufferSize: number;
  private readonly bufferCount: number;
  /** Stack of free buffer indexes. */
  private readonly free: Int32Array;
  private freeTop: number;
  /** For each buffer in flight, the next buffer of the same packet (-1 at the end). */
  private readonly chain: Int32Array;
  /** 1 where a packet whose first buffer is this index is in flight. */
  private readonly inFlight: Uint8Array;

  /** `wait`: how to sleep over a non-shared (mmap'd) buffer (notifier.ts). */
  constructor(buffer: ArrayBufferLike, base: number, config: QueueConfig, wait: NotifierOptions = {}) {
    this.layout = laneLayout(base, config);
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    this.descriptors = new PipeTx(buffer, this.layout.descriptorBase, config.descriptorCapacity);
    this.completions = new PipeRx(buffer, this.layout.completionBase, config.completionCapacity);
    this.dataNotifier = new Notifier(buffer, (base >>> 2) + LANE_DATA_DOORBELL, wait);
    this.completionNotifier = new Notifier(buffer, (base >>> 2) + LANE_COMPLETION_DOORBELL, wait);
    this.bufferSize = config.bufferSize;
    this.bufferCount = config.bufferCount;
    this.maxPacketSize = Math.min(
      config.maxPacketSize,
      config.bufferSize * Math.min(config.bufferCount, maxBuffersPerPacket(config)),
    );
    this.free = new Int32Array(config.bufferCount);
    for (let i = 0; i < config.bufferCount; i++) this.free[i] = config.bufferCount - 1 - i;
    this.freeTop = config.bufferCount;
    this.chain = new Int32Array(config.bufferCount).fill(-1);
    this.inFlight = new Uint8Array(config.bufferCount);
  }

  /** Buffers not in flight. */
  get freeBuffers(): number {
    return this.freeTop;
  }

  /** Whether either pipe saw the receiver misbehave (the lane is then dead for sending). */
  get broken(): boolean {
    return this.descriptors.broken || this.completions.broken;
  }

  /**
   * Copies `src[start, end)` into data buffers and posts its descriptor
   * (visible to the receiver after `commit`). Returns false, copying nothing,
   * when the packet is larger than `maxPacketSize` or no room is left even
   * after taking back completed buffers.
   */
  enqueue(src: Uint8Array, start: number, end: number, protocol: number): boolean {
    const size = end - start;
    if (!(size >= 0 && size <= this.maxPacketSize)) return false;
    const bs = this.bufferSize;
    const count = size === 0 ? 1 : Math.ceil(size / bs);
    if (count > this.freeTop) this.reap();
    if (count > this.freeTop) {
      this.stats.full++;
      return false;
    }
    const at = this.descriptors.push(DESCRIPTOR_HEADER_SIZE + DESCRIPTOR_BUFFER_SIZE * count);
    if (at < 0) {
      this.stats.full++;
      return false;
    }
    const w = at >>> 2;
    const u32 = this.u32;
    const dataBase = this.layout.dataBase;
    let prev = -1;
    let first = -1;
    let from = start;
    for (let i = 0; i < count; i++) {
      const b = this.free[--this.freeTop]!;
      const n = Math.min(bs, end - from);
      const off = b * bs;
      if (n > SMALL_COPY) this.u8.set(src.subarray(from, from + n), dataBase + off);
      else for (let k = 0, d = dataBase + off; k < n; k++) this.u8[d + k] = src[from + k]!;
      from += n;
      u32[w + 4 + 2 * i] = off;
      u32[w + 5 + 2 * i] = n;
      if (prev >= 0) this.chain[prev] = b;
      else first = b;
      prev = b;
    }
    this.chain[prev] = -1;
    this.inFlight[first] = 1;
    u32[w] = first;
    u32[w + 1] = size;
    u32[w + 2] = protocol >>> 0;
    u32[w + 3] = count;
    this.stats.packets++;
    this.stats.bytes += size;
    return true;
  }

  /** Publishes the descriptors enqueued since the last commit and wakes the receiver if it sleeps. */
  commit(): void {
    if (this.descriptors.uncommitted === 0) return;
    this.descriptors.commit();
    this.dataNotifier.signal();
  }

  /** Takes back the buffers of every completed packet; returns how many packets completed. */
  reap(): number {
    let n = 0;
    for (;;) {
      const len = this.completions.pull();
      if (len < 0) break;
      const id = this.u32[this.completions.offset >>> 2]! >>> 0;
      if (len !== COMPLETION_SIZE || id >= this.bufferCount || this.inFlight[id] !== 1) {
        this.stats.badCompletions++;
        continue;
      }
      this.inFlight[id] = 0;
      for (let b = id; b >= 0; ) {
        const next = this.chain[b]!;
        this.chain[b] = -1;
        this.free[this.freeTop++] = b;
        b = next;
      }
      n++;
    }
    this.completions.flush();
    return n;
  }

  /**
   * Resolves once the receiver has returned buffers (or at once, as undefined,
   * if some are already waiting to be reaped).
   */
  waitCompletions(): Promise<unknown> | undefined {
    const token = this.completionNotifier.prepare();
    if (this.completions.hasPending()) {
      this.completionNotifier.cancel();
      return undefined;
    }
    return this.completionNotifier.wait(token);
  }

  /** Releases the notifiers' helper threads, if any. */
  close(): void {
    this.dataNotifier.close();
    this.completionNotifier.close();
  }
}

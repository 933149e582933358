/**
 * A wire between two channels, so two stacks can talk in a test.
 *
 * Packets move only when the test calls `flush()` (or `step()`): each stack's
 * writes stay queued in its channel until then, so nothing is delivered while a
 * stack is still inside its own write call, and a test with a `ManualClock`
 * sees the same trace on every run. `flush()` moves packets in rounds (all of
 * A's queue, then all of B's) until both queues are empty; replies written
 * during delivery join the queue and go in a later round, so delivery never
 * nests. `maxPerFlush` bounds a flush, so an ACK war ends a test instead of
 * hanging it.
 *
 * Each packet arrives as a fresh copy of its bytes with no metadata, as from a
 * real wire: the receiving stack cannot see or change the sender's buffer.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import type { ChannelEndpoint, PacketInfo } from "./channel.ts";

export interface PipeOptions {
  /**
   * Decides per packet whether it crosses (`true`) or is lost (`false`, counted
   * in `stats.filtered`): for loss simulation with a `SeededRandom`, or to drop
   * a specific segment in a TCP test.
   */
  filter?: (from: ChannelEndpoint, info: PacketInfo) => boolean;
  /** Most packets one `flush()` moves (default 100 000). */
  maxPerFlush?: number;
  /**
   * Flush automatically after every write on either side (default false).
   * Delivery then happens inside the writer's `writePackets` call (re-entrant
   * into the writing stack), but never nests more than one level: a write made
   * during an automatic flush is picked up by the running flush.
   */
  auto?: boolean;
}

export class Pipe {
  readonly stats = {
    /** Packets moved from A to B. */
    aToB: 0,
    /** Packets moved from B to A. */
    bToA: 0,
    /** Packets lost to `filter`. */
    filtered: 0,
  };

  private flushing = false;
  private readonly maxPerFlush: number;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    readonly a: ChannelEndpoint,
    readonly b: ChannelEndpoint,
    private readonly opts: PipeOptions = {},
  ) {
    this.maxPerFlush = opts.maxPerFlush ?? 100_000;
    if (opts.auto) {
      const kick = () => {
        if (!this.flushing) this.flush();
      };
      this.unsubscribe.push(a.onWrite(kick), b.onWrite(kick));
    }
  }

  /** Packets waiting on either side. */
  get pending(): number {
    return this.a.queued + this.b.queued;
  }

  /**
   * Moves packets both ways until both queues are empty (or `maxPerFlush` is
   * reached). Returns how many packets were taken off the queues. Calling it
   * from inside a delivery (re-entrantly) returns 0 at once: the running flush
   * picks the new packets up.
   */
  flush(): number {
    if (this.flushing) return 0;
    this.flushing = true;
    let moved = 0;
    try {
      while (moved < this.maxPerFlush && this.pending > 0) {
        moved += this.moveRound(this.a, this.b, this.maxPerFlush - moved);
        moved += this.moveRound(this.b, this.a, this.maxPerFlush - moved);
      }
    } finally {
      this.flushing = false;
    }
    return moved;
  }

  /** Moves the single oldest packet from A to B, or else from B to A; returns whether one moved. */
  step(): boolean {
    if (this.flushing) return false;
    this.flushing = true;
    try {
      if (this.a.queued > 0) return this.moveOne(this.a, this.b);
      if (this.b.queued > 0) return this.moveOne(this.b, this.a);
      return false;
    } finally {
      this.flushing = false;
    }
  }

  /** Disconnects the automatic flush (the channels stay usable). */
  close(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  private moveRound(from: ChannelEndpoint, to: ChannelEndpoint, budget: number): number {
    // Only what is queued now: replies written during delivery wait for the next round.
    const n = Math.min(from.queued, budget);
    for (let k = 0; k < n; k++) this.moveOne(from, to);
    return n;
  }

  private moveOne(from: ChannelEndpoint, to: ChannelEndpoint): boolean {
    const info = from.read();
    if (!info) return false;
    if (this.opts.filter && !this.opts.filter(from, info)) {
      this.stats.filtered++;
      return true;
    }
    if (from === this.a) this.stats.aToB++;
    else this.stats.bToA++;
    const copy = PacketBuffer.withPayload(0, info.pkt.bytes());
    to.injectInbound(info.protocol, copy);
    return true;
  }
}

/** Wires two channels together with a `Pipe` (see there); call `flush()` to move packets. */
export function connectChannels(a: ChannelEndpoint, b: ChannelEndpoint, opts: PipeOptions = {}): Pipe {
  return new Pipe(a, b, opts);
}

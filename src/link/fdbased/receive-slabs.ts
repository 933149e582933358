import { ptr } from "bun:ffi";
import type { BufferLease } from "../../buffer/packet-buffer.ts";

/**
 * One receive slab: packets are read into it back to back. It is also the
 * lease (`PacketBuffer.lease`) of every packet read into it: a layer that
 * keeps a view of one holds it, so the slab is rewound for new packets only
 * when nothing holds it.
 */
export class Slab implements BufferLease {
  readonly data: Uint8Array;
  /** Address of `data` for read(2). */
  readonly address: number;
  /** Views of it kept above (`hold` minus `release`). */
  holds = 0;

  constructor(size: number) {
    this.data = new Uint8Array(size);
    this.address = ptr(this.data);
  }

  hold(): void {
    this.holds++;
  }

  release(): void {
    this.holds--;
  }
}

/** Bytes per receive slab: packets are copied or read back to back into one. */
export const RECEIVE_SLAB_SIZE = 1 << 20;

/** Default `batchBytes` of both fd endpoints, which fill these slabs (see that option). */
export const DEFAULT_BATCH_BYTES = 256 * 1024;

/** Held slabs kept for reuse once released; past this many the oldest is left to the garbage collector. */
const MAX_RETIRED = 8;

/**
 * Receive memory for a link that reads packets from an fd (issue 10). Before,
 * every filled slab was dropped and a fresh one allocated: at gigabits per
 * second that is hundreds of MiB a second of new memory, and the runtime
 * collected garbage every few MiB, stalling the link's thread for 5–15 ms at
 * a time (measured on the `--offload` upload: the kernel sender then fired a
 * tail-loss probe). Now a filled slab that nothing holds is rewound; one that
 * is held waits among the retired until released, and only when none is free
 * is a new one allocated.
 *
 * Packets' bytes are rewritten after their delivery returns, so the stack
 * above must copy what it keeps or hold the lease (link-endpoint.ts).
 */
export class ReceiveSlabs {
  private slab: Slab;
  private offset = 0;
  private readonly retired: Slab[] = [];
  /** Slabs allocated (the first included), for tests and stats. */
  allocated = 1;

  /**
   * @param size bytes per slab
   * @param maxRead the most one read may write: a slab with less room left is replaced first
   */
  constructor(
    private readonly size: number,
    private readonly maxRead: number,
  ) {
    if (size < maxRead) throw new RangeError(`slab size ${size} is below the largest read ${maxRead}`);
    this.slab = new Slab(size);
  }

  /** The slab the next read goes into, with room for `maxRead` bytes at `offset`. */
  current(): Slab {
    if (this.size - this.offset < this.maxRead) this.replace();
    return this.slab;
  }

  /** Where in `current()` the next read goes. */
  get readOffset(): number {
    return this.offset;
  }

  /** Records that `n` bytes were read at `readOffset` (the next read starts 8-byte aligned after them). */
  advance(n: number): void {
    this.offset = (this.offset + n + 7) & ~7;
  }

  private replace(): void {
    const full = this.slab;
    this.offset = 0;
    if (full.holds === 0) return; // rewound: every packet in it is gone
    const retired = this.retired;
    for (let i = 0; i < retired.length; i++) {
      const s = retired[i]!;
      if (s.holds === 0) {
        retired[i] = full;
        this.slab = s;
        return;
      }
    }
    retired.push(full);
    if (retired.length > MAX_RETIRED) retired.shift();
    this.slab = new Slab(this.size);
    this.allocated++;
  }
}

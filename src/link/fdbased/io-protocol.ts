/**
 * Shared layout between `threaded-endpoint.ts` (the stack's thread) and
 * `io-worker.ts` (the threads that own the packet syscalls).
 *
 * Two single-producer single-consumer rings of fixed-size slots over
 * SharedArrayBuffers: RX (reader worker → main) and TX (main → writer
 * worker). Each ring has a data buffer (`slots × slotSize` bytes) and a
 * length per slot; the producer fills slot `head & (slots - 1)`, stores its
 * length, then publishes `head + 1`; the consumer reads slots up to `head`
 * and publishes its `tail`. Indices are free-running 32-bit counters
 * (compared as `(head - tail) | 0`), so `slots` is a power of two.
 *
 * A consumer that finds its ring empty raises its SLEEP cell, looks at
 * `head` once more and only then waits on the cell; a producer publishes
 * `head` and then looks at the cell, and wakes the sleeper (clearing the cell)
 * only if it is raised. Both sides use sequentially consistent atomics, so
 * one of them always sees the other (no lost wake-up), and a busy consumer
 * costs the producer no notify at all. A producer that finds its ring full
 * does the same with its SPACE cell, which the consumer clears and notifies
 * after freeing slots.
 */

/** Int32 cells of the control buffer, each on its own 64-byte line (no false sharing between threads). */
const LINE = 16;
export const RX_HEAD = 0 * LINE;
export const RX_TAIL = 1 * LINE;
/** 1 while the main thread waits (`Atomics.waitAsync`) for the RX ring to fill. */
export const RX_SLEEP = 2 * LINE;
/** 1 while the reader waits for room in the RX ring. */
export const RX_SPACE = 3 * LINE;
export const TX_HEAD = 4 * LINE;
export const TX_TAIL = 5 * LINE;
/** 1 while the writer waits for packets in the TX ring. */
export const TX_SLEEP = 6 * LINE;
/** 1 while the main thread waits for room in the TX ring. */
export const TX_SPACE = 7 * LINE;
/** Worker-side counters and flags, written by one worker each and read by the main thread. */
export const STATUS = 8 * LINE;
/** 1: both workers stop (the reader is also woken through its eventfd). */
export const STOP = STATUS + 0;
/** errno of the reader's failed read() or poll(), when it stopped for one. */
export const RX_ERRNO = STATUS + 1;
/** 1 once the reader saw the peer hang up (a socket fd); it has stopped reading. */
export const RX_HANGUP = STATUS + 2;
/** Empty reads (0 bytes) on a fd that did not hang up: dropped. */
export const RX_EMPTY = STATUS + 3;
/** Times the reader woke a sleeping main thread. */
export const RX_NOTIFIES = STATUS + 4;
/** write() failures other than EAGAIN (the packet is dropped). */
export const TX_ERRORS = STATUS + 5;
/** Packets still refused with EAGAIN after the writer waited for the fd: dropped. */
export const TX_EAGAIN = STATUS + 6;
/** errno of the last write() failure. */
export const TX_ERRNO = STATUS + 7;
/** poll() calls the reader made (it found the fd empty). */
export const RX_POLLS = STATUS + 8;
/** Int32 cells in the control buffer. */
export const CONTROL_CELLS = STATUS + LINE;

export interface IoWorkerStart {
  role: "rx" | "tx";
  fd: number;
  /** The reader's stop signal: an eventfd it polls beside `fd` (-1 for the writer). */
  wakeFd: number;
  control: SharedArrayBuffer;
  /** The ring this worker works on: `slots × slotSize` bytes and `slots` Int32 lengths. */
  data: SharedArrayBuffer;
  lengths: SharedArrayBuffer;
  slots: number;
  slotSize: number;
}

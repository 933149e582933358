import { ERRNO } from "../rawfile/errno.ts";
import {
  IORING_OP_READ,
  IORING_OP_WRITE,
  IORING_SETUP_COOP_TASKRUN,
  IORING_SETUP_SINGLE_ISSUER,
  IoUring,
  RWF_NOWAIT,
} from "../rawfile/io-uring.ts";

/**
 * FdEndpoint's opt-in io_uring path (`ioUring: true`, issue 10): a batch of
 * reads, or of writes, in one io_uring_enter(2) instead of one read(2) /
 * write(2) per packet. On this VM a syscall's entry and exit are most of a
 * small packet's cost; bench/io-uring.bench.ts measured (plain TUN, 1500-byte
 * packets) 480–530k → 750–765k packets/s read and 400k → 1.26M written.
 *
 * Reads and writes carry RWF_NOWAIT: each returns -EAGAIN at once when the
 * queue is empty (or a socket's buffer full); io_uring would otherwise arm a
 * poll and keep the request pending, ignoring the fd's O_NONBLOCK. So a
 * batch ends like a read() loop does, a full fd drops like write() does, and
 * the endpoint's readiness machinery (poll worker, hot poll) stays as it is.
 * Every request of a batch completes inside the enter (waitFor = count): the
 * buffers are free again when `reads`/`writes` return.
 */

/** Most requests per io_uring_enter. */
export const URING_BATCH = 32;

let fallbackLogged = false;

/** Opens the ring for `fd`, or returns undefined after logging once why not (the caller uses read/write). */
export function openUringIo(
  fd: number,
  log: (line: string) => void = console.warn,
  setup: typeof IoUring.setup = IoUring.setup,
): UringIo | undefined {
  try {
    return new UringIo(fd, setup({ entries: URING_BATCH, flags: SETUP_FLAGS }));
  } catch (e) {
    if (!fallbackLogged) {
      fallbackLogged = true;
      const why = e instanceof Error ? e.message : String(e);
      log(`io_uring unavailable (${why}); using read(2)/write(2) per packet`);
    }
    return undefined;
  }
}

/** One submitting thread (the endpoint's), completions only inside its enter calls. */
const SETUP_FLAGS = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;

export class UringIo {
  /** `res` of each request of the last `reads`/`writes` call, by index. */
  readonly results = new Int32Array(URING_BATCH);
  private pendingWrites = 0;

  constructor(
    readonly fd: number,
    private readonly ring: IoUring,
  ) {}

  /**
   * `count` (≤ URING_BATCH) nonblocking reads, the i-th into `address + i * stride`
   * (`len` bytes), in one enter. Results land in `results` (bytes or -errno; -EAGAIN
   * once the queue is empty). Returns 0, or -errno when the enter itself failed.
   */
  reads(address: number, stride: number, len: number, count: number): number {
    const ring = this.ring;
    for (let i = 0; i < count; i++)
      ring.prep(IORING_OP_READ, this.fd, address + i * stride, len, i, 0, RWF_NOWAIT);
    return this.complete(count);
  }

  /** Queues one write of `len` bytes at `address`; call `flushWrites` before `URING_BATCH` are queued. */
  queueWrite(address: number, len: number): void {
    this.ring.prep(IORING_OP_WRITE, this.fd, address, len, this.pendingWrites++, 0, RWF_NOWAIT);
  }

  get queuedWrites(): number {
    return this.pendingWrites;
  }

  /** Submits the queued writes in one enter and waits for all; `results[i]` for the i-th. Returns their count or -errno. */
  flushWrites(): number {
    const count = this.pendingWrites;
    this.pendingWrites = 0;
    if (count === 0) return 0;
    const r = this.complete(count);
    return r < 0 ? r : count;
  }

  private complete(count: number): number {
    const ring = this.ring;
    let r = ring.submit(count);
    let seen = 0;
    for (;;) {
      if (r < 0 && r !== -ERRNO.EINTR) {
        // Nothing was submitted (the kernel consumes SQEs only on success): fail them all.
        for (let i = seen; i < count; i++) this.results[i] = r;
        return r;
      }
      const ready = ring.cqReady();
      for (let i = 0; i < ready; i++) this.results[ring.cqeUserData(i)] = ring.cqeRes(i);
      ring.cqAdvance(ready);
      seen += ready;
      if (seen >= count) return 0;
      // Interrupted or short: wait for the rest (already submitted; nothing new to submit).
      r = ring.submit(count - seen);
    }
  }

  close(): void {
    this.ring.close();
  }
}

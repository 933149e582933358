import { addressOf, futexWake } from "../rawfile/mem.ts";
import type { ExternalWaiter } from "./queue/notifier.ts";

/**
 * Sleeping on a doorbell in memory shared with another process (a memfd
 * region), which `Atomics.waitAsync` cannot do: the engine's waiters live in
 * this process only. This is the "wpoll" pattern of fdbased (bun-io research
 * §6.2) with futex(2) in place of poll(2):
 *
 * - the producer, in whatever process, calls FUTEX_WAKE on the doorbell's
 *   address, and only when the consumer raised its waiting flag (notifier.ts);
 * - the consumer's helper Worker (futex-worker.ts) blocks in FUTEX_WAIT on
 *   that address while the doorbell holds the token, then flips a
 *   SharedArrayBuffer cell this thread awaits with `Atomics.waitAsync`.
 *
 * The helper is started on the first wait and never keeps the process
 * alive (`unref`). Its FUTEX_WAIT times out every 100 ms to notice `close()`
 * (and, should a producer not call FUTEX_WAKE, to re-check anyway).
 *
 * For `bun build --compile`, futex-worker.ts must be an extra entrypoint (as
 * fdbased's poll worker is).
 */
export const FUTEX_IDLE = 0;
export const FUTEX_ARMED = 1;
export const FUTEX_FIRED = 2;
export const FUTEX_STOP = 3;

/** What the helper Worker is sent: the doorbell's address and the control cells. */
export interface FutexWorkerStart {
  address: number;
  /** [0] state (IDLE, ARMED, FIRED, STOP), [1] the token to wait past. */
  control: SharedArrayBuffer;
}

export class FutexWaiter implements ExternalWaiter {
  private readonly address: number;
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private worker: Worker | undefined;
  private closed = false;

  /** `cells` must alias memory that stays mapped for the life of the process (mem.ts never unmaps). */
  constructor(cells: Int32Array, index: number) {
    this.address = addressOf(cells, index * 4);
  }

  wake(): void {
    futexWake(this.address, 1);
  }

  wait(token: number): Promise<unknown> {
    if (this.closed) return Promise.resolve();
    const c = this.control;
    if (!this.worker) {
      const w = new Worker(new URL("./futex-worker.ts", import.meta.url));
      w.unref();
      const start: FutexWorkerStart = { address: this.address, control: c.buffer as SharedArrayBuffer };
      w.postMessage(start);
      this.worker = w;
    }
    Atomics.store(c, 1, token);
    Atomics.store(c, 0, FUTEX_ARMED);
    Atomics.notify(c, 0);
    const r = Atomics.waitAsync(c, 0, FUTEX_ARMED);
    return r.async ? r.value : Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, 0, FUTEX_STOP);
    Atomics.notify(this.control, 0);
  }
}

/** The `NotifierOptions.external` factory for memfd regions. */
export function futexWaiter(cells: Int32Array, index: number): ExternalWaiter {
  return new FutexWaiter(cells, index);
}

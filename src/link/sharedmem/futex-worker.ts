/**
 * The helper thread of `FutexWaiter` (futex-waiter.ts): while the main thread
 * has armed it, sleeps in FUTEX_WAIT on the doorbell until the doorbell
 * leaves the token, then flips the control cell to FIRED and notifies.
 * Otherwise it sleeps in `Atomics.wait` on the control cell. It never touches
 * packet bytes.
 */
import { futexWait, peekI32 } from "../rawfile/mem.ts";
import { FUTEX_ARMED, FUTEX_FIRED, FUTEX_STOP, type FutexWorkerStart } from "./futex-waiter.ts";

declare const self: Worker;

/** FUTEX_WAIT timeout: how soon a stop (or a producer that never calls FUTEX_WAKE) is noticed. */
const RECHECK_MS = 100;

function run(start: FutexWorkerStart): void {
  const c = new Int32Array(start.control);
  for (;;) {
    let s = Atomics.load(c, 0);
    while (s !== FUTEX_ARMED && s !== FUTEX_STOP) {
      Atomics.wait(c, 0, s);
      s = Atomics.load(c, 0);
    }
    if (s === FUTEX_STOP) break;
    const token = Atomics.load(c, 1);
    while (Atomics.load(c, 0) === FUTEX_ARMED && peekI32(start.address) === token) {
      futexWait(start.address, token, RECHECK_MS);
    }
    if (Atomics.compareExchange(c, 0, FUTEX_ARMED, FUTEX_FIRED) === FUTEX_ARMED) Atomics.notify(c, 0);
  }
  // Nothing else keeps this thread alive: it ends here.
  self.onmessage = null;
}

self.onmessage = (ev: MessageEvent<FutexWorkerStart>) => run(ev.data);

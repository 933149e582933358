/**
 * The readiness thread of the "wpoll" pattern (bun-io research §2a, §6.2).
 *
 * It never touches packet bytes. It blocks in poll(2) on the packet fd and a
 * wake eventfd; when the packet fd is readable it flips the shared state from
 * ARMED to READY and `Atomics.notify`s the main thread, which drains the fd
 * itself and stores ARMED again. While the state is READY this thread sleeps
 * in `Atomics.wait`, so an idle or paused link costs no CPU.
 *
 * Started by `fd-endpoint.ts` with
 * `new Worker(workerUrl("poll-worker"))` (worker-url.ts). For
 * `bun build --compile`, pass this file as an extra entrypoint:
 *   bun build --compile src/index.ts src/link/fdbased/poll-worker.ts --outfile dist/netstack
 */

import { POLLHUP, POLLIN, PollFds, poll } from "../rawfile/index.ts";
import {
  EINTR_CODE,
  POLL_ARMED,
  POLL_ERRNO,
  POLL_HANGUP,
  POLL_READY,
  POLL_STOP,
  type PollWorkerStart,
} from "./poll-protocol.ts";

declare const self: Worker;

function run(start: PollWorkerStart): void {
  const state = new Int32Array(start.state);
  const fds = new PollFds(2);
  fds.set(0, start.fd, POLLIN);
  fds.set(1, start.wakeFd, POLLIN);
  for (;;) {
    let s = Atomics.load(state, 0);
    while (s === POLL_READY) {
      Atomics.wait(state, 0, POLL_READY);
      s = Atomics.load(state, 0);
    }
    if (s === POLL_STOP) break;
    const r = poll(fds, -1);
    if (r < 0) {
      if (r === -EINTR_CODE) continue;
      // poll itself failed (not the fd): tell the main thread, which reads the error itself.
      Atomics.store(state, POLL_ERRNO, -r);
      Atomics.store(state, 0, POLL_STOP);
      Atomics.notify(state, 0);
      break;
    }
    if (fds.revents(1) !== 0) break;
    const rev = fds.revents(0);
    if (rev & POLLHUP) Atomics.store(state, POLL_HANGUP, 1);
    if (rev !== 0 && Atomics.compareExchange(state, 0, POLL_ARMED, POLL_READY) === POLL_ARMED) {
      Atomics.notify(state, 0);
    }
  }
  self.postMessage("stopped");
}

self.onmessage = (ev: MessageEvent<PollWorkerStart>) => run(ev.data);

/**
 * The packet-syscall threads of `ThreadedFdEndpoint` (threaded-endpoint.ts),
 * one Worker per role, sharing the rings of io-protocol.ts with the main thread:
 *
 * - `rx`: reads packets from the nonblocking fd straight into free RX slots
 *   and publishes each; when the fd is empty it blocks in poll(2) on the fd
 *   and a stop eventfd. It wakes the main thread only if that thread sleeps.
 * - `tx`: write()s each packet of the TX ring in order, one per call; when
 *   the ring is empty it sleeps in `Atomics.wait` until the main thread
 *   publishes more and wakes it.
 *
 * Started with `new Worker(workerUrl("io-worker"))` (worker-url.ts). For
 * `bun build --compile`, pass this file as an extra entrypoint:
 *   bun build --compile src/index.ts src/link/fdbased/poll-worker.ts src/link/fdbased/io-worker.ts --outfile dist/netstack
 */

import { ptr } from "bun:ffi";
import {
  ERRNO,
  POLLHUP,
  POLLIN,
  POLLOUT,
  PollFds,
  poll,
  readAddress,
  writeAddress,
} from "../rawfile/index.ts";
import {
  type IoWorkerStart,
  RX_EMPTY,
  RX_ERRNO,
  RX_HANGUP,
  RX_HEAD,
  RX_NOTIFIES,
  RX_POLLS,
  RX_SLEEP,
  RX_SPACE,
  RX_TAIL,
  STOP,
  TX_EAGAIN,
  TX_ERRNO,
  TX_ERRORS,
  TX_HEAD,
  TX_SLEEP,
  TX_SPACE,
  TX_TAIL,
} from "./io-protocol.ts";

declare const self: Worker;

/** How long a full ring or a refusing fd is waited for before looking at STOP again (ms). */
const RECHECK_MS = 100;
/** EAGAIN retries of one TX packet (each after waiting up to RECHECK_MS for POLLOUT) before it is dropped. */
const TX_EAGAIN_RETRIES = 10;

function runReader(s: IoWorkerStart): void {
  const c = new Int32Array(s.control);
  const lengths = new Int32Array(s.lengths);
  const base = ptr(new Uint8Array(s.data));
  const mask = s.slots - 1;
  const fds = new PollFds(2);
  fds.set(0, s.fd, POLLIN);
  fds.set(1, s.wakeFd, POLLIN);
  let head = Atomics.load(c, RX_HEAD);
  while (Atomics.load(c, STOP) === 0) {
    if (((head - Atomics.load(c, RX_TAIL)) | 0) >= s.slots) {
      // Full: wait for the main thread to free slots (it clears RX_SPACE and notifies).
      Atomics.store(c, RX_SPACE, 1);
      if (((head - Atomics.load(c, RX_TAIL)) | 0) >= s.slots && Atomics.load(c, STOP) === 0) {
        Atomics.wait(c, RX_SPACE, 1, RECHECK_MS);
      }
      Atomics.store(c, RX_SPACE, 0);
      continue;
    }
    const slot = head & mask;
    const n = readAddress(s.fd, base + slot * s.slotSize, s.slotSize);
    if (n > 0) {
      lengths[slot] = n;
      head = (head + 1) | 0;
      Atomics.store(c, RX_HEAD, head);
      if (Atomics.load(c, RX_SLEEP) === 1 && Atomics.compareExchange(c, RX_SLEEP, 1, 0) === 1) {
        Atomics.notify(c, RX_SLEEP);
        Atomics.add(c, RX_NOTIFIES, 1);
      }
      continue;
    }
    if (n === -ERRNO.EAGAIN) {
      Atomics.add(c, RX_POLLS, 1);
      const r = poll(fds, -1);
      if (r < 0) {
        if (r === -ERRNO.EINTR) continue;
        stopReader(c, -r);
        break;
      }
      if (fds.revents(1) !== 0) break;
      continue;
    }
    if (n === -ERRNO.EINTR) continue;
    if (n === 0) {
      // A TUN never returns 0. On a socket it is an empty datagram, or end of file after a hang-up.
      fds.set(0, s.fd, POLLIN);
      if (poll(fds, 0) > 0 && (fds.revents(0) & POLLHUP) !== 0) {
        Atomics.store(c, RX_HANGUP, 1);
        stopReader(c, 0);
        break;
      }
      Atomics.add(c, RX_EMPTY, 1);
      continue;
    }
    stopReader(c, -n); // EBADF and the like: the fd is gone.
    break;
  }
}

/** Records why the reader stopped and wakes the main thread to notice. */
function stopReader(c: Int32Array, errno: number): void {
  if (errno !== 0) Atomics.store(c, RX_ERRNO, errno);
  Atomics.store(c, RX_SLEEP, 0);
  Atomics.notify(c, RX_SLEEP);
}

function runWriter(s: IoWorkerStart): void {
  const c = new Int32Array(s.control);
  const lengths = new Int32Array(s.lengths);
  const base = ptr(new Uint8Array(s.data));
  const mask = s.slots - 1;
  const out = new PollFds(1);
  let tail = Atomics.load(c, TX_TAIL);
  for (;;) {
    let head = Atomics.load(c, TX_HEAD);
    if (head === tail) {
      // Empty: everything queued before a stop has been written.
      if (Atomics.load(c, STOP) !== 0) break;
      Atomics.store(c, TX_SLEEP, 1);
      head = Atomics.load(c, TX_HEAD);
      if (head === tail && Atomics.load(c, STOP) === 0) Atomics.wait(c, TX_SLEEP, 1);
      Atomics.store(c, TX_SLEEP, 0);
      continue;
    }
    while (tail !== head) {
      const slot = tail & mask;
      const address = base + slot * s.slotSize;
      const len = lengths[slot]!;
      let n = writeAddress(s.fd, address, len);
      for (let tries = 0; n === -ERRNO.EAGAIN && tries < TX_EAGAIN_RETRIES; tries++) {
        // The fd's queue is full (a socket buffer): this thread may block, so wait for room.
        out.set(0, s.fd, POLLOUT);
        poll(out, RECHECK_MS);
        n = writeAddress(s.fd, address, len);
      }
      if (n < 0) {
        if (n === -ERRNO.EAGAIN) Atomics.add(c, TX_EAGAIN, 1);
        else {
          Atomics.add(c, TX_ERRORS, 1);
          Atomics.store(c, TX_ERRNO, -n);
        }
      }
      tail = (tail + 1) | 0;
      Atomics.store(c, TX_TAIL, tail);
      if (Atomics.load(c, TX_SPACE) === 1 && Atomics.compareExchange(c, TX_SPACE, 1, 0) === 1) {
        Atomics.notify(c, TX_SPACE);
      }
    }
  }
}

self.onmessage = (ev: MessageEvent<IoWorkerStart>) => {
  if (ev.data.role === "rx") runReader(ev.data);
  else runWriter(ev.data);
  self.postMessage("stopped");
};

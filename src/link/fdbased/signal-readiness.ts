/**
 * Readiness by signal (fcntl(2) F_SETOWN, F_SETSIG and O_ASYNC): while an fd
 * has O_ASYNC set, the kernel sends SIGIO to the thread named by F_SETOWN as
 * soon as a packet is queued on it (a TUN raises it per packet in
 * `tun_net_xmit`, a socket in `sk_wake_async`). Aimed at the main thread, the
 * signal interrupts Bun's event loop where it sleeps, and the `SIGIO`
 * listener runs there: one thread wake-up between the kernel and the stack.
 * The poll worker (poll-worker.ts) needs two: the kernel wakes the worker,
 * which wakes the main thread (issue 10: ~15–40 µs each on the team's VM, and
 * more under load, when every wake-up waits for a CPU). Opt-in
 * (`FdEndpoint` option `readiness: "signal"`): on the loaded VM it did not
 * measure better end to end (see the option).
 *
 * A signal does not say which fd it is about, so every endpoint sleeping on
 * it is woken and looks (a nonblocking read that may find nothing). An
 * endpoint keeps O_ASYNC set while traffic is sparse (no fcntl per packet),
 * clears it when it starts spinning on dense traffic, so a busy link is not
 * signalled per packet, and sets it again before it sleeps.
 *
 * The listener, once installed, stays for the life of the process: without
 * one, Bun restores SIGIO's default action, which terminates the process, and
 * a signal may be on its way. It does not keep the process alive.
 */
import { isMainThread } from "node:worker_threads";
import { F_GETFL, F_SETFL, fcntl, libc } from "../rawfile/index.ts";

/** fcntl(2) commands and flags (asm-generic values, as on x86_64 and aarch64). */
const F_SETOWN = 8;
const F_SETSIG = 10;
const O_ASYNC = 0o20000;
const SIGIO = 29;

/** An endpoint waiting for a signal. */
export interface SignalSleeper {
  /** Called from the SIGIO listener on the main thread. */
  wake(): void;
}

const sleepers: SignalSleeper[] = [];
/** The sleepers of one signal, copied: a woken endpoint may sleep again (and re-register) at once. */
const woken: (SignalSleeper | undefined)[] = [];
let listening = false;

function onSignal(): void {
  const n = sleepers.length;
  for (let i = 0; i < n; i++) woken[i] = sleepers[i];
  for (let i = 0; i < n; i++) {
    const s = woken[i]!;
    woken[i] = undefined;
    s.wake();
  }
}

/**
 * The O_ASYNC switch of one fd, aimed at the main thread. `open` returns
 * undefined where signals cannot be used (a Worker thread, another OS, an fd
 * that refuses O_ASYNC); the caller then uses the poll worker.
 */
export class SignalReadiness {
  private armedFor: SignalSleeper | undefined;

  private constructor(
    private readonly fd: number,
    private readonly flags: number,
  ) {}

  static open(fd: number): SignalReadiness | undefined {
    if (!isMainThread || process.platform !== "linux") return undefined;
    try {
      // With F_SETSIG set (nonzero), a positive F_SETOWN value names a thread rather than a process
      // (fcntl(2), "F_SETOWN"); the main thread's id is the process id.
      fcntl(fd, F_SETSIG, SIGIO);
      fcntl(fd, F_SETOWN, process.pid);
      const flags = fcntl(fd, F_GETFL) & ~O_ASYNC;
      if (!listening) {
        process.on("SIGIO", onSignal);
        listening = true;
      }
      return new SignalReadiness(fd, flags);
    } catch {
      return undefined;
    }
  }

  /** Whether O_ASYNC is set (for `s`). */
  get armed(): boolean {
    return this.armedFor !== undefined;
  }

  /** Sets O_ASYNC: the next packet queued on the fd wakes `s`. False if fcntl failed. */
  arm(s: SignalSleeper): boolean {
    if (this.armedFor === s) return true;
    if (libc.fcntl(this.fd, F_SETFL, this.flags | O_ASYNC) < 0) return false;
    this.armedFor = s;
    sleepers.push(s);
    return true;
  }

  /** Clears O_ASYNC (the endpoint drains by itself now, or is closing). */
  disarm(): void {
    const s = this.armedFor;
    if (!s) return;
    this.armedFor = undefined;
    const i = sleepers.indexOf(s);
    if (i !== -1) sleepers.splice(i, 1);
    libc.fcntl(this.fd, F_SETFL, this.flags);
  }
}

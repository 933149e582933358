import { cc, dlopen, FFIType as T } from "bun:ffi";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errno } from "./errno.ts";
import { lastErrno } from "./libc.ts";

/**
 * Capability drop on *other* threads of this process. capset(2) and the
 * PR_CAPBSET_DROP / PR_SET_NO_NEW_PRIVS prctls change only the calling
 * thread, and Bun runs helper threads we cannot call into. So, like libcap's
 * psx, install a tiny signal handler (compiled at run time with bun:ffi's
 * TinyCC; it only makes raw syscalls and saves errno) that applies the drop
 * on whichever thread runs it, then tgkill(2) every other thread with that
 * signal. A thread that blocks the signal never runs it and keeps what it had
 * (mimalloc's purge thread "mi-scavenger" blocks almost every signal); the
 * caller checks /proc/self/task/<tid>/status to see who did.
 */
const SOURCE = `
typedef unsigned long ulong;
long syscall(long n, ...);
int *__errno_location(void);
struct gsigaction { void (*handler)(int); ulong mask[16]; int flags; void (*restorer)(void); };
int sigaction(int sig, const struct gsigaction *act, struct gsigaction *old);
static unsigned int hdr[2];
static unsigned int data[6];
static ulong drop_lo, drop_hi;
static long nr_prctl, nr_capset;
static void handler(int sig) {
  int saved = *__errno_location();
  int c;
  for (c = 0; c < 64; c++) {
    ulong bit = c < 32 ? (drop_lo >> c) & 1 : (drop_hi >> (c - 32)) & 1;
    if (bit) syscall(nr_prctl, 24L, (long)c, 0L, 0L, 0L);
  }
  syscall(nr_prctl, 47L, 4L, 0L, 0L, 0L);
  syscall(nr_capset, hdr, data);
  syscall(nr_prctl, 38L, 1L, 0L, 0L, 0L);
  *__errno_location() = saved;
}
void tc_sets(unsigned int *v) {
  hdr[0] = 0x20080522; hdr[1] = 0;
  data[0] = v[0]; data[1] = v[0]; data[2] = 0;
  data[3] = v[1]; data[4] = v[1]; data[5] = 0;
  drop_lo = v[2]; drop_hi = v[3];
}
int tc_install(int sig, long p, long cs) {
  struct gsigaction act, old;
  int i;
  nr_prctl = p; nr_capset = cs;
  if (sigaction(sig, 0, &old) < 0) return -1;
  if (old.handler != 0 && old.handler != handler) return -2;
  for (i = 0; i < 16; i++) act.mask[i] = 0;
  act.handler = handler; act.flags = 0x10000000; act.restorer = 0;
  return sigaction(sig, &act, 0);
}
`;

/** A real-time signal glibc and Bun leave alone (SIGRTMAX - 4 on Linux). */
const SIGNAL = 60;
const SYS = process.arch === "x64" ? { prctl: 157, capset: 126 } : { prctl: 167, capset: 91 };

let compiled:
  | {
      tc_sets(v: Uint32Array): void;
      tc_install(sig: number, p: number, cs: number): number;
    }
  | undefined;

const libc = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  tgkill: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
}).symbols;

function load() {
  if (compiled) return compiled;
  const dir = mkdtempSync(join(tmpdir(), "netstack-tc-"));
  try {
    const file = join(dir, "thread-caps.c");
    writeFileSync(file, SOURCE);
    const lib = cc({
      source: file,
      symbols: {
        tc_sets: { args: [T.ptr], returns: T.void },
        tc_install: { args: [T.i32, T.i64, T.i64], returns: T.i32 },
      },
    });
    compiled = lib.symbols as unknown as NonNullable<typeof compiled>;
    return compiled;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Makes each thread in `tids` (of this process) set effective = permitted =
 * `keep`, inheritable and ambient empty, drop `bsetDrop` from its bounding
 * set (it needs CAP_SETPCAP for that) and set no_new_privs. Asynchronous per
 * thread: returns once the signals are sent.
 */
export function dropOnThreads(tids: number[], keep: bigint, bsetDrop: bigint): void {
  const c = load();
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
  // Through memory: bun:ffi's cc mangled u32 arguments above 2^31 (seen with 0xffffefff).
  c.tc_sets(Uint32Array.of(lo(keep), hi(keep), lo(bsetDrop), hi(bsetDrop)));
  const r = c.tc_install(SIGNAL, SYS.prctl, SYS.capset);
  if (r === -2) throw new Error(`signal ${SIGNAL} already has a handler; not replacing it`);
  if (r < 0) throw new Errno(lastErrno(), "sigaction");
  for (const tid of tids) libc.tgkill(process.pid, tid, SIGNAL); // ESRCH: the thread exited meanwhile
}

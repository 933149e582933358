import { dlopen, FFIType as T } from "bun:ffi";
import { Errno } from "./errno.ts";
import { lastErrno } from "./libc.ts";

/**
 * Capabilities, securebits and credentials: capget(2)/capset(2), prctl(2)
 * (PR_CAPBSET_*, PR_CAP_AMBIENT, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS),
 * setgroups(2), setresgid(2), setresuid(2). Its own small dlopen of the same
 * libc (errno is the same thread-local cell as libc.ts's).
 *
 * Per-thread or per-process, which matters in Bun (many threads):
 * - capset, the PR_CAPBSET_DROP / ambient / KEEPCAPS / NO_NEW_PRIVS prctls act
 *   on the *calling thread* only (threads created later copy it);
 * - glibc's setgroups/setresgid/setresuid run the syscall on every thread of
 *   the process (its "setxid broadcast"), and a thread whose uids all leave 0
 *   loses its permitted and effective capabilities unless that thread has
 *   PR_SET_KEEPCAPS (capabilities(7), "Effect of user ID changes").
 */
const lib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  capget: { args: [T.ptr, T.ptr], returns: T.i32 },
  capset: { args: [T.ptr, T.ptr], returns: T.i32 },
  // prctl is variadic; the fixed five-argument declaration passes what the ABI passes (bun-io pitfall 9).
  prctl: { args: [T.i32, T.u64, T.u64, T.u64, T.u64], returns: T.i32 },
  setgroups: { args: [T.u64, T.ptr], returns: T.i32 },
  setresgid: { args: [T.u32, T.u32, T.u32], returns: T.i32 },
  setresuid: { args: [T.u32, T.u32, T.u32], returns: T.i32 },
});

/** `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set. */
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const PR_CAPBSET_READ = 23;
const PR_CAPBSET_DROP = 24;
const PR_SET_KEEPCAPS = 8;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_GET_NO_NEW_PRIVS = 39;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;

/** The three capability sets of a thread, one bit per capability number. */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function header(): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, LINUX_CAPABILITY_VERSION_3, true);
  dv.setInt32(4, 0, true); // 0: the calling thread
  return h;
}

function word(dv: DataView, set: number): bigint {
  // struct __user_cap_data_struct[2] { u32 effective, permitted, inheritable; }
  return BigInt(dv.getUint32(set * 4, true)) | (BigInt(dv.getUint32(12 + set * 4, true)) << 32n);
}

function putWord(dv: DataView, set: number, v: bigint): void {
  dv.setUint32(set * 4, Number(v & 0xffffffffn), true);
  dv.setUint32(12 + set * 4, Number((v >> 32n) & 0xffffffffn), true);
}

/** The calling thread's capability sets (capget). */
export function capGet(): CapSets {
  const data = new Uint8Array(24);
  if (lib.symbols.capget(header(), data) < 0) throw new Errno(lastErrno(), "capget");
  const dv = new DataView(data.buffer);
  return { effective: word(dv, 0), permitted: word(dv, 1), inheritable: word(dv, 2) };
}

/** Sets the calling thread's capability sets (capset); only shrinking is allowed without CAP_SETPCAP. */
export function capSet(s: CapSets): void {
  const data = new Uint8Array(24);
  const dv = new DataView(data.buffer);
  putWord(dv, 0, s.effective);
  putWord(dv, 1, s.permitted);
  putWord(dv, 2, s.inheritable);
  if (lib.symbols.capset(header(), data) < 0) throw new Errno(lastErrno(), "capset");
}

/** Whether capability `cap` is in the calling thread's bounding set; undefined when the kernel does not know `cap`. */
export function capBsetRead(cap: number): boolean | undefined {
  const r = lib.symbols.prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
  if (r < 0) return undefined;
  return r === 1;
}

/** Removes `cap` from the calling thread's bounding set (needs CAP_SETPCAP in the effective set). */
export function capBsetDrop(cap: number): void {
  if (lib.symbols.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
    throw new Errno(lastErrno(), "prctl(PR_CAPBSET_DROP)");
}

/** Empties the calling thread's ambient set (Linux 4.3+; EINVAL before, which means there was none). */
export function capAmbientClearAll(): void {
  if (lib.symbols.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    const e = lastErrno();
    if (e !== 22) throw new Errno(e, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
}

/** SECBIT_KEEP_CAPS for the calling thread: keep the permitted set across the uid change. */
export function setKeepCaps(on: boolean): void {
  if (lib.symbols.prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) < 0)
    throw new Errno(lastErrno(), "prctl(PR_SET_KEEPCAPS)");
}

/** no_new_privs for the calling thread (inherited by threads and children it creates; cannot be undone). */
export function setNoNewPrivs(): void {
  if (lib.symbols.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    throw new Errno(lastErrno(), "prctl(PR_SET_NO_NEW_PRIVS)");
}

export function getNoNewPrivs(): boolean {
  return lib.symbols.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) === 1;
}

/** Supplementary groups of every thread (glibc broadcast); needs CAP_SETGID. */
export function setGroups(gids: number[]): void {
  const list = new Uint32Array(Math.max(gids.length, 1));
  list.set(gids);
  if (lib.symbols.setgroups(gids.length, list) < 0) throw new Errno(lastErrno(), "setgroups");
}

/** Real, effective and saved gid of every thread (glibc broadcast). */
export function setAllGids(gid: number): void {
  if (lib.symbols.setresgid(gid, gid, gid) < 0) throw new Errno(lastErrno(), "setresgid");
}

/** Real, effective and saved uid of every thread (glibc broadcast). */
export function setAllUids(uid: number): void {
  if (lib.symbols.setresuid(uid, uid, uid) < 0) throw new Errno(lastErrno(), "setresuid");
}

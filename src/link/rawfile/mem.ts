import { dlopen, type Pointer, read as peek, ptr, FFIType as T, toArrayBuffer } from "bun:ffi";
import { Errno } from "./errno.ts";
import { lastErrno, libc } from "./libc.ts";
import { cString } from "./syscalls.ts";

/**
 * Shared memory between processes: memfd_create(2), ftruncate(2), mmap(2),
 * and futex(2) to sleep on and wake a word in such memory across processes.
 * Kept apart from libc.ts (its own small dlopen of the same libc; errno is
 * the same thread-local cell) so the sharedmem link adds no churn there.
 *
 * A mapping is never unmapped: the ArrayBuffer from `toArrayBuffer` aliases
 * it, and the garbage collector cannot tell us when the last view of it is
 * gone, so munmap could pull memory out from under a live Uint8Array. A
 * shared-memory link lives as long as its process anyway.
 */
const lib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  memfd_create: { args: [T.ptr, T.u32], returns: T.i32 },
  ftruncate: { args: [T.i32, T.i64], returns: T.i32 },
  mmap: { args: [T.ptr, T.u64, T.i32, T.i32, T.i32, T.i64], returns: T.ptr },
  lseek: { args: [T.i32, T.i64, T.i32], returns: T.i64_fast },
  // syscall(2) is variadic; the fixed declaration passes what the ABI passes (bun-io pitfall 9).
  syscall: { args: [T.i64, T.ptr, T.i32, T.i32, T.ptr], returns: T.i64_fast },
});

export const MFD_CLOEXEC = 0x0001;
/** Allow `addSeals` on the memfd. */
export const MFD_ALLOW_SEALING = 0x0002;
/** fcntl(2) file seals (memfd_create(2) "File sealing"). */
export const F_SEAL_SEAL = 0x0001;
export const F_SEAL_SHRINK = 0x0002;
export const F_SEAL_GROW = 0x0004;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
const SEEK_END = 2;
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;

/** An anonymous file in memory (memfd_create); close-on-exec unless `flags` says otherwise. */
export function memfdCreate(name: string, flags = MFD_CLOEXEC): number {
  const fd = lib.symbols.memfd_create(cString(name), flags);
  if (fd < 0) throw new Errno(lastErrno(), "memfd_create");
  return fd;
}

/** Sets the size of the file behind `fd`. */
export function ftruncate(fd: number, size: number): void {
  if (lib.symbols.ftruncate(fd, size) < 0) throw new Errno(lastErrno(), "ftruncate");
}

/**
 * Maps `size` bytes of `fd` read-write and shared (MAP_SHARED: stores are
 * seen by every process mapping the same file) and returns them as an
 * ArrayBuffer aliasing the mapping. The fd may be closed afterwards.
 */
export function mapShared(fd: number, size: number): ArrayBuffer {
  const p = lib.symbols.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as Pointer | null;
  // MAP_FAILED is (void *)-1, which arrives as 2^64 - 1 rounded to a double.
  if (p === null || (p as number) >= 2 ** 63) throw new Errno(lastErrno(), "mmap");
  return toArrayBuffer(p, 0, size);
}

/** Bytes in the file behind `fd` (lseek to its end). */
export function fileSize(fd: number): number {
  const n = lib.symbols.lseek(fd, 0, SEEK_END) as number;
  if (n < 0) throw new Errno(lastErrno(), "lseek");
  return n;
}

/** Adds seals to a memfd created with `MFD_ALLOW_SEALING`. */
export function addSeals(fd: number, seals: number): void {
  if (libc.fcntl(fd, F_ADD_SEALS, seals) < 0) throw new Errno(lastErrno(), "fcntl(F_ADD_SEALS)");
}

/** The seals on `fd` (0 for a file that cannot be sealed). */
export function getSeals(fd: number): number {
  const r = libc.fcntl(fd, F_GET_SEALS, 0);
  return Math.max(r, 0);
}

/** SYS_futex: 202 on x86_64, 98 in the asm-generic table (aarch64). */
const SYS_FUTEX = process.arch === "x64" ? 202 : 98;
/** Shared (not FUTEX_PRIVATE_FLAG) operations, so waiters in other processes mapping the same file are seen. */
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
/** `struct timespec` for futexWait's timeout; one per thread (module instances are per Worker). */
const timespec = new BigInt64Array(2);
const timespecAddress = ptr(timespec);

/** The address of byte `byteOffset` of a view (its memory must stay mapped while the address is used). */
export function addressOf(view: Int32Array | Uint8Array | DataView, byteOffset = 0): number {
  return ptr(view, byteOffset);
}

/** The 32-bit word at `address`, read once (for a Worker that only knows the address). */
export function peekI32(address: number): number {
  return peek.i32(address as Pointer, 0);
}

/**
 * Sleeps while the 32-bit word at `address` equals `expected`, for at most
 * `timeoutMs` (FUTEX_WAIT). Returns 0 when woken, or -errno: -EAGAIN when the
 * word already differed, -ETIMEDOUT, -EINTR. Blocks the calling thread: call
 * it from a helper Worker, never from the event loop.
 */
export function futexWait(address: number, expected: number, timeoutMs: number): number {
  timespec[0] = BigInt(Math.floor(timeoutMs / 1000));
  timespec[1] = BigInt((timeoutMs % 1000) * 1_000_000);
  const r = lib.symbols.syscall(
    SYS_FUTEX,
    address as Pointer,
    FUTEX_WAIT,
    expected | 0,
    timespecAddress,
  ) as number;
  return r < 0 ? -lastErrno() : 0;
}

/** Wakes up to `count` threads (in any process) sleeping in `futexWait` on `address`; returns how many. */
export function futexWake(address: number, count = 1): number {
  const r = lib.symbols.syscall(SYS_FUTEX, address as Pointer, FUTEX_WAKE, count, null) as number;
  return r < 0 ? -lastErrno() : r;
}

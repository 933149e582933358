import { dlopen, type Pointer, read as peek, FFIType as T } from "bun:ffi";

/**
 * libc through bun:ffi: the one place the project binds native functions.
 * Declarations follow the x86_64/aarch64 SysV ABI; the variadic ones (`open`,
 * `fcntl`, `ioctl`) are declared with fixed arity, which is what the ABI
 * passes anyway (bun-io research §1, pitfall 9). Byte counts come back as
 * `i64_fast` (a plain number, no BigInt allocation: pitfall 8).
 *
 * Callers go through `syscalls.ts`, which checks results and maps errno to
 * `Errno`; the hot-path calls there return `-errno` instead of throwing.
 */
const lib = dlopen(libcPath(), {
  open: { args: [T.ptr, T.i32, T.i32], returns: T.i32 },
  close: { args: [T.i32], returns: T.i32 },
  read: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  write: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  readv: { args: [T.i32, T.ptr, T.i32], returns: T.i64_fast },
  writev: { args: [T.i32, T.ptr, T.i32], returns: T.i64_fast },
  poll: { args: [T.ptr, T.u64, T.i32], returns: T.i32 },
  ppoll: { args: [T.ptr, T.u64, T.ptr, T.ptr], returns: T.i32 },
  epoll_create1: { args: [T.i32], returns: T.i32 },
  epoll_ctl: { args: [T.i32, T.i32, T.i32, T.ptr], returns: T.i32 },
  epoll_wait: { args: [T.i32, T.ptr, T.i32, T.i32], returns: T.i32 },
  fcntl: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 },
  setns: { args: [T.i32, T.i32], returns: T.i32 },
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  socketpair: { args: [T.i32, T.i32, T.i32, T.ptr], returns: T.i32 },
  bind: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
  eventfd: { args: [T.u32, T.i32], returns: T.i32 },
  sendmmsg: { args: [T.i32, T.ptr, T.u32, T.i32], returns: T.i32 },
  recvmmsg: { args: [T.i32, T.ptr, T.u32, T.i32, T.ptr], returns: T.i32 },
  __errno_location: { args: [], returns: T.ptr },
});

function libcPath(): string {
  // glibc's soname; musl installs its libc as libc.musl-<arch>.so.1 with a libc.so symlink.
  return process.platform === "linux" ? "libc.so.6" : "libc.so";
}

export const libc = lib.symbols;

/** This thread's errno cell; errno is thread-local and its address is fixed per thread. */
const errnoCell = libc.__errno_location() as Pointer;

/** errno of the last failed call on this thread. Read it right after the failing call. */
export function lastErrno(): number {
  return peek.i32(errnoCell, 0);
}

/** A value passed where the declaration says pointer (ioctl/fcntl arguments that are plain integers). */
export function asPointer(value: number): Pointer {
  return value as Pointer;
}

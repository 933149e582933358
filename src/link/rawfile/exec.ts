import { dlopen, ptr, FFIType as T } from "bun:ffi";
import { Errno } from "./errno.ts";
import { lastErrno } from "./libc.ts";
import { cString } from "./syscalls.ts";

/**
 * execve(2) of this process's own executable: the same PID, a fresh image.
 * Used to set environment that a library reads once at start-up, before any
 * of our code runs (the allocator's options: see `src/index.ts`). Its own
 * small dlopen of the same libc, as privileges.ts.
 */
const lib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  execve: { args: [T.ptr, T.ptr, T.ptr], returns: T.i32 },
});

/** The C strings of the last call, referenced from module scope so no GC can free them during it. */
const pinned: Uint8Array[] = [];

/** A NULL-terminated array of pointers to C strings; `keep` holds the strings while the call runs. */
function cStringArray(items: readonly string[], keep: Uint8Array[]): BigUint64Array {
  const a = new BigUint64Array(items.length + 1);
  for (let i = 0; i < items.length; i++) {
    const s = cString(items[i]!);
    keep.push(s);
    a[i] = BigInt(ptr(s));
  }
  return a;
}

/**
 * Replaces this process with `path` run with `argv` and `env`. Returns only on
 * failure, by throwing the errno (the process goes on unchanged then).
 */
export function execve(path: string, argv: readonly string[], env: Readonly<Record<string, string>>): never {
  const keep: Uint8Array[] = [];
  const file = cString(path);
  const args = cStringArray(argv, keep);
  const envp = cStringArray(
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
    keep,
  );
  pinned.push(...keep);
  lib.symbols.execve(file, args, envp);
  // Still here: it failed.
  const errno = lastErrno();
  pinned.length = 0;
  throw new Errno(errno, "execve");
}

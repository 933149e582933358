import { dlopen, type Pointer, FFIType as T } from "bun:ffi";

/**
 * libc's memcpy between raw addresses. Copying out of (or into) a
 * SharedArrayBuffer with `Uint8Array.prototype.set` takes a slow path in Bun
 * (measured ~0.8 µs per 1,500 bytes, several µs under load, against ~0.1 µs
 * for memcpy through bun:ffi), and the rings of io-protocol.ts are shared.
 * Its own small dlopen, as rawfile/mem.ts does, so libc.ts is not touched.
 */
const lib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  memcpy: { args: [T.ptr, T.ptr, T.u64], returns: T.void },
});
const memcpyFn = lib.symbols.memcpy;

/** Copies `len` bytes from address `src` to address `dst` (non-overlapping; both kept alive by the caller). */
export function memcpy(dst: number, src: number, len: number): void {
  memcpyFn(dst as Pointer, src as Pointer, len);
}

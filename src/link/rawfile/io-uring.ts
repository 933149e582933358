import { dlopen, type Pointer, ptr, FFIType as T, toArrayBuffer } from "bun:ffi";
import { Errno } from "./errno.ts";
import { lastErrno } from "./libc.ts";

/**
 * A minimal io_uring (io_uring_setup(2), io_uring_enter(2)) over raw
 * syscalls, without liburing: the SQ/CQ rings and the SQE array are mmap'd
 * from the ring fd at the offsets the kernel returns in `io_uring_params`
 * (never hard-coded), and read/written through typed arrays. Head/tail words
 * shared with the kernel go through `Atomics` (acquire/release order: the
 * kernel reads SQEs only after it sees our tail store, and we read CQEs only
 * after we load its tail).
 *
 * Only what the TUN read/write experiment needs: IORING_OP_READ / _WRITE into
 * raw addresses, submit + wait in one io_uring_enter. No SQPOLL, no
 * registered files or buffers. Not allocation-free on setup; allocation-free
 * per SQE/CQE.
 *
 * Layout (include/uapi/linux/io_uring.h): io_uring_params is 120 bytes:
 * sq_entries@0 cq_entries@4 flags@8 sq_thread_cpu@12 sq_thread_idle@16
 * features@20 wq_fd@24 resv[3]@28, io_sqring_offsets@40 {head tail ring_mask
 * ring_entries flags dropped array resv1 (u32 each) user_addr(u64)},
 * io_cqring_offsets@80 {head tail ring_mask ring_entries overflow cqes flags
 * resv1 user_addr}. SQE 64 bytes: opcode u8@0 flags u8@1 ioprio u16@2 fd
 * i32@4 off u64@8 addr u64@16 len u32@24 rw_flags u32@28 user_data u64@32
 * buf_index u16@40. CQE 16 bytes: user_data u64@0 res i32@8 flags u32@12.
 */

/** io_uring_setup / io_uring_enter: the same numbers on x86_64 and in the asm-generic table (aarch64). */
const SYS_IO_URING_SETUP = 425;
const SYS_IO_URING_ENTER = 426;

export const IORING_OP_NOP = 0;
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;

/** SQE flag: always run the request from an io-wq worker thread (no inline attempt). */
export const IOSQE_ASYNC = 1 << 4;
/** rw_flags: fail with -EAGAIN instead of waiting (preadv2 RWF_NOWAIT); the file must support it. */
export const RWF_NOWAIT = 0x8;

export const IORING_SETUP_CLAMP = 1 << 4;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;

export const IORING_ENTER_GETEVENTS = 1;
const IORING_FEAT_SINGLE_MMAP = 1;

const IORING_OFF_SQ_RING = 0;
const IORING_OFF_CQ_RING = 0x8000000;
const IORING_OFF_SQES = 0x10000000;

const PARAMS_SIZE = 120;
const SQE_SIZE = 64;
const CQE_SIZE = 16;

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;
const MAP_POPULATE = 0x8000;

const lib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  mmap: { args: [T.ptr, T.u64, T.i32, T.i32, T.i32, T.i64], returns: T.ptr },
  close: { args: [T.i32], returns: T.i32 },
  // syscall(2) is variadic; fixed declarations pass what the ABI passes (bun-io pitfall 9).
  syscall: { args: [T.i64, T.u32, T.ptr], returns: T.i64_fast },
});
const enterLib = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.so", {
  syscall: { args: [T.i64, T.i32, T.u32, T.u32, T.u32, T.ptr, T.u64], returns: T.i64_fast },
});
const enter = enterLib.symbols.syscall;

function mapRing(fd: number, size: number, offset: number): ArrayBuffer {
  const p = lib.symbols.mmap(
    null,
    size,
    PROT_READ | PROT_WRITE,
    MAP_SHARED | MAP_POPULATE,
    fd,
    offset,
  ) as Pointer | null;
  if (p === null || (p as number) >= 2 ** 63) throw new Errno(lastErrno(), "mmap(io_uring)");
  return toArrayBuffer(p, 0, size);
}

export interface IoUringOptions {
  /** SQ entries (rounded up to a power of two by the kernel). */
  entries: number;
  /** IORING_SETUP_* flags. */
  flags?: number;
}

/**
 * One io_uring. Not thread-safe: one thread submits and reaps. The mappings
 * are never unmapped (like mem.ts: views may outlive `close`); the ring fd is
 * closed by `close`.
 */
export class IoUring {
  readonly fd: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  readonly features: number;
  private readonly sqRing: Uint32Array;
  private readonly cqRing: Uint32Array;
  private readonly sqHead: number;
  private readonly sqTail: number;
  private readonly sqMask: number;
  private readonly cqHead: number;
  private readonly cqTail: number;
  private readonly cqMask: number;
  /** Index (in u32 words) of the first CQE in `cqRing`. */
  private readonly cqes: number;
  private readonly cqesI32: Int32Array;
  private readonly sqe8: Uint8Array;
  private readonly sqe32: Uint32Array;
  /** Our copy of the SQ tail (published on `submit`). */
  private tail = 0;
  private published = 0;

  private constructor(fd: number, p: DataView) {
    this.fd = fd;
    this.sqEntries = p.getUint32(0, true);
    this.cqEntries = p.getUint32(4, true);
    this.features = p.getUint32(20, true);
    const sq = (k: number) => p.getUint32(40 + k * 4, true);
    const cq = (k: number) => p.getUint32(80 + k * 4, true);
    const sqSize = sq(6) + this.sqEntries * 4;
    const cqSize = cq(5) + this.cqEntries * CQE_SIZE;
    let sqMem: ArrayBuffer;
    let cqMem: ArrayBuffer;
    if (this.features & IORING_FEAT_SINGLE_MMAP) {
      sqMem = mapRing(fd, Math.max(sqSize, cqSize), IORING_OFF_SQ_RING);
      cqMem = sqMem;
    } else {
      sqMem = mapRing(fd, sqSize, IORING_OFF_SQ_RING);
      cqMem = mapRing(fd, cqSize, IORING_OFF_CQ_RING);
    }
    const sqes = mapRing(fd, this.sqEntries * SQE_SIZE, IORING_OFF_SQES);
    this.sqRing = new Uint32Array(sqMem);
    this.cqRing = new Uint32Array(cqMem);
    this.cqesI32 = new Int32Array(cqMem);
    this.sqHead = sq(0) >> 2;
    this.sqTail = sq(1) >> 2;
    this.sqMask = this.sqRing[sq(2) >> 2]!;
    this.cqHead = cq(0) >> 2;
    this.cqTail = cq(1) >> 2;
    this.cqMask = this.cqRing[cq(2) >> 2]!;
    this.cqes = cq(5) >> 2;
    // The SQ index array maps ring slot i to SQE i, once (the kernel reads array[tail & mask]).
    const array = sq(6) >> 2;
    for (let i = 0; i < this.sqEntries; i++) this.sqRing[array + i] = i;
    this.sqe8 = new Uint8Array(sqes);
    this.sqe32 = new Uint32Array(sqes);
    this.tail = Atomics.load(this.sqRing, this.sqTail);
    this.published = this.tail;
  }

  /** io_uring_setup(2); throws `Errno` (ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or seccomp). */
  static setup(options: IoUringOptions): IoUring {
    const params = new Uint8Array(PARAMS_SIZE);
    const p = new DataView(params.buffer);
    p.setUint32(8, options.flags ?? 0, true);
    const fd = lib.symbols.syscall(SYS_IO_URING_SETUP, options.entries, ptr(params)) as number;
    if (fd < 0) throw new Errno(lastErrno(), "io_uring_setup");
    try {
      return new IoUring(fd, p);
    } catch (e) {
      lib.symbols.close(fd);
      throw e;
    }
  }

  /** SQEs free for `prep*` before the next `submit`. */
  sqSpace(): number {
    return this.sqEntries - (this.tail - Atomics.load(this.sqRing, this.sqHead));
  }

  /** SQEs prepared and not yet given to the kernel by `submit`. */
  pending(): number {
    return (this.tail - this.published) >>> 0;
  }

  /**
   * Queues one read/write-style SQE: `op` on `fd` at `address`/`len` with
   * `userData` (u32) handed back in its CQE. The caller checks `sqSpace()`.
   */
  prep(
    op: number,
    fd: number,
    address: number,
    len: number,
    userData: number,
    sqeFlags = 0,
    rwFlags = 0,
  ): void {
    const slot = this.tail & this.sqMask;
    const b = slot * SQE_SIZE;
    const w = b >> 2;
    const s32 = this.sqe32;
    // Clear the 64 bytes word by word (no fill() call on a subarray).
    for (let i = 0; i < 16; i++) s32[w + i] = 0;
    this.sqe8[b] = op;
    this.sqe8[b + 1] = sqeFlags;
    s32[w + 1] = fd;
    // off = -1 (u64): "use and advance the file position" — for TUN and sockets, no position.
    s32[w + 2] = 0xffffffff;
    s32[w + 3] = 0xffffffff;
    s32[w + 4] = address % 0x1_0000_0000;
    s32[w + 5] = Math.floor(address / 0x1_0000_0000);
    s32[w + 6] = len;
    s32[w + 7] = rwFlags;
    s32[w + 8] = userData;
    this.tail = (this.tail + 1) >>> 0;
  }

  /**
   * Publishes the prepared SQEs and calls io_uring_enter once, waiting for at
   * least `waitFor` completions (0: do not wait). Returns the number of SQEs
   * the kernel consumed, or -errno.
   */
  submit(waitFor = 0): number {
    const n = this.pending();
    if (n > 0) {
      // Release: the SQE stores above are visible before the kernel sees the new tail.
      Atomics.store(this.sqRing, this.sqTail, this.tail);
      this.published = this.tail;
    }
    if (n === 0 && waitFor === 0) return 0;
    const r = enter(
      SYS_IO_URING_ENTER,
      this.fd,
      n,
      waitFor,
      waitFor > 0 ? IORING_ENTER_GETEVENTS : 0,
      null,
      0,
    ) as number;
    return r < 0 ? -lastErrno() : r;
  }

  /** Completions ready to reap (acquire load of the CQ tail). */
  cqReady(): number {
    return (Atomics.load(this.cqRing, this.cqTail) - this.cqRing[this.cqHead]!) >>> 0;
  }

  /** `res` of the i-th ready CQE (0 = oldest). */
  cqeRes(i: number): number {
    const slot = (this.cqRing[this.cqHead]! + i) & this.cqMask;
    return this.cqesI32[this.cqes + slot * 4 + 2]!;
  }

  /** Low 32 bits of `user_data` of the i-th ready CQE. */
  cqeUserData(i: number): number {
    const slot = (this.cqRing[this.cqHead]! + i) & this.cqMask;
    return this.cqRing[this.cqes + slot * 4]!;
  }

  /** Marks `n` CQEs consumed (release store of the CQ head). */
  cqAdvance(n: number): void {
    Atomics.store(this.cqRing, this.cqHead, (this.cqRing[this.cqHead]! + n) >>> 0);
  }

  close(): void {
    lib.symbols.close(this.fd);
  }
}

/** Whether io_uring_setup works here; `undefined` when it does, else why not (for a one-time log line). */
export function ioUringUnavailable(): string | undefined {
  try {
    IoUring.setup({ entries: 2 }).close();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

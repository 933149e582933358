import { type Pointer, ptr } from "bun:ffi";
import { EFD_CLOEXEC, F_GETFL, F_SETFL, O_NONBLOCK, POLLFD_SIZE } from "./constants.ts";
import { Errno, errnoText } from "./errno.ts";
import { asPointer, lastErrno, libc } from "./libc.ts";

/**
 * Checked wrappers over libc. Setup calls throw `Errno`; the per-packet calls
 * (`readFd`, `writeFd`, `readAddress`, `writeAddress`, `writevFd`) return the
 * byte count or `-errno` so the hot path never allocates an error.
 */

const encoder = new TextEncoder();

/** A NUL-terminated copy of `s` for calls that take `const char *`. */
export function cString(s: string): Uint8Array {
  const b = new Uint8Array(s.length * 3 + 1);
  const { written } = encoder.encodeInto(s, b);
  return b.subarray(0, written + 1);
}

function check(r: number, syscall: string): number {
  if (r < 0) throw new Errno(lastErrno(), syscall);
  return r;
}

export function open(path: string, flags: number, mode = 0): number {
  const fd = libc.open(cString(path), flags, mode);
  if (fd < 0) {
    const errno = lastErrno();
    throw new Errno(errno, "open", `Cannot open ${path}: ${errnoText(errno)}`);
  }
  return fd;
}

export function close(fd: number): void {
  check(libc.close(fd), "close");
}

/** Stands in for empty buffers: `ptr()` refuses a zero-length array, and the kernel reads no byte of it. */
const EMPTY = new Uint8Array(8);

function address(buf: Uint8Array, off: number): ReturnType<typeof ptr> {
  return off < buf.length ? ptr(buf, off) : ptr(EMPTY);
}

/** Reads into `buf[off, off+len)`; returns bytes read or `-errno` (`-EAGAIN` when a nonblocking fd is empty). */
export function readFd(fd: number, buf: Uint8Array, off = 0, len = buf.length - off): number {
  const n = libc.read(fd, address(buf, off), len) as number;
  return n < 0 ? -lastErrno() : n;
}

/** Writes `buf[off, off+len)`; returns bytes written or `-errno`. */
export function writeFd(fd: number, buf: Uint8Array, off = 0, len = buf.length - off): number {
  const n = libc.write(fd, address(buf, off), len) as number;
  return n < 0 ? -lastErrno() : n;
}

/**
 * `read` into a raw address (from `ptr()` of a buffer the caller keeps
 * referenced): no `ptr()` call per packet when reading into a slab.
 */
export function readAddress(fd: number, address: number, len: number): number {
  const n = libc.read(fd, asPointer(address), len) as number;
  return n < 0 ? -lastErrno() : n;
}

export function writeAddress(fd: number, address: number, len: number): number {
  const n = libc.write(fd, asPointer(address), len) as number;
  return n < 0 ? -lastErrno() : n;
}

/**
 * A reusable `struct iovec[]`. Addresses are stored as two 32-bit halves
 * (no BigInt per entry). The buffers they point at must stay referenced by
 * the caller until the call that uses the array returns (bun-io pitfall 6).
 */
export class IovecArray {
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  readonly address: number;

  constructor(readonly capacity: number) {
    this.bytes = new Uint8Array(capacity * 16);
    this.words = new Uint32Array(this.bytes.buffer);
    this.address = ptr(this.bytes);
  }

  set(i: number, address: number, len: number): void {
    const w = i * 4;
    this.words[w] = address % 0x1_0000_0000;
    this.words[w + 1] = Math.floor(address / 0x1_0000_0000);
    this.words[w + 2] = len % 0x1_0000_0000;
    this.words[w + 3] = Math.floor(len / 0x1_0000_0000);
  }
}

/** `writev(fd, iov, count)`: bytes written or `-errno`. On TUN/TAP the whole vector is one packet. */
export function writevFd(fd: number, iov: IovecArray, count: number): number {
  const n = libc.writev(fd, asPointer(iov.address), count) as number;
  return n < 0 ? -lastErrno() : n;
}

/** `readv(fd, iov, count)`: bytes read or `-errno`. */
export function readvFd(fd: number, iov: IovecArray, count: number): number {
  const n = libc.readv(fd, asPointer(iov.address), count) as number;
  return n < 0 ? -lastErrno() : n;
}

/** `ioctl` with a buffer argument (a `struct ifreq` and the like). */
export function ioctlBuffer(fd: number, request: number, arg: Uint8Array, what = "ioctl"): void {
  check(libc.ioctl(fd, request, arg), what);
}

/** `ioctl` whose argument is a plain integer (`TUNSETOFFLOAD`, `TUNSETPERSIST`). */
export function ioctlValue(fd: number, request: number, value: number, what = "ioctl"): void {
  check(libc.ioctl(fd, request, asPointer(value)), what);
}

export function fcntl(fd: number, cmd: number, arg = 0): number {
  return check(libc.fcntl(fd, cmd, arg), "fcntl");
}

export function setNonblocking(fd: number, on = true): void {
  const fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

export function socket(domain: number, type: number, protocol = 0): number {
  return check(libc.socket(domain, type, protocol), "socket");
}

/** `socketpair(2)`: two connected sockets. */
export function socketpair(domain: number, type: number, protocol = 0): [number, number] {
  const sv = new Int32Array(2);
  check(libc.socketpair(domain, type, protocol, sv), "socketpair");
  return [sv[0]!, sv[1]!];
}

export function bind(fd: number, sockaddr: Uint8Array): void {
  check(libc.bind(fd, sockaddr, sockaddr.length), "bind");
}

/** `setns(2)`: moves the *calling thread* into the namespace `fd` refers to. */
export function setns(fd: number, nstype: number): void {
  check(libc.setns(fd, nstype), "setns");
}

export function eventfd(initval = 0, flags = EFD_CLOEXEC): number {
  return check(libc.eventfd(initval, flags), "eventfd");
}

/**
 * A reusable `struct pollfd[]` for `poll(2)`.
 */
export class PollFds {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  constructor(readonly count: number) {
    this.bytes = new Uint8Array(count * POLLFD_SIZE);
    this.dv = new DataView(this.bytes.buffer);
  }
  set(i: number, fd: number, events: number): void {
    this.dv.setInt32(i * POLLFD_SIZE, fd, true);
    this.dv.setInt16(i * POLLFD_SIZE + 4, events, true);
    this.dv.setInt16(i * POLLFD_SIZE + 6, 0, true);
  }
  revents(i: number): number {
    return this.dv.getInt16(i * POLLFD_SIZE + 6, true) & 0xffff;
  }
}

/** `poll(2)`: number of ready fds (0 on timeout) or `-errno` (`-EINTR` is normal). */
export function poll(fds: PollFds, timeoutMs: number): number {
  const r = libc.poll(fds.bytes, fds.count, timeoutMs);
  return r < 0 ? -lastErrno() : r;
}

/** `struct timespec` for `ppoll`: { i64 tv_sec; i64 tv_nsec }, filled per call (no allocation). */
const timespec = new Uint8Array(16);
const timespecView = new DataView(timespec.buffer);
const NULL = asPointer(0);

/**
 * `ppoll(2)` without a signal mask: as `poll`, but the timeout is a `timespec`, so a fractional
 * `timeoutMs` is kept to the nanosecond instead of rounded to whole milliseconds (poll(2)
 * cannot wait 0.2 ms). A negative timeout waits without limit. Ready count or `-errno`.
 */
export function ppoll(fds: PollFds, timeoutMs: number): number {
  let r: number;
  if (timeoutMs < 0) r = libc.ppoll(fds.bytes, fds.count, NULL, NULL);
  else {
    const ns = Math.round(timeoutMs * 1e6);
    const sec = Math.floor(ns / 1e9);
    // Little-endian halves of each i64 (x86_64 and aarch64), so no BigInt is made.
    timespecView.setUint32(0, sec % 0x1_0000_0000, true);
    timespecView.setUint32(4, Math.floor(sec / 0x1_0000_0000), true);
    timespecView.setUint32(8, ns - sec * 1e9, true);
    timespecView.setUint32(12, 0, true);
    r = libc.ppoll(fds.bytes, fds.count, timespec, NULL);
  }
  return r < 0 ? -lastErrno() : r;
}

export function epollCreate(flags = EFD_CLOEXEC): number {
  return check(libc.epoll_create1(flags), "epoll_create1");
}

/** `epoll_ctl` with an event whose data is the fd itself. */
export function epollCtl(epfd: number, op: number, fd: number, events: number): void {
  const ev = new Uint8Array(16);
  const dv = new DataView(ev.buffer);
  dv.setUint32(0, events, true);
  // x86_64 packs epoll_event (data at +4); other 64-bit ABIs align it to +8.
  dv.setInt32(process.arch === "x64" ? 4 : 8, fd, true);
  check(libc.epoll_ctl(epfd, op, fd, ev), "epoll_ctl");
}

/** `epoll_wait` into `events` (room for `max` events); ready count or `-errno`. */
export function epollWait(epfd: number, events: Uint8Array, max: number, timeoutMs: number): number {
  const r = libc.epoll_wait(epfd, events, max, timeoutMs);
  return r < 0 ? -lastErrno() : r;
}

export type { Pointer };

import { ptr } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import {
  AF_UNIX,
  close,
  ERRNO,
  Errno,
  errnoName,
  eventfd,
  IovecArray,
  O_RDONLY,
  open,
  POLLIN,
  PollFds,
  poll,
  ppoll,
  readFd,
  readvFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  setNonblocking,
  socketpair,
  writeFd,
  writevFd,
} from "./index.ts";

function pair(): [number, number] {
  return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
}

describe("Errno", () => {
  test("maps numbers to code names and keeps the syscall", () => {
    const e = new Errno(ERRNO.EAGAIN, "read");
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe("EAGAIN");
    expect(e.errno).toBe(11);
    expect(e.syscall).toBe("read");
    expect(e.message).toBe("read: resource temporarily unavailable (EAGAIN)");
    expect(errnoName(ERRNO.EPERM)).toBe("EPERM");
    expect(errnoName(ERRNO.EBUSY)).toBe("EBUSY");
    expect(errnoName(9999)).toBe("E9999");
  });

  test("open of a missing path throws ENOENT naming the path", () => {
    let err: unknown;
    try {
      open("/nonexistent/netstack-test", O_RDONLY);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Errno);
    expect((err as Errno).code).toBe("ENOENT");
    expect((err as Errno).message).toBe("Cannot open /nonexistent/netstack-test: no such file or directory");
  });

  test("close of a bad fd throws EBADF", () => {
    expect(() => close(1_000_000)).toThrow(Errno);
  });
});

describe("packet I/O on a SOCK_SEQPACKET pair", () => {
  test("write and read keep boundaries; an empty nonblocking read is -EAGAIN", () => {
    const [a, b] = pair();
    try {
      expect(writeFd(a, Uint8Array.of(1, 2, 3))).toBe(3);
      expect(writeFd(a, Uint8Array.of(9, 8, 7, 6, 5), 1, 3)).toBe(3);
      const buf = new Uint8Array(64);
      expect(readFd(b, buf, 10)).toBe(3);
      expect([...buf.subarray(10, 13)]).toEqual([1, 2, 3]);
      expect(readFd(b, buf)).toBe(3);
      expect([...buf.subarray(0, 3)]).toEqual([8, 7, 6]);
      expect(readFd(b, buf)).toBe(-ERRNO.EAGAIN);
    } finally {
      close(a);
      close(b);
    }
  });

  test("writev gathers iovecs into one packet; readv scatters it", () => {
    const [a, b] = pair();
    try {
      const h = Uint8Array.of(0xaa, 0xbb);
      const p = Uint8Array.of(1, 2, 3, 4);
      const iov = new IovecArray(2);
      iov.set(0, ptr(h), h.length);
      iov.set(1, ptr(p), p.length);
      expect(writevFd(a, iov, 2)).toBe(6);
      const x = new Uint8Array(3);
      const y = new Uint8Array(8);
      const riov = new IovecArray(2);
      riov.set(0, ptr(x), x.length);
      riov.set(1, ptr(y), y.length);
      expect(readvFd(b, riov, 2)).toBe(6);
      expect([...x]).toEqual([0xaa, 0xbb, 1]);
      expect([...y.subarray(0, 3)]).toEqual([2, 3, 4]);
    } finally {
      close(a);
      close(b);
    }
  });

  test("poll reports readiness and times out when idle", () => {
    const [a, b] = pair();
    const ev = eventfd();
    try {
      setNonblocking(ev);
      const fds = new PollFds(2);
      fds.set(0, b, POLLIN);
      fds.set(1, ev, POLLIN);
      expect(poll(fds, 0)).toBe(0);
      writeFd(a, Uint8Array.of(1));
      expect(poll(fds, 1000)).toBe(1);
      expect(fds.revents(0) & POLLIN).toBe(POLLIN);
      expect(fds.revents(1)).toBe(0);
    } finally {
      close(a);
      close(b);
      close(ev);
    }
  });

  test("ppoll takes a fractional timeout: sub-millisecond, whole seconds and none (negative) are valid timespecs", () => {
    const [a, b] = pair();
    try {
      const fds = new PollFds(1);
      fds.set(0, b, POLLIN);
      // Idle: a timeout of 0 or 50 µs returns 0 (an invalid timespec would be -EINVAL).
      expect(ppoll(fds, 0)).toBe(0);
      expect(ppoll(fds, 0.05)).toBe(0);
      expect(ppoll(fds, 0.9999999)).toBe(0);
      writeFd(a, Uint8Array.of(1));
      // Ready: it returns at once whatever the timeout, once the kernel has accepted the timespec.
      for (const ms of [0, 0.2, 999.9999999, 1000, 1500.25, 86_400_000.5, -1]) {
        expect(ppoll(fds, ms)).toBe(1);
        expect(fds.revents(0) & POLLIN).toBe(POLLIN);
      }
    } finally {
      close(a);
      close(b);
    }
  });
});

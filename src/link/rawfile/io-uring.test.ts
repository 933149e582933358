import { ptr } from "bun:ffi";
import { afterEach, expect, test } from "bun:test";
import { AF_UNIX, SOCK_SEQPACKET } from "./constants.ts";
import { ERRNO } from "./errno.ts";
import { IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE, IoUring, RWF_NOWAIT } from "./io-uring.ts";
import { close, readFd, setNonblocking, socketpair, writeFd } from "./syscalls.ts";

const open: number[] = [];
const rings: IoUring[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) close(fd);
  for (const r of rings.splice(0)) r.close();
});

function ring(entries = 8): IoUring {
  const r = IoUring.setup({ entries });
  rings.push(r);
  return r;
}

function pair(): [number, number] {
  const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET);
  setNonblocking(a);
  setNonblocking(b);
  open.push(a, b);
  return [a, b];
}

test("setup maps the rings: sizes from the kernel, a NOP completes with its user_data", () => {
  const r = ring(8);
  expect(r.sqEntries).toBe(8);
  expect(r.cqEntries).toBeGreaterThanOrEqual(8);
  expect(r.sqSpace()).toBe(8);
  r.prep(IORING_OP_NOP, -1, 0, 0, 1234);
  expect(r.pending()).toBe(1);
  expect(r.submit(1)).toBe(1);
  expect(r.cqReady()).toBe(1);
  expect(r.cqeUserData(0)).toBe(1234);
  expect(r.cqeRes(0)).toBe(0);
  r.cqAdvance(1);
  expect(r.cqReady()).toBe(0);
  expect(r.sqSpace()).toBe(8);
});

test("writes and reads on a socket pair, in order; RWF_NOWAIT reads of an empty queue give -EAGAIN", () => {
  const r = ring(8);
  const [a, b] = pair();
  const one = Uint8Array.of(1, 2, 3, 4, 5);
  const two = Uint8Array.of(9, 8, 7);
  r.prep(IORING_OP_WRITE, a, ptr(one), one.length, 1, 0, RWF_NOWAIT);
  r.prep(IORING_OP_WRITE, a, ptr(two), two.length, 2, 0, RWF_NOWAIT);
  expect(r.submit(2)).toBe(2);
  expect([r.cqeUserData(0), r.cqeRes(0), r.cqeUserData(1), r.cqeRes(1)]).toEqual([1, 5, 2, 3]);
  r.cqAdvance(2);

  const buf = new Uint8Array(64);
  for (let i = 0; i < 3; i++) r.prep(IORING_OP_READ, b, ptr(buf, i * 16), 16, 10 + i, 0, RWF_NOWAIT);
  expect(r.submit(3)).toBe(3);
  expect(r.cqReady()).toBe(3);
  const res = [0, 1, 2].map((i) => [r.cqeUserData(i), r.cqeRes(i)]);
  r.cqAdvance(3);
  expect(res).toEqual([
    [10, 5],
    [11, 3],
    [12, -ERRNO.EAGAIN],
  ]);
  expect(buf.subarray(0, 5)).toEqual(one);
  expect(buf.subarray(16, 19)).toEqual(two);
});

test("the rings wrap: more requests than entries, over many rounds", () => {
  const r = ring(4);
  const [a, b] = pair();
  const out = new Uint8Array(4);
  const dv = new DataView(out.buffer);
  const inb = new Uint8Array(4);
  for (let i = 0; i < 50; i++) {
    dv.setUint32(0, i, true);
    r.prep(IORING_OP_WRITE, a, ptr(out), 4, i, 0, RWF_NOWAIT);
    r.prep(IORING_OP_READ, b, ptr(inb), 4, i + 1000, 0, RWF_NOWAIT);
    expect(r.submit(2)).toBe(2);
    expect(r.cqReady()).toBe(2);
    expect(r.cqeRes(0)).toBe(4);
    expect(r.cqeRes(1)).toBe(4);
    r.cqAdvance(2);
    expect(new DataView(inb.buffer).getUint32(0, true)).toBe(i);
  }
  // Nothing left behind in the socket.
  expect(readFd(b, inb)).toBe(-ERRNO.EAGAIN);
  expect(writeFd(a, out)).toBe(4);
});

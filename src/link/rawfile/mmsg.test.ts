import { expect, test } from "bun:test";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM } from "./constants.ts";
import { ERRNO } from "./errno.ts";
import { MmsgBatch } from "./mmsg.ts";
import { close, socketpair } from "./syscalls.ts";

test("sendmmsg and recvmmsg move a batch of datagrams in one call each, boundaries kept", () => {
  const [a, b] = socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const tx = new MmsgBatch(8, 2048);
    const rx = new MmsgBatch(16, 2048);
    for (let i = 0; i < 8; i++) tx.set(i, new Uint8Array(100 + i * 50).fill(i + 1));
    expect(tx.send(a, 8)).toBe(8);
    expect(rx.recv(b)).toBe(8);
    for (let i = 0; i < 8; i++) {
      const p = rx.packet(i);
      expect(p.length).toBe(100 + i * 50);
      expect(p.every((x) => x === i + 1)).toBe(true);
    }
    // Nothing left: a nonblocking batch read says EAGAIN.
    expect(rx.recv(b)).toBe(-ERRNO.EAGAIN);
    expect(() => tx.set(0, new Uint8Array(4096))).toThrow(RangeError);
  } finally {
    close(a);
    close(b);
  }
});

import { afterEach, expect, test } from "bun:test";
import {
  AF_UNIX,
  close,
  POLLIN,
  readFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socketpair,
  writeFd,
} from "../rawfile/index.ts";
import { type HotMember, HotPoller } from "./hot-poller.ts";

const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) close(fd);
});

/** A member over one end of a socket pair that records what each turn saw. */
function member(stayFor: number): { m: HotMember; peer: number; seen: number[] } {
  const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
  fds.push(a, b);
  const seen: number[] = [];
  const buf = new Uint8Array(64);
  const m: HotMember = {
    fd: a,
    hotEvents: POLLIN,
    hotTurn(revents) {
      seen.push(revents);
      if (revents !== 0) readFd(a, buf);
      return seen.length < stayFor;
    },
  };
  return { m, peer: b, seen };
}

async function turns(until: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((r) => setImmediate(r));
}

test("each turn polls every member once and hands it its own revents", async () => {
  const p = new HotPoller(1);
  const x = member(1000);
  const y = member(1000);
  p.add(x.m);
  p.add(y.m);
  p.add(x.m); // idempotent
  expect(p.size).toBe(2);
  writeFd(y.peer, Uint8Array.of(1));
  await turns(() => y.seen.some((r) => r !== 0));
  expect(y.seen.filter((r) => r !== 0)).toEqual([POLLIN]);
  expect(x.seen.every((r) => r === 0)).toBe(true);
  expect(x.seen.length).toBe(y.seen.length);
  p.remove(x.m);
  p.remove(y.m);
  expect(p.size).toBe(0);
});

test("a member that returns false leaves; the poller stops when none is left", async () => {
  const p = new HotPoller(1);
  const x = member(3);
  p.add(x.m);
  await turns(() => p.size === 0);
  expect(x.seen.length).toBe(3);
  expect(p.size).toBe(0);
  expect(p.has(x.m)).toBe(false);
  // No turn runs without members.
  await new Promise((r) => setTimeout(r, 20));
  expect(x.seen.length).toBe(3);
});

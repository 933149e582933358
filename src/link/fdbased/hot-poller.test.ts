import { afterEach, describe, expect, test } from "bun:test";
import { ManualClock, RealClock, realClocks } from "../../tcpip/clock.ts";
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
import { type DeadlineSource, type HotMember, HotPoller, type PollFunction } from "./hot-poller.ts";

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

describe("the wait of a turn and the stack's timers", () => {
  /** A poll that records its timeout (as is, or `prefix` + it into a log) and returns at once: nothing readable. */
  function noWait(into: (number | string)[], prefix?: string): PollFunction {
    return (_fds, ms) => {
      into.push(prefix === undefined ? ms : `${prefix}${ms}`);
      return 0;
    };
  }

  /** A poller whose poll records its timeout and returns at once (nothing readable). */
  function recording(opts: { clocks?: DeadlineSource[] } = {}) {
    const waits: number[] = [];
    const p = new HotPoller(1, { ...opts, poll: noWait(waits) });
    return { p, waits };
  }

  /** A member that stays for `n` turns and counts them (never polled for real: the fd is unused). */
  function turnsMember(n: number): { m: HotMember; turns: () => number } {
    let t = 0;
    return { m: { fd: 1_000_000, hotEvents: POLLIN, hotTurn: () => ++t < n }, turns: () => t };
  }

  /** A clock whose time and next deadline the test sets, and that logs `runDue` calls. */
  function fakeClock(now: number, deadline: number | undefined) {
    const log: string[] = [];
    const c = { now: () => now, nextDeadline: () => deadline, runDue: () => void log.push(`runDue@${now}`) };
    return {
      c,
      log,
      set(t: number, d: number | undefined) {
        now = t;
        deadline = d;
      },
    };
  }

  async function run(p: HotPoller, n: number): Promise<void> {
    const x = turnsMember(n);
    p.add(x.m);
    await turns(() => p.size === 0);
    expect(x.turns()).toBe(n);
  }

  test("without a clock every turn waits the full timeout", async () => {
    const { p, waits } = recording();
    await run(p, 3);
    expect(waits).toEqual([1, 1, 1]);
  });

  test("a timer due in 0.2 ms bounds the wait to 0.2 ms, and the poller then fires the due timers", async () => {
    const clock = fakeClock(10, 10.2);
    const { p, waits } = recording({ clocks: [clock.c] });
    await run(p, 1);
    // The deadline less now(), in the clock's own time.
    expect(waits.length).toBe(1);
    expect(waits[0]).toBeCloseTo(0.2, 12);
    expect(clock.log).toEqual(["runDue@10"]);
  });

  test("a timer already due: no block at all (timeout 0); a later one than the timeout: the full timeout and no runDue", async () => {
    const clock = fakeClock(50, 49.5);
    const { p, waits } = recording({ clocks: [clock.c] });
    await run(p, 1);
    clock.set(50, 50);
    await run(p, 1);
    clock.set(50, 51.5);
    await run(p, 1);
    clock.set(50, undefined);
    await run(p, 1);
    expect(waits).toEqual([0, 0, 1, 1]);
    expect(clock.log).toEqual(["runDue@50", "runDue@50"]);
  });

  test("with several clocks the earliest deadline wins, each in its own time base; every clock is asked to run its due timers", async () => {
    const a = fakeClock(1000, 1000.7);
    const b = fakeClock(5, 5.25);
    const { p, waits } = recording({ clocks: [a.c, b.c] });
    await run(p, 1);
    expect(waits).toEqual([0.25]);
    expect([...a.log, ...b.log]).toEqual(["runDue@1000", "runDue@5"]);
  });

  test("a ManualClock as the stack's clock: addClock bounds the wait by its next timer until removed", async () => {
    const clock = new ManualClock(0);
    const { p, waits } = recording();
    const remove = p.addClock(clock);
    let fired = 0;
    clock.afterFunc(0.125, () => fired++);
    await run(p, 1);
    clock.advance(0.125);
    expect(fired).toBe(1);
    await run(p, 1); // no timer left
    clock.afterFunc(0.5, () => fired++);
    await run(p, 1);
    remove();
    remove(); // idempotent
    await run(p, 1);
    expect(waits).toEqual([0.125, 1, 0.5, 1]);
  });

  test("the due timers run after the wait and before the members' turn", async () => {
    const clock = fakeClock(0, 0.3);
    const log = clock.log;
    const p = new HotPoller(1, { clocks: [clock.c], poll: noWait(log, "poll ") });
    p.add({
      fd: 1_000_000,
      hotEvents: POLLIN,
      hotTurn: () => {
        log.push("member");
        return false;
      },
    });
    await turns(() => p.size === 0);
    expect(log).toEqual(["poll 0.3", "runDue@0", "member"]);
  });

  test("a clock without nextDeadline is not watched: the full timeout", async () => {
    const { p, waits } = recording();
    p.addClock({ now: () => 0 });
    await run(p, 1);
    expect(waits).toEqual([1]);
  });

  test("watching realClocks (as the thread's poller does), a RealClock's timer bounds the wait with no wiring", async () => {
    const waits: number[] = [];
    const p = new HotPoller(10_000, { clocks: [realClocks], poll: noWait(waits) });
    const c = new RealClock();
    // Watched already: adding and removing it changes nothing.
    p.addClock(c)();
    const t = c.afterFunc(300, () => {});
    const x = turnsMember(1);
    p.add(x.m);
    await turns(() => p.size === 0);
    t.stop();
    // At most the timer's 300 ms (less if another test's clock has an earlier one), not 10 s.
    expect(waits.length).toBe(1);
    expect(waits[0]).toBeLessThanOrEqual(300);
  });
});

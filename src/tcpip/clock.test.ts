import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ManualClock, RealClock, realClocks, type Timer } from "./clock.ts";

describe("ManualClock", () => {
  test("starts where told and moves only when advanced", () => {
    const c = new ManualClock(100, 5_000);
    expect(c.now()).toBe(100);
    expect(c.wallNow()).toBe(5_100);
    c.advance(50);
    expect(c.now()).toBe(150);
    expect(new ManualClock().wallNow()).toBe(1_700_000_000_000);
  });

  test("refuses to go back in time", () => {
    const c = new ManualClock(10);
    expect(() => c.advance(-1)).toThrow(RangeError);
    expect(() => c.advance(Number.NaN)).toThrow(RangeError);
    expect(c.now()).toBe(10);
  });

  test("fires timers in deadline order, then in the order they were set, reading now() as each deadline", () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.afterFunc(30, () => log.push(`c@${c.now()}`));
    c.afterFunc(10, () => log.push(`a@${c.now()}`));
    c.afterFunc(20, () => log.push(`b1@${c.now()}`));
    c.afterFunc(20, () => log.push(`b2@${c.now()}`));
    c.advance(25);
    expect(log).toEqual(["a@10", "b1@20", "b2@20"]);
    expect(c.now()).toBe(25);
    c.advance(5);
    expect(log).toEqual(["a@10", "b1@20", "b2@20", "c@30"]);
    expect(c.pendingTimers).toBe(0);
  });

  test("a timer fires once, at its deadline and not before", () => {
    const c = new ManualClock();
    let n = 0;
    const t = c.afterFunc(10, () => n++);
    c.advance(9.5);
    expect(n).toBe(0);
    expect(t.pending).toBe(true);
    c.advance(0.5);
    expect(n).toBe(1);
    expect(t.pending).toBe(false);
    c.advance(100);
    expect(n).toBe(1);
  });

  test("stop cancels a pending timer and says whether it was pending", () => {
    const c = new ManualClock();
    let n = 0;
    const t = c.afterFunc(10, () => n++);
    expect(t.stop()).toBe(true);
    expect(t.stop()).toBe(false);
    expect(t.pending).toBe(false);
    c.advance(20);
    expect(n).toBe(0);
  });

  test("reset re-arms from now, whether pending, stopped or fired", () => {
    const c = new ManualClock();
    const at: number[] = [];
    const t = c.afterFunc(10, () => at.push(c.now()));
    c.advance(5);
    t.reset(10); // pending: moves to 15
    c.advance(9);
    expect(at).toEqual([]);
    c.advance(1);
    expect(at).toEqual([15]);
    t.reset(3); // fired: arms again
    c.advance(3);
    expect(at).toEqual([15, 18]);
    t.reset(5);
    t.stop();
    t.reset(1); // stopped: arms again
    c.advance(1);
    expect(at).toEqual([15, 18, 19]);
  });

  test("negative delays fire at the next advance", () => {
    const c = new ManualClock(7);
    let fired = -1;
    c.afterFunc(-5, () => {
      fired = c.now();
    });
    c.runDue();
    expect(fired).toBe(7);
  });

  test("timers set inside callbacks fire in the same advance when due, in order", () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.afterFunc(10, () => {
      log.push(`a@${c.now()}`);
      c.afterFunc(0, () => log.push(`a0@${c.now()}`));
      c.afterFunc(5, () => log.push(`a5@${c.now()}`));
      c.afterFunc(50, () => log.push(`a50@${c.now()}`));
    });
    c.afterFunc(12, () => log.push(`b@${c.now()}`));
    c.advance(20);
    expect(log).toEqual(["a@10", "a0@10", "b@12", "a5@15"]);
    expect(c.pendingTimers).toBe(1);
  });

  test("a callback may stop or reset other timers", () => {
    const c = new ManualClock();
    const log: string[] = [];
    let b: Timer | undefined;
    let d: Timer | undefined;
    c.afterFunc(1, () => {
      log.push("a");
      b?.stop();
      d?.reset(0);
    });
    b = c.afterFunc(2, () => log.push("b"));
    d = c.afterFunc(100, () => log.push(`d@${c.now()}`));
    c.advance(3);
    expect(log).toEqual(["a", "d@1"]);
  });

  test("a timer reset from its own callback fires again (a periodic timer)", () => {
    const c = new ManualClock();
    const at: number[] = [];
    const t: Timer = c.afterFunc(10, () => {
      at.push(c.now());
      if (at.length < 3) t.reset(10);
    });
    c.advance(100);
    expect(at).toEqual([10, 20, 30]);
  });

  test("advanceToNext jumps to the next deadline", () => {
    const c = new ManualClock();
    expect(c.advanceToNext()).toBe(false);
    let n = 0;
    c.afterFunc(40, () => n++);
    c.afterFunc(70, () => n++);
    expect(c.advanceToNext()).toBe(true);
    expect(c.now()).toBe(40);
    expect(n).toBe(1);
    expect(c.advanceToNext()).toBe(true);
    expect(c.now()).toBe(70);
    expect(c.advanceToNext()).toBe(false);
  });

  test("the heap fires any set of timers in (deadline, insertion) order, with stops (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 50 }), stop: fc.boolean() }), {
          maxLength: 60,
        }),
        (specs) => {
          const c = new ManualClock();
          const fired: number[] = [];
          const timers = specs.map((s, i) => c.afterFunc(s.delay, () => fired.push(i)));
          specs.forEach((s, i) => {
            if (s.stop) timers[i]!.stop();
          });
          expect(c.pendingTimers).toBe(specs.filter((s) => !s.stop).length);
          c.advance(50);
          const want = specs
            .map((s, i) => ({ ...s, i }))
            .filter((s) => !s.stop)
            .sort((a, b) => a.delay - b.delay || a.i - b.i)
            .map((s) => s.i);
          expect(fired).toEqual(want);
          expect(c.pendingTimers).toBe(0);
        },
      ),
    );
  });
});

describe("nextDeadline", () => {
  test("is the earliest pending deadline in now()'s time, undefined with none", () => {
    const c = new ManualClock(100);
    expect(c.nextDeadline()).toBeUndefined();
    const late = c.afterFunc(30, () => {});
    const early = c.afterFunc(0.25, () => {});
    expect(c.nextDeadline()).toBe(100.25);
    early.stop();
    expect(c.nextDeadline()).toBe(130);
    late.reset(5);
    expect(c.nextDeadline()).toBe(105);
    c.advance(5);
    expect(c.nextDeadline()).toBeUndefined();
  });

  test("ManualClock.runDue fires what is due and nothing later", () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.afterFunc(0, () => log.push("now"));
    c.afterFunc(1, () => log.push("later"));
    c.runDue();
    expect(log).toEqual(["now"]);
    expect(c.nextDeadline()).toBe(1);
  });
});

describe("RealClock", () => {
  const fire = (c: RealClock, delay: number, log: string[], name: string) =>
    new Promise<void>((resolve) =>
      c.afterFunc(delay, () => {
        log.push(name);
        resolve();
      }),
    );

  test("fires timers through one host timer, in deadline order", async () => {
    const c = new RealClock();
    const log: string[] = [];
    const late = fire(c, 20, log, "late");
    const early = fire(c, 1, log, "early");
    expect(c.pendingTimers).toBe(2);
    await Promise.all([late, early]);
    expect(log).toEqual(["early", "late"]);
    expect(c.pendingTimers).toBe(0);
  });

  test("a stopped timer never fires; a reset one fires once", async () => {
    const c = new RealClock();
    const log: string[] = [];
    const stopped = c.afterFunc(1, () => log.push("stopped"));
    const moved = c.afterFunc(1, () => log.push("moved"));
    moved.reset(2);
    stopped.stop();
    await fire(c, 15, log, "end");
    expect(log).toEqual(["moved", "end"]);
  });

  test("stopping the only timer leaves nothing pending, and new timers still fire", async () => {
    const c = new RealClock();
    const t = c.afterFunc(5, () => {});
    expect(t.stop()).toBe(true);
    expect(c.pendingTimers).toBe(0);
    const log: string[] = [];
    await fire(c, 1, log, "after");
    expect(log).toEqual(["after"]);
  });

  test("timers set inside a callback fire", async () => {
    const c = new RealClock();
    const log: string[] = [];
    await new Promise<void>((resolve) => {
      c.afterFunc(1, () => {
        log.push("outer");
        c.afterFunc(0, () => {
          log.push("inner");
          resolve();
        });
      });
    });
    expect(log).toEqual(["outer", "inner"]);
  });

  test("runDue fires the due timers at once, without the host timer, and leaves the rest", () => {
    const c = new RealClock();
    const log: string[] = [];
    const later = c.afterFunc(60_000, () => log.push("later"));
    c.afterFunc(0, () => log.push("due"));
    expect(c.nextDeadline()).toBeLessThanOrEqual(c.now());
    c.runDue();
    expect(log).toEqual(["due"]);
    expect(c.pendingTimers).toBe(1);
    expect(c.nextDeadline()).toBeGreaterThan(c.now());
    later.stop();
    expect(c.nextDeadline()).toBeUndefined();
  });

  test("realClocks reports and fires the due timers of every RealClock of the thread", () => {
    const a = new RealClock();
    const b = new RealClock();
    const log: string[] = [];
    const aLater = a.afterFunc(60_000, () => log.push("a later"));
    b.afterFunc(0, () => log.push("b due"));
    const stopped = a.afterFunc(0, () => log.push("a stopped"));
    stopped.stop();
    // Other tests' clocks may hold earlier timers, never later ones than a due one.
    expect(realClocks.nextDeadline()).toBeLessThanOrEqual(b.nextDeadline()!);
    expect(realClocks.now()).toBeGreaterThanOrEqual(b.nextDeadline()!);
    realClocks.runDue();
    expect(log).toEqual(["b due"]);
    expect(b.pendingTimers).toBe(0);
    expect(a.pendingTimers).toBe(1);
    aLater.stop();
    // Out of timers, both clocks left the list; listing again works.
    b.afterFunc(0, () => log.push("b again"));
    realClocks.runDue();
    expect(log).toEqual(["b due", "b again"]);
  });

  test("now is monotonic and wallNow is epoch milliseconds", () => {
    const c = new RealClock();
    const a = c.now();
    const b = c.now();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(c.wallNow()).toBeGreaterThan(1_600_000_000_000);
  });
});

/** EndpointTimer (issue 10): a later deadline is kept lazily and honoured exactly; earlier ones and stops at once. */
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../tcpip/clock.ts";
import { EndpointTimer } from "./timers.ts";

function setup() {
  const clock = new ManualClock();
  const fired: number[] = [];
  const t = new EndpointTimer(clock, () => fired.push(clock.now()));
  return { clock, fired, t };
}

describe("EndpointTimer", () => {
  test("re-armed for later it fires once, at the new deadline, without leaving the clock's heap", () => {
    const { clock, fired, t } = setup();
    t.arm(10);
    clock.advance(5);
    t.arm(10);
    expect(t.deadline).toBe(15);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5);
    expect(fired).toEqual([]);
    expect(t.pending).toBe(true);
    clock.advance(4);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([15]);
    expect(t.pending).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  test("re-armed for earlier it fires at the earlier deadline", () => {
    const { clock, fired, t } = setup();
    t.arm(100);
    clock.advance(10);
    t.arm(5);
    clock.advance(100);
    expect(fired).toEqual([15]);
  });

  test("stop cancels at once; armIfIdle keeps a pending deadline", () => {
    const { clock, fired, t } = setup();
    t.arm(10);
    t.armIfIdle(1);
    expect(t.deadline).toBe(10);
    t.stop();
    expect(t.pending).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(50);
    expect(fired).toEqual([]);
    t.armIfIdle(1);
    clock.advance(1);
    expect(fired).toEqual([51]);
  });

  test("a timer re-armed from its own callback fires again", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const t: EndpointTimer = new EndpointTimer(clock, () => {
      fired.push(clock.now());
      if (fired.length < 3) t.arm(7);
    });
    t.arm(7);
    clock.advance(100);
    expect(fired).toEqual([7, 14, 21]);
  });

  test("deadlines come from the time source given (the endpoint's once-per-batch clock)", () => {
    const clock = new ManualClock(100);
    const fired: number[] = [];
    const t = new EndpointTimer(clock, () => fired.push(clock.now()), { now: () => 90 });
    t.arm(20);
    expect(t.deadline).toBe(110);
    clock.advance(30);
    expect(fired.length).toBe(1);
  });
});

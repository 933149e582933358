/** Link batches (issue 10): work deferred with `deferUntilBatchEnd` runs once, when the outermost batch ends. */
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../tcpip/clock.ts";
import { SeededRandom } from "../tcpip/random.ts";
import { Stack } from "./stack.ts";

function newStack(): Stack {
  return new Stack({ networkProtocols: [], clock: new ManualClock(), random: new SeededRandom(1) });
}

describe("Stack link batches", () => {
  test("outside a batch nothing is deferred", () => {
    const s = newStack();
    expect(s.deferUntilBatchEnd({ flushDeferred() {} })).toBe(false);
  });

  test("deferred work runs at the end of the outermost batch, in order, once", () => {
    const s = newStack();
    const ran: string[] = [];
    s.beginBatch();
    s.beginBatch();
    expect(s.deferUntilBatchEnd({ flushDeferred: () => ran.push("a") })).toBe(true);
    expect(s.deferUntilBatchEnd({ flushDeferred: () => ran.push("b") })).toBe(true);
    s.endBatch();
    expect(ran).toEqual([]);
    s.endBatch();
    expect(ran).toEqual(["a", "b"]);
    s.endBatch(); // unbalanced: ignored
    expect(ran).toEqual(["a", "b"]);
    expect(s.deferUntilBatchEnd({ flushDeferred() {} })).toBe(false);
  });

  test("an item that throws does not keep the others from running; the error comes out after", () => {
    const s = newStack();
    const ran: string[] = [];
    s.beginBatch();
    s.deferUntilBatchEnd({
      flushDeferred() {
        throw new Error("boom");
      },
    });
    s.deferUntilBatchEnd({ flushDeferred: () => ran.push("b") });
    expect(() => s.endBatch()).toThrow("boom");
    expect(ran).toEqual(["b"]);
    // The next batch starts clean.
    s.beginBatch();
    s.deferUntilBatchEnd({ flushDeferred: () => ran.push("c") });
    s.endBatch();
    expect(ran).toEqual(["b", "c"]);
  });

  test("batchNow: the clock outside a batch; inside, the time of its first read, through the batch's end-of-batch work", () => {
    const clock = new ManualClock();
    const s = new Stack({ networkProtocols: [], clock, random: new SeededRandom(1) });
    clock.advance(10);
    expect(s.batchNow()).toBe(10);
    s.beginBatch();
    clock.advance(5);
    expect(s.batchNow()).toBe(15);
    clock.advance(5);
    expect(s.batchNow()).toBe(15);
    const seen: number[] = [];
    s.deferUntilBatchEnd({
      flushDeferred() {
        clock.advance(1);
        seen.push(s.batchNow());
        // A batch nested in the end-of-batch work reads its own time; the work then reads anew.
        s.beginBatch();
        seen.push(s.batchNow());
        s.endBatch();
        clock.advance(1);
        seen.push(s.batchNow());
      },
    });
    s.endBatch();
    expect(seen).toEqual([15, 21, 22]);
    expect(s.batchNow()).toBe(22);
    clock.advance(3);
    expect(s.batchNow()).toBe(25);
    // The next batch reads the clock again.
    s.beginBatch();
    expect(s.batchNow()).toBe(25);
    s.endBatch();
  });
});

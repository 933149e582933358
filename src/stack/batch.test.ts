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
});

import { describe, expect, test } from "bun:test";
import {
  type Entry,
  EventAll,
  EventErr,
  EventHUp,
  EventIn,
  type EventMask,
  EventOut,
  EventPri,
  Queue,
  waitFor,
} from "./waiter.ts";

/** An entry that records the masks it was called with. */
function recorder(log: string[] = [], name = "e"): Entry & { calls: EventMask[] } {
  const calls: EventMask[] = [];
  return {
    calls,
    callback(m) {
      calls.push(m);
      log.push(name);
    },
  };
}

describe("event bits", () => {
  test("match poll(2) (the seed uses the EPOLL values)", () => {
    expect([EventIn, EventPri, EventOut, EventErr, EventHUp]).toEqual([1, 2, 4, 8, 16]);
    expect(EventAll).toBe(31);
  });
});

describe("Queue", () => {
  test("notify calls entries whose mask intersects, with the intersection", () => {
    const q = new Queue();
    const r = recorder();
    const w = recorder();
    q.register(r, EventIn | EventHUp);
    q.register(w, EventOut);
    q.notify(EventIn | EventOut | EventErr);
    expect(r.calls).toEqual([EventIn]);
    expect(w.calls).toEqual([EventOut]);
    q.notify(EventPri);
    expect(r.calls).toEqual([EventIn]);
    expect(w.calls).toEqual([EventOut]);
  });

  test("calls entries in registration order", () => {
    const log: string[] = [];
    const q = new Queue();
    for (const name of ["a", "b", "c"]) q.register(recorder(log, name), EventIn);
    q.notify(EventIn);
    expect(log).toEqual(["a", "b", "c"]);
  });

  test("events() is the union of registered masks; isEmpty and size follow registrations", () => {
    const q = new Queue();
    expect(q.events()).toBe(0);
    expect(q.isEmpty).toBe(true);
    const a = recorder();
    const b = recorder();
    q.register(a, EventIn);
    q.register(b, EventOut | EventErr);
    expect(q.events()).toBe(EventIn | EventOut | EventErr);
    expect(q.size).toBe(2);
    q.unregister(a);
    expect(q.events()).toBe(EventOut | EventErr);
    q.unregister(b);
    expect(q.isEmpty).toBe(true);
  });

  test("registering an entry again replaces its mask and keeps its place", () => {
    const log: string[] = [];
    const q = new Queue();
    const a = recorder(log, "a");
    q.register(a, EventIn);
    q.register(recorder(log, "b"), EventOut);
    q.register(a, EventOut);
    expect(q.size).toBe(2);
    q.notify(EventIn);
    expect(log).toEqual([]);
    q.notify(EventOut);
    expect(log).toEqual(["a", "b"]);
  });

  test("unregistering an unknown entry does nothing", () => {
    const q = new Queue();
    const a = recorder();
    q.register(a, EventIn);
    q.unregister(recorder());
    q.notify(EventIn);
    expect(a.calls).toEqual([EventIn]);
  });

  test("an entry may wait in two queues", () => {
    const q1 = new Queue();
    const q2 = new Queue();
    const a = recorder();
    q1.register(a, EventIn);
    q2.register(a, EventOut);
    q1.notify(EventAll);
    q2.notify(EventAll);
    q1.unregister(a);
    q1.notify(EventAll);
    expect(a.calls).toEqual([EventIn, EventOut]);
  });

  test("notify on an empty queue does nothing", () => {
    const q = new Queue();
    q.notify(EventAll);
    expect(q.events()).toBe(0);
  });

  describe("changes from inside callbacks", () => {
    test("a callback that unregisters itself runs once", () => {
      const q = new Queue();
      let n = 0;
      const once: Entry = {
        callback() {
          n++;
          q.unregister(once);
        },
      };
      const after = recorder();
      q.register(once, EventIn);
      q.register(after, EventIn);
      q.notify(EventIn);
      q.notify(EventIn);
      expect(n).toBe(1);
      expect(after.calls).toEqual([EventIn, EventIn]);
      expect(q.size).toBe(1);
    });

    test("an entry unregistered by an earlier callback is not called in that pass", () => {
      const log: string[] = [];
      const q = new Queue();
      const b = recorder(log, "b");
      const c = recorder(log, "c");
      q.register(
        {
          callback() {
            log.push("a");
            q.unregister(b);
          },
        },
        EventIn,
      );
      q.register(b, EventIn);
      q.register(c, EventIn);
      q.notify(EventIn);
      expect(log).toEqual(["a", "c"]);
      q.notify(EventIn);
      expect(log).toEqual(["a", "c", "a", "c"]);
    });

    test("a callback that unregisters everyone, itself included, ends the pass", () => {
      const q = new Queue();
      const others = [recorder(), recorder()];
      const killer: Entry = {
        callback() {
          q.unregister(killer);
          for (const o of others) q.unregister(o);
        },
      };
      q.register(killer, EventIn);
      for (const o of others) q.register(o, EventIn);
      q.notify(EventIn);
      expect(others.map((o) => o.calls.length)).toEqual([0, 0]);
      expect(q.isEmpty).toBe(true);
      expect(q.events()).toBe(0);
    });

    test("an entry registered during notify is first called by the next notify", () => {
      const q = new Queue();
      const late = recorder();
      q.register(
        {
          callback() {
            q.register(late, EventIn);
          },
        },
        EventIn,
      );
      q.notify(EventIn);
      expect(late.calls).toEqual([]);
      q.notify(EventIn);
      expect(late.calls).toEqual([EventIn]);
    });

    test("an entry unregistered and registered again during notify waits for the next pass", () => {
      const log: string[] = [];
      const q = new Queue();
      const b = recorder(log, "b");
      let moved = false;
      q.register(
        {
          callback() {
            log.push("a");
            if (moved) return;
            moved = true;
            q.unregister(b);
            q.register(b, EventIn);
          },
        },
        EventIn,
      );
      q.register(b, EventIn);
      q.notify(EventIn);
      expect(log).toEqual(["a"]);
      q.notify(EventIn);
      expect(log).toEqual(["a", "a", "b"]);
    });

    test("a nested notify from a callback reaches everyone, and removals inside it hold", () => {
      const log: string[] = [];
      const q = new Queue();
      const c = recorder(log, "c");
      const a: Entry = {
        callback(m) {
          log.push(`a${m}`);
          if (m === EventIn) {
            q.notify(EventOut);
            q.unregister(c);
          }
        },
      };
      q.register(a, EventIn | EventOut);
      q.register(recorder(log, "b"), EventOut);
      q.register(c, EventIn | EventOut);
      q.notify(EventIn);
      expect(log).toEqual([`a${EventIn}`, `a${EventOut}`, "b", "c"]);
      expect(q.size).toBe(2);
      q.notify(EventAll);
      expect(log.slice(4)).toEqual([`a${EventIn | EventOut}`, "b"]);
    });

    test("a throwing callback propagates and leaves the queue usable", () => {
      const q = new Queue();
      const self: Entry = {
        callback() {
          q.unregister(self);
          throw new Error("boom");
        },
      };
      const other = recorder();
      q.register(self, EventIn);
      q.register(other, EventIn);
      expect(() => q.notify(EventIn)).toThrow("boom");
      q.notify(EventIn);
      expect(other.calls).toEqual([EventIn]);
      expect(q.size).toBe(1);
    });
  });
});

describe("waitFor", () => {
  test("resolves at once when already ready, without registering", async () => {
    const q = new Queue();
    const p = waitFor(q, EventIn, (m) => m & EventIn);
    expect(q.isEmpty).toBe(true);
    expect(await p).toBe(EventIn);
  });

  test("waits for a notify that makes the object ready, then unregisters", async () => {
    const q = new Queue();
    let ready = 0;
    const p = waitFor(q, EventIn, (m) => m & ready);
    expect(q.size).toBe(1);
    expect(q.events()).toBe(EventIn | EventErr | EventHUp);
    // A notify that does not change readiness (a spurious wakeup) keeps waiting.
    q.notify(EventIn);
    expect(q.size).toBe(1);
    ready = EventIn | EventOut;
    q.notify(EventIn);
    expect(q.isEmpty).toBe(true);
    expect(await p).toBe(EventIn);
  });

  test("wakes on EventHUp and EventErr like poll(2), even when asked only for EventIn", async () => {
    const q = new Queue();
    let ready = 0;
    const p = waitFor(q, EventIn, (m) => m & ready);
    ready = EventHUp;
    q.notify(EventHUp);
    expect(await p).toBe(EventHUp);
  });

  test("an abort unregisters and rejects with the reason", async () => {
    const q = new Queue();
    const ac = new AbortController();
    const p = waitFor(q, EventOut, () => 0, ac.signal);
    expect(q.size).toBe(1);
    ac.abort(new Error("gave up"));
    await expect(p).rejects.toThrow("gave up");
    expect(q.isEmpty).toBe(true);
  });

  test("an already aborted signal rejects without registering", async () => {
    const q = new Queue();
    const ac = new AbortController();
    ac.abort(new Error("early"));
    await expect(waitFor(q, EventIn, () => 0, ac.signal)).rejects.toThrow("early");
    expect(q.isEmpty).toBe(true);
  });

  test("once resolved, a later abort changes nothing", async () => {
    const q = new Queue();
    const ac = new AbortController();
    let ready = 0;
    const p = waitFor(q, EventIn, (m) => m & ready, ac.signal);
    ready = EventIn;
    q.notify(EventIn);
    ac.abort();
    expect(await p).toBe(EventIn);
    expect(q.isEmpty).toBe(true);
  });
});

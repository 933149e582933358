import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { newStats } from "../../tcpip/stats.ts";
import {
  DATAGRAM_OVERHEAD,
  FRAGMENT_OVERHEAD,
  fragmentKey,
  type OverlapPolicy,
  Reassembler,
  type ReassemblerOptions,
  type ReassemblyResult,
} from "./reassembler.ts";

function setup(overlap: OverlapPolicy, extra: Partial<ReassemblerOptions<string>> = {}) {
  const clock = new ManualClock();
  const stats = newStats();
  const timeouts: { key: string; first: string | undefined }[] = [];
  const r = new Reassembler<string>({
    clock,
    stats: stats.fragments,
    timeoutMs: 30_000,
    overlap,
    onTimeout: (key, first) => timeouts.push({ key, first }),
    ...extra,
  });
  return { clock, stats, r, timeouts };
}

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

function done<T>(res: ReassemblyResult<T>): Uint8Array {
  expect(res.kind).toBe("done");
  if (res.kind !== "done") throw new Error("not done");
  return res.payload.toBytes();
}

const K = "k";

describe("fragmentKey", () => {
  const a = Address.parse("fd00::1");
  const b = Address.parse("fd00::2");
  test("differs by every field", () => {
    const base = fragmentKey(a, b, 7, 17);
    expect(fragmentKey(b, a, 7, 17)).not.toBe(base);
    expect(fragmentKey(a, b, 8, 17)).not.toBe(base);
    expect(fragmentKey(a, b, 7, 6)).not.toBe(base);
    expect(fragmentKey(a, b, 0x10007, 17)).not.toBe(base);
    expect(fragmentKey(a, b, 7, 17)).toBe(base);
    expect(fragmentKey(a, b, 7)).not.toBe(base);
  });
});

for (const policy of ["discard", "keepFirst"] as const) {
  describe(`reassembly (${policy})`, () => {
    test("in order", () => {
      const { r, stats } = setup(policy);
      const p = bytes(24);
      expect(r.process(K, 0, true, 17, p.subarray(0, 8), "first").kind).toBe("pending");
      expect(r.process(K, 8, true, 17, p.subarray(8, 16)).kind).toBe("pending");
      const res = r.process(K, 16, false, 17, p.subarray(16));
      expect(done(res)).toEqual(p);
      if (res.kind === "done") {
        expect(res.first).toBe("first");
        expect(res.proto).toBe(17);
      }
      expect(stats.fragments.received).toBe(3);
      expect(stats.fragments.reassembled).toBe(1);
      expect(r.size).toBe(0);
      expect(r.memoryUsed).toBe(0);
    });

    test("out of order, last first", () => {
      const { r } = setup(policy);
      const p = bytes(20);
      expect(r.process(K, 16, false, 6, p.subarray(16)).kind).toBe("pending");
      expect(r.process(K, 8, true, 99, p.subarray(8, 16)).kind).toBe("pending");
      const res = r.process(K, 0, true, 6, p.subarray(0, 8));
      expect(done(res)).toEqual(p);
      // The protocol comes from the offset-0 fragment (RFC 8200 §4.5).
      if (res.kind === "done") expect(res.proto).toBe(6);
    });

    test("exact duplicate is dropped alone", () => {
      const { r, stats } = setup(policy);
      const p = bytes(16);
      r.process(K, 0, true, 17, p.subarray(0, 8));
      const dup = r.process(K, 0, true, 17, p.subarray(0, 8));
      expect(dup).toEqual({ kind: "dropped", reason: "duplicate" });
      expect(done(r.process(K, 8, false, 17, p.subarray(8)))).toEqual(p);
      expect(stats.fragments.dropped).toBe(1);
    });

    test("duplicate last fragment", () => {
      const { r } = setup(policy);
      const p = bytes(16);
      r.process(K, 8, false, 17, p.subarray(8));
      expect(r.process(K, 8, false, 17, p.subarray(8)).kind).toBe("dropped");
      expect(done(r.process(K, 0, true, 17, p.subarray(0, 8)))).toEqual(p);
    });

    test("atomic fragment is delivered at once (RFC 6946)", () => {
      const { r } = setup(policy);
      const p = bytes(10);
      expect(done(r.process(K, 0, false, 17, p))).toEqual(p);
      expect(r.size).toBe(0);
    });

    test("empty non-last fragment is dropped", () => {
      const { r, stats } = setup(policy);
      expect(r.process(K, 8, true, 17, new Uint8Array(0))).toEqual({ kind: "dropped", reason: "empty" });
      expect(stats.fragments.dropped).toBe(1);
      expect(r.size).toBe(0);
    });

    test("empty last fragment fixes the end", () => {
      const { r } = setup(policy);
      const p = bytes(16);
      r.process(K, 0, true, 17, p.subarray(0, 8));
      expect(r.process(K, 16, false, 17, new Uint8Array(0)).kind).toBe("pending");
      expect(done(r.process(K, 8, true, 17, p.subarray(8)))).toEqual(p);
    });

    test("a fragment past the end given by the last one abandons the datagram", () => {
      const { r, stats } = setup(policy);
      const p = bytes(32);
      r.process(K, 8, false, 17, p.subarray(8, 16));
      expect(r.process(K, 16, true, 17, p.subarray(16, 24))).toEqual({
        kind: "dropped",
        reason: "inconsistentEnd",
      });
      expect(r.size).toBe(0);
      expect(stats.fragments.dropped).toBe(1);
    });

    test("two different last fragments abandon the datagram", () => {
      const { r } = setup(policy);
      const p = bytes(32);
      r.process(K, 8, false, 17, p.subarray(8, 16));
      expect(r.process(K, 16, false, 17, p.subarray(16, 24)).kind).toBe("dropped");
      expect(r.size).toBe(0);
    });

    test("a last fragment before received data abandons the datagram", () => {
      const { r } = setup(policy);
      const p = bytes(32);
      r.process(K, 24, true, 17, p.subarray(24, 32));
      expect(r.process(K, 8, false, 17, p.subarray(8, 16)).kind).toBe("dropped");
      expect(r.size).toBe(0);
    });

    test("payload over the maximum size is dropped", () => {
      const { r, stats } = setup(policy);
      expect(r.process(K, 65528, false, 17, bytes(16))).toEqual({ kind: "dropped", reason: "tooBig" });
      expect(stats.fragments.dropped).toBe(1);
      expect(r.size).toBe(0);
    });

    test("exactly the maximum size reassembles", () => {
      const { r } = setup(policy, { maxPayloadSize: 65535 });
      const p = bytes(65535);
      expect(r.process(K, 0, true, 17, p.subarray(0, 32768)).kind).toBe("pending");
      expect(done(r.process(K, 32768, false, 17, p.subarray(32768)))).toEqual(p);
    });

    test("timeout after the first fragment reports its context", () => {
      const { r, clock, stats, timeouts } = setup(policy);
      r.process(K, 0, true, 17, bytes(8), "ctx0");
      clock.advance(29_999);
      expect(timeouts).toEqual([]);
      clock.advance(1);
      expect(timeouts).toEqual([{ key: K, first: "ctx0" }]);
      expect(stats.fragments.timedOut).toBe(1);
      expect(r.size).toBe(0);
      expect(r.memoryUsed).toBe(0);
    });

    test("timeout without the first fragment reports undefined (no ICMP)", () => {
      const { r, clock, timeouts } = setup(policy);
      r.process(K, 8, true, 17, bytes(8));
      clock.advance(30_000);
      expect(timeouts).toEqual([{ key: K, first: undefined }]);
    });

    test("the timer runs from the first-arriving fragment", () => {
      const { r, clock, timeouts } = setup(policy);
      r.process(K, 8, true, 17, bytes(8));
      clock.advance(20_000);
      r.process(K, 0, true, 17, bytes(8), "c");
      clock.advance(10_000);
      expect(timeouts.length).toBe(1);
    });

    test("no timeout after completion", () => {
      const { r, clock, timeouts } = setup(policy);
      const p = bytes(16);
      r.process(K, 0, true, 17, p.subarray(0, 8));
      done(r.process(K, 8, false, 17, p.subarray(8)));
      clock.advance(60_000);
      expect(timeouts).toEqual([]);
      expect(clock.pendingTimers).toBe(0);
    });

    test("keys are independent", () => {
      const { r } = setup(policy);
      const a = bytes(16, 1);
      const b = bytes(16, 2);
      r.process("a", 0, true, 17, a.subarray(0, 8));
      r.process("b", 8, false, 17, b.subarray(8));
      expect(done(r.process("a", 8, false, 17, a.subarray(8)))).toEqual(a);
      expect(done(r.process("b", 0, true, 17, b.subarray(0, 8)))).toEqual(b);
    });

    test("fragment bytes are copied (the link may reuse its buffer)", () => {
      const { r } = setup(policy);
      const buf = bytes(8, 3);
      const want = Uint8Array.from([...buf, ...bytes(8, 4)]);
      r.process(K, 0, true, 17, buf);
      buf.fill(0);
      expect(done(r.process(K, 8, false, 17, bytes(8, 4)))).toEqual(want);
    });

    test("memory above high evicts the oldest datagrams down to low", () => {
      const high = 10 * (DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000);
      const low = 5 * (DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000);
      const { r, stats } = setup(policy, { highMemory: high, lowMemory: low });
      for (let i = 0; i < 10; i++) expect(r.process(`d${i}`, 0, true, 17, bytes(1000)).kind).toBe("pending");
      expect(r.memoryUsed).toBe(high);
      expect(r.process("d10", 0, true, 17, bytes(1000)).kind).toBe("pending");
      expect(r.memoryUsed).toBeLessThanOrEqual(low);
      expect(stats.fragments.memoryPressureDrops).toBe(6);
      // The oldest went first: d0 starts over, d10 is still there.
      expect(r.process("d10", 1000, false, 17, bytes(8)).kind).toBe("done");
    });

    test("a datagram larger than the low threshold is evicted itself", () => {
      const { r, stats } = setup(policy, { highMemory: 2000, lowMemory: 1000 });
      expect(r.process(K, 0, true, 17, bytes(2000))).toEqual({ kind: "dropped", reason: "memory" });
      expect(stats.fragments.memoryPressureDrops).toBe(1);
      expect(r.memoryUsed).toBe(0);
    });

    test("many tiny fragments cannot exceed the memory bound", () => {
      const high = 64 * 1024;
      const { r } = setup(policy, { highMemory: high, lowMemory: high / 2 });
      let peak = 0;
      for (let id = 0; id < 50; id++) {
        for (let off = 8; off < 8 * 200; off += 16) {
          r.process(`x${id}`, off, true, 17, bytes(8));
          peak = Math.max(peak, r.memoryUsed);
        }
      }
      expect(peak).toBeLessThanOrEqual(high);
    });

    test("clear stops every timer", () => {
      const { r, clock } = setup(policy);
      r.process("a", 0, true, 17, bytes(8));
      r.process("b", 8, true, 17, bytes(8));
      r.clear();
      expect(r.size).toBe(0);
      expect(r.memoryUsed).toBe(0);
      expect(clock.pendingTimers).toBe(0);
    });

    test("random fragment orders reassemble to the original", () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 1, maxLength: 3000 }),
          fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
          fc.integer(),
          fc.boolean(),
          (payload, sizes, seed, withDups) => {
            const { r } = setup(policy);
            const frags: { off: number; more: boolean; data: Uint8Array }[] = [];
            let off = 0;
            for (let i = 0; off < payload.length; i++) {
              const n = Math.min(sizes[i % sizes.length]! * 8, payload.length - off);
              frags.push({ off, more: off + n < payload.length, data: payload.subarray(off, off + n) });
              off += n;
            }
            if (withDups) frags.push(...frags.slice(0, Math.ceil(frags.length / 2)));
            // Deterministic shuffle from the seed.
            let s = seed >>> 0;
            for (let i = frags.length - 1; i > 0; i--) {
              s = (Math.imul(s, 1103515245) + 12345) >>> 0;
              const j = s % (i + 1);
              [frags[i], frags[j]] = [frags[j]!, frags[i]!];
            }
            let result: Uint8Array | undefined;
            for (const f of frags) {
              const res = r.process(K, f.off, f.more, 17, f.data);
              if (res.kind === "done") {
                expect(result).toBeUndefined();
                result = res.payload.toBytes();
                // Later duplicates start a new datagram; drop it.
                r.clear();
                break;
              }
              expect(res.kind === "pending" || (res.kind === "dropped" && res.reason === "duplicate")).toBe(
                true,
              );
            }
            expect(result).toEqual(payload);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
}

describe("overlaps in IPv6 (RFC 5722)", () => {
  test("partial overlap discards the whole datagram", () => {
    const { r, stats, clock, timeouts } = setup("discard");
    const p = bytes(32);
    r.process(K, 0, true, 17, p.subarray(0, 16), "c");
    expect(r.process(K, 8, true, 17, p.subarray(8, 24))).toEqual({ kind: "dropped", reason: "overlap" });
    expect(stats.fragments.overlapsDiscarded).toBe(1);
    // Later fragments of the same datagram are dropped too, even ones that would complete it.
    expect(r.process(K, 16, false, 17, p.subarray(16)).kind).toBe("dropped");
    expect(r.memoryUsed).toBe(DATAGRAM_OVERHEAD);
    // No ICMP time exceeded for an abandoned datagram.
    clock.advance(30_000);
    expect(timeouts).toEqual([]);
    expect(r.size).toBe(0);
    // After the tombstone expires a new datagram may reuse the key.
    r.process(K, 0, true, 17, p.subarray(0, 16));
    expect(done(r.process(K, 16, false, 17, p.subarray(16)))).toEqual(p);
  });

  test("overlap with the previous piece", () => {
    const { r } = setup("discard");
    r.process(K, 0, true, 17, bytes(16));
    expect(r.process(K, 8, false, 17, bytes(16)).kind).toBe("dropped");
  });

  test("a fragment covering a received one", () => {
    const { r } = setup("discard");
    r.process(K, 8, true, 17, bytes(8));
    expect(r.process(K, 0, true, 17, bytes(24)).kind).toBe("dropped");
  });

  test("same offset, different length", () => {
    const { r } = setup("discard");
    r.process(K, 8, true, 17, bytes(8));
    expect(r.process(K, 8, true, 17, bytes(16))).toEqual({ kind: "dropped", reason: "overlap" });
  });
});

describe("overlaps in IPv4 (keep first)", () => {
  test("overlapping bytes keep the data received first", () => {
    const { r, stats } = setup("keepFirst");
    const a = new Uint8Array(16).fill(1);
    const b = new Uint8Array(16).fill(2);
    r.process(K, 0, true, 6, a);
    const res = r.process(K, 8, false, 6, b);
    const out = done(res);
    expect(out.length).toBe(24);
    expect(Array.from(out.subarray(0, 16))).toEqual(new Array(16).fill(1));
    expect(Array.from(out.subarray(16))).toEqual(new Array(8).fill(2));
    expect(stats.fragments.overlapsDiscarded).toBe(0);
  });

  test("a big fragment fills several holes around received pieces", () => {
    const { r } = setup("keepFirst");
    r.process(K, 8, true, 6, new Uint8Array(8).fill(1));
    r.process(K, 24, true, 6, new Uint8Array(8).fill(3));
    expect(r.process(K, 0, true, 6, new Uint8Array(40).fill(9)).kind).toBe("pending");
    const out = done(r.process(K, 40, false, 6, new Uint8Array(0)));
    expect(Array.from(out)).toEqual([
      ...new Array(8).fill(9),
      ...new Array(8).fill(1),
      ...new Array(8).fill(9),
      ...new Array(8).fill(3),
      ...new Array(8).fill(9),
    ]);
  });

  test("a fragment inside received data is a duplicate", () => {
    const { r } = setup("keepFirst");
    r.process(K, 0, true, 6, bytes(32));
    expect(r.process(K, 8, true, 6, bytes(8))).toEqual({ kind: "dropped", reason: "duplicate" });
  });

  test("random overlapping fragments: result equals first-arrival bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 39 }), fc.integer({ min: 1, max: 10 })), {
          maxLength: 30,
        }),
        (units, extra) => {
          const total = units * 8;
          const { r } = setup("keepFirst");
          const expected = new Int16Array(total).fill(-1);
          let tag = 1;
          const send = (off: number, len: number, more: boolean) => {
            const data = new Uint8Array(len).fill(tag);
            for (let i = 0; i < len; i++) if (expected[off + i] === -1) expected[off + i] = tag;
            tag = (tag % 250) + 1;
            return r.process(K, off, more, 6, data);
          };
          for (const [u, l] of extra) {
            const off = (u % units) * 8;
            const len = Math.min(l * 8, total - off);
            if (off + len >= total) continue;
            send(off, len, true);
          }
          // Then the whole range in 8-byte fragments, the last one marked.
          let res: ReassemblyResult<string> | undefined;
          for (let off = 0; off < total; off += 8) res = send(off, 8, off + 8 < total);
          const out = done(res!);
          expect(Array.from(out)).toEqual(Array.from(expected));
        },
      ),
      { numRuns: 200 },
    );
  });
});

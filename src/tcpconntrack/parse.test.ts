/** Flow keys (issue 10: recent IPv4 keys are reused rather than rebuilt). */
import { describe, expect, test } from "bun:test";
import { decodeKey, flowKey } from "./parse.ts";

const a = Uint8Array.of(198, 18, 0, 1);
const b = Uint8Array.of(198, 18, 0, 2);
const c = Uint8Array.of(198, 18, 1, 2);

describe("IPv4 flow keys", () => {
  test("both directions of a flow share one key, reused as the same string", () => {
    const k1 = flowKey(6, a, 40000, b, 9);
    const k2 = flowKey(6, b, 9, a, 40000);
    expect(k2).toBe(k1);
    expect(decodeKey(k1)).toEqual({
      ipVersion: 4,
      protocol: 6,
      first: { address: a, port: 40000 },
      second: { address: b, port: 9 },
    });
  });

  test("flows that fall into the same cache slot still get their own keys", () => {
    // Ports 8 and 12 pick the same slot as 4 and 0 ((p ^ q) & 3 is equal).
    const keys = [
      flowKey(6, a, 4, b, 0),
      flowKey(6, a, 8, b, 12),
      flowKey(17, a, 4, b, 0),
      flowKey(6, a, 4, c, 0),
      flowKey(6, a, 4, b, 0),
    ];
    expect(new Set(keys).size).toBe(4);
    expect(keys[4]).toBe(keys[0]!);
    expect(decodeKey(keys[3]!).second.address).toEqual(c);
    expect(decodeKey(keys[2]!).protocol).toBe(17);
  });
});

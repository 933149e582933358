import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import type { Route } from "../tcpip/full-address.ts";
import { Subnet } from "../tcpip/subnet.ts";
import { RouteTable } from "./route-table.ts";

/** The best route for `dst` by definition: longest prefix, then lowest metric, then first added. */
function model(routes: Route[], dst: Address, nic: number): Route | undefined {
  let best: { r: Route; i: number } | undefined;
  routes.forEach((r, i) => {
    if (nic !== 0 && r.nic !== nic) return;
    if (!r.destination.contains(dst)) return;
    if (!best) {
      best = { r, i };
      return;
    }
    const pa = r.destination.prefix;
    const pb = best.r.destination.prefix;
    if (pa > pb || (pa === pb && (r.metric ?? 0) < (best.r.metric ?? 0))) best = { r, i };
  });
  return best?.r;
}

const v4 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => Address.fromV4Number(n));
const route = fc.record({
  addr: v4,
  prefix: fc.integer({ min: 0, max: 32 }),
  nic: fc.integer({ min: 1, max: 4 }),
  metric: fc.integer({ min: 0, max: 3 }),
});

describe("RouteTable", () => {
  test("first match equals the longest-prefix/lowest-metric/first-added model", () => {
    fc.assert(
      fc.property(
        fc.array(route, { maxLength: 30 }),
        fc.array(v4, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 4 }),
        (rs, dsts, nic) => {
          const routes: Route[] = rs.map((r) => ({
            destination: Subnet.fromPrefix(r.addr, r.prefix),
            nic: r.nic,
            metric: r.metric,
          }));
          const t = new RouteTable();
          t.set(routes);
          for (const d of dsts) {
            const got = t.matches(d, nic).next().value as Route | undefined;
            const want = model(routes, d, nic);
            expect(got?.destination.toString()).toBe(want?.destination.toString());
            expect(got?.nic).toBe(want?.nic);
            expect(got?.metric).toBe(want?.metric);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("remove takes out equal routes only", () => {
    const t = new RouteTable();
    const a: Route = { destination: Subnet.parse("198.18.0.0/24"), nic: 1 };
    t.add(a);
    t.add({ ...a, metric: 5 });
    t.add({ ...a, gateway: Address.parse("198.18.0.1") });
    expect(t.remove(a)).toBe(1);
    expect(t.list().length).toBe(2);
    t.removeNIC(1);
    expect(t.list()).toEqual([]);
  });
});

import { describe, expect, test } from "bun:test";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { GroupMemberships } from "./group-membership.ts";

const G = Address.parse("224.0.0.77");
const H = Address.parse("224.0.0.78");

function host() {
  const sent: string[] = [];
  const h = {
    clock: new ManualClock(),
    random: new SeededRandom(7),
    up: true,
    sendReport(group: Address) {
      if (!h.up) return false;
      sent.push(`report ${group}`);
      return true;
    },
    sendLeave(group: Address) {
      sent.push(`leave ${group}`);
    },
  };
  return { h, sent, groups: new GroupMemberships(h, 10_000) };
}

describe("GroupMemberships (RFC 2236 §3, RFC 2710 §4)", () => {
  test("join reports at once and once more within the unsolicited report interval; leave after reporting", () => {
    const { h, sent, groups } = host();
    groups.join(G);
    groups.join(G);
    expect(sent).toEqual([`report ${G}`]);
    h.clock.advance(10_000);
    expect(sent).toEqual([`report ${G}`, `report ${G}`]);
    expect(groups.list().map(String)).toEqual([`${G}`]);
    groups.leave(G);
    expect(sent.at(-1)).toBe(`leave ${G}`);
    expect(groups.has(G)).toBe(false);
  });

  test("a query starts timers for the groups it asks about; a shorter one cuts a running timer, a longer one does not", () => {
    const { h, sent, groups } = host();
    groups.join(G);
    groups.join(H);
    h.clock.advance(10_000);
    sent.length = 0;
    groups.query(G, 60_000);
    groups.query(G, 100);
    h.clock.advance(100);
    expect(sent).toEqual([`report ${G}`]);
    groups.query(Address.parse("0.0.0.0"), 100);
    groups.query(Address.parse("0.0.0.0"), 60_000);
    h.clock.advance(100);
    expect(sent.sort()).toEqual([`report ${G}`, `report ${G}`, `report ${H}`]);
    h.clock.advance(120_000);
    expect(sent.length).toBe(3);
  });

  test("another member's report stops our timer, and then we send no leave", () => {
    const { h, sent, groups } = host();
    groups.join(G);
    h.clock.advance(10_000);
    groups.query(G, 1_000);
    groups.reportHeard(G);
    h.clock.advance(1_000);
    expect(sent.length).toBe(2);
    groups.leave(G);
    expect(sent.length).toBe(2);
  });

  test("a report that could not go out does not make us the last reporter; clear stops every timer", () => {
    const { h, sent, groups } = host();
    h.up = false;
    groups.join(G);
    groups.leave(G);
    expect(sent).toEqual([]);
    h.up = true;
    groups.join(G);
    groups.clear();
    h.clock.advance(60_000);
    expect(sent).toEqual([`report ${G}`]);
    expect(h.clock.pendingTimers).toBe(0);
  });
});

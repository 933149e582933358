import { describe, expect, test } from "bun:test";
import { writeU16 } from "../../header/bytes.ts";
import { solicitedNodeAddress } from "../../header/ipv6.ts";
import { IPV6_HOP_BY_HOP } from "../../header/ipv6-extension.ts";
import { Address } from "../../tcpip/address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { a6, buildIpv6, icmpv6, inject, twoHosts } from "./_harness.ts";
import { MLD_DONE, MLD_QUERY, MLD_REPORT, maxResponseDelayMs } from "./mld.ts";

const ROUTER = a6("fe80::1");
const GROUP = a6("ff05::1:3");

function mld(
  type: number,
  group: Address,
  dst: Address,
  delayMs = 0,
  hopLimit = 1,
  src = ROUTER,
): Uint8Array {
  const body = new Uint8Array(20);
  writeU16(body, 0, delayMs);
  body.set(group.bytes, 4);
  const hbh = Uint8Array.of(0, 0, 5, 2, 0, 0, 1, 0);
  return buildIpv6({
    src,
    dst,
    hopLimit,
    ext: [[IPV6_HOP_BY_HOP, hbh]],
    proto: ICMPV6_PROTOCOL_NUMBER,
    payload: icmpv6(src, dst, type, 0, body),
  });
}

describe("MLDv1 listener (RFC 2710)", () => {
  test("reports solicited-node groups when the NIC comes up: hop limit 1, Router Alert, sent to the group", () => {
    const lan = twoHosts();
    lan.run(12_000);
    const reports = lan.icmp(MLD_REPORT, "a");
    const group = solicitedNodeAddress(lan.a.linkLocal);
    // Sent at once and repeated once within the Unsolicited Report Interval.
    expect(reports.length).toBe(2);
    for (const r of reports) {
      expect(r.dst.equals(group)).toBe(true);
      expect(r.hopLimit).toBe(1);
      expect(r.nextHeader).toBe(IPV6_HOP_BY_HOP);
      expect(Array.from(r.bytes.subarray(42, 46))).toEqual([5, 2, 0, 0]);
      expect(Address.fromBytes(r.bytes, r.upper + 8, 16).equals(group)).toBe(true);
      expect(r.linkDst!.toString()).toBe("33:33:ff:00:00:0a");
    }
    // The first one left before the link-local address was assigned (RFC 3590 §4), the repeat after.
    expect(reports[0]!.src.isUnspecified).toBe(true);
    expect(reports[1]!.src.equals(lan.a.linkLocal)).toBe(true);
  });

  test("a joined group is reported, answered on query after a random delay, and left with Done", () => {
    const lan = twoHosts({ b: { mld: false } });
    lan.run(12_000);
    lan.frames.length = 0;
    lan.a.stack.joinGroup(1, IPV6_PROTOCOL_NUMBER, GROUP);
    expect(lan.icmp(MLD_REPORT, "a").map((f) => f.dst.toString())).toEqual(["ff05::1:3"]);
    lan.run(10_000);
    expect(lan.icmp(MLD_REPORT, "a").length).toBe(2);
    // A general query: every group (ours and the solicited-node one) answered within 1 s.
    inject(lan.a, mld(MLD_QUERY, Address.ANY_V6, Address.ALL_NODES_V6, 1000));
    lan.run(1000);
    expect(lan.icmp(MLD_REPORT, "a").length).toBe(4);
    // A group-specific query only for that group.
    inject(lan.a, mld(MLD_QUERY, GROUP, GROUP, 500));
    lan.run(500);
    expect(
      lan
        .icmp(MLD_REPORT, "a")
        .slice(4)
        .map((f) => f.dst.toString()),
    ).toEqual(["ff05::1:3"]);
    lan.a.stack.leaveGroup(1, IPV6_PROTOCOL_NUMBER, GROUP);
    const done = lan.icmp(MLD_DONE, "a");
    expect(done.map((f) => `${f.dst}`)).toEqual(["ff02::2"]);
    expect(lan.a.ep.mld.counters.donesSent).toBe(1);
  });

  test("another listener's report suppresses ours; then no Done on leave", () => {
    const lan = twoHosts({ b: { mld: false } });
    lan.run(12_000);
    lan.a.stack.joinGroup(1, IPV6_PROTOCOL_NUMBER, GROUP);
    lan.run(10_000);
    lan.frames.length = 0;
    inject(lan.a, mld(MLD_QUERY, GROUP, GROUP, 5000));
    inject(lan.a, mld(MLD_REPORT, GROUP, GROUP, 0, 1, a6("fe80::77")));
    lan.run(5000);
    expect(lan.icmp(MLD_REPORT, "a")).toEqual([]);
    lan.a.stack.leaveGroup(1, IPV6_PROTOCOL_NUMBER, GROUP);
    expect(lan.icmp(MLD_DONE, "a")).toEqual([]);
  });

  test("a query with a shorter Maximum Response Delay cuts a running report timer (RFC 2710 §4)", () => {
    const lan = twoHosts({ b: { mld: false } });
    lan.run(12_000);
    lan.a.stack.joinGroup(1, IPV6_PROTOCOL_NUMBER, GROUP);
    lan.run(10_000);
    inject(lan.a, mld(MLD_QUERY, GROUP, GROUP, 30_000));
    lan.run(100);
    lan.frames.length = 0;
    // "reset to the new random value only if the requested Maximum Response Delay is less than the
    // remaining value of the running timer".
    inject(lan.a, mld(MLD_QUERY, GROUP, GROUP, 100));
    lan.run(100);
    expect(lan.icmp(MLD_REPORT, "a").map((f) => f.dst.toString())).toEqual(["ff05::1:3"]);
    lan.run(40_000);
    expect(lan.icmp(MLD_REPORT, "a").length).toBe(1);
  });

  test("all-nodes and node-local groups are never reported; queries with hop limit above 1 are invalid", () => {
    const lan = twoHosts();
    lan.run(12_000);
    lan.frames.length = 0;
    lan.a.stack.joinGroup(1, IPV6_PROTOCOL_NUMBER, a6("ff01::5"));
    expect(lan.icmp(MLD_REPORT, "a")).toEqual([]);
    inject(lan.a, mld(MLD_QUERY, Address.ANY_V6, Address.ALL_NODES_V6, 100, 2));
    lan.run(200);
    expect(lan.icmp(MLD_REPORT, "a")).toEqual([]);
    expect(lan.a.ep.mld.counters.malformedReceived).toBe(1);
  });

  test("MLDv2 Maximum Response Code (RFC 3810 §5.1.3)", () => {
    expect(maxResponseDelayMs(1000, true)).toBe(1000);
    expect(maxResponseDelayMs(0x8000, true)).toBe(0x1000 << 3);
    expect(maxResponseDelayMs(0xffff, false)).toBe(0xffff);
  });
});

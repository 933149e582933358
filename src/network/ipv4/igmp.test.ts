import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { encodeIpv4, Ipv4Header } from "../../header/ipv4.ts";
import { IPV4_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { addr, endpoint, twoHosts } from "../../transport/udp/testing.ts";
import { IGMP_LEAVE_GROUP, IGMP_MEMBERSHIP_QUERY, IGMP_V2_MEMBERSHIP_REPORT } from "./igmp.ts";
import type { Ipv4Endpoint } from "./ipv4.ts";

/** IGMP messages A sees from B: [type, group, IP dst, TTL, Router Alert present]. */
function watch(h: ReturnType<typeof twoHosts>) {
  const seen: [number, string, string, number, boolean][] = [];
  h.a.addHook("inbound", (proto, b) => {
    if (proto !== IPV4_PROTOCOL_NUMBER || b[9] !== 2) return;
    const ip = new Ipv4Header(b, 0);
    const o = ip.headerLength;
    seen.push([b[o]!, b.subarray(o + 4, o + 8).join("."), ip.dstAddress().toString(), ip.ttl, b[20] === 148]);
  });
  return seen;
}

/** Injects an IGMP message into B as if from A. */
function igmpTo(h: ReturnType<typeof twoHosts>, type: number, maxTenths: number, group: string, dst: string) {
  const b = new Uint8Array(28);
  encodeIpv4(b, 0, { totalLength: 28, ttl: 1, protocol: 2, src: h.aAddr, dst: addr(dst) });
  b[20] = type;
  b[21] = maxTenths;
  b.set(addr(group).bytes, 24);
  const c = finishChecksum(checksum(b, 20, 8));
  b[22] = c >> 8;
  b[23] = c & 0xff;
  const pkt = PacketBuffer.wrap(b);
  pkt.linkBroadcastOrMulticast = true;
  h.b.nic(1)!.deliverNetworkPacket(IPV4_PROTOCOL_NUMBER, pkt);
}

function igmpOf(h: ReturnType<typeof twoHosts>) {
  return (h.b.nic(1)!.endpoints.get(IPV4_PROTOCOL_NUMBER) as Ipv4Endpoint).igmp;
}

describe("IGMPv2 host (RFC 2236)", () => {
  test("joining sends a report (TTL 1, Router Alert) and repeats it once; leaving sends Leave Group", () => {
    const h = twoHosts();
    const seen = watch(h);
    const rx = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    rx.ep.bind({ port: 5000 });
    rx.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.123") });
    expect(seen).toEqual([[IGMP_V2_MEMBERSHIP_REPORT, "224.0.0.123", "224.0.0.123", 1, true]]);
    h.clock.advance(10_000);
    expect(seen.length).toBe(2);
    rx.ep.setSockOpt("RemoveMembership", { nic: 1, multicastAddress: addr("224.0.0.123") });
    expect(seen[2]).toEqual([IGMP_LEAVE_GROUP, "224.0.0.123", "224.0.0.2", 1, true]);
  });

  test("a second member on the same NIC sends nothing new; the all-systems group is never reported", () => {
    const h = twoHosts();
    const seen = watch(h);
    const one = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    const two = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    one.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.99") });
    two.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.99") });
    two.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.1") });
    expect(seen.length).toBe(1);
    one.ep.close();
    expect(seen.length).toBe(1);
  });

  test("queries are answered within Max Response Time; another member's report suppresses ours", () => {
    const h = twoHosts();
    const seen = watch(h);
    const m = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    m.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.77") });
    h.clock.advance(10_000);
    seen.length = 0;
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 20, "0.0.0.0", "224.0.0.1");
    h.clock.advance(2_000);
    expect(seen.map((s) => s[0])).toEqual([IGMP_V2_MEMBERSHIP_REPORT]);
    // Suppression: A reports first, so B stays quiet and is no longer the last reporter.
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 100, "224.0.0.77", "224.0.0.77");
    igmpTo(h, IGMP_V2_MEMBERSHIP_REPORT, 0, "224.0.0.77", "224.0.0.77");
    h.clock.advance(10_000);
    expect(seen.length).toBe(1);
    m.ep.close();
    expect(seen.length).toBe(1);
    expect(igmpOf(h).counters.queriesReceived).toBe(2);
    expect(igmpOf(h).counters.reportsReceived).toBe(1);
  });

  test("a query with a shorter Max Response Time cuts a running report timer (RFC 2236 §3)", () => {
    const h = twoHosts();
    const seen = watch(h);
    const m = endpoint(h.b, UDP_PROTOCOL_NUMBER);
    m.ep.setSockOpt("AddMembership", { nic: 1, multicastAddress: addr("224.0.0.77") });
    h.clock.advance(10_000);
    // A 25.5 s query starts a timer; the SeededRandom of twoHosts puts it beyond the next 100 ms.
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 255, "0.0.0.0", "224.0.0.1");
    h.clock.advance(100);
    seen.length = 0;
    // "it is reset to the random value only if the requested Max Response Time is less than the
    // remaining value of the running timer": a 0.1 s query must be answered within 0.1 s.
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 1, "224.0.0.77", "224.0.0.77");
    h.clock.advance(100);
    expect(seen.map((s) => s[0])).toEqual([IGMP_V2_MEMBERSHIP_REPORT]);
    // And a longer one leaves a running timer alone: one report, not two, after both.
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 1, "224.0.0.77", "224.0.0.77");
    igmpTo(h, IGMP_MEMBERSHIP_QUERY, 255, "224.0.0.77", "224.0.0.77");
    h.clock.advance(100);
    expect(seen.length).toBe(2);
    h.clock.advance(30_000);
    expect(seen.length).toBe(2);
  });

  test("a corrupt IGMP message is counted and ignored", () => {
    const h = twoHosts();
    const b = new Uint8Array(28);
    encodeIpv4(b, 0, { totalLength: 28, ttl: 1, protocol: 2, src: h.aAddr, dst: addr("224.0.0.1") });
    b[20] = IGMP_MEMBERSHIP_QUERY;
    h.b.nic(1)!.deliverNetworkPacket(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(b));
    expect(igmpOf(h).counters.malformedReceived).toBe(1);
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { encodeIpv6, IPV6_HEADER_SIZE, Ipv6Header, isSolicitedNode, solicitedNodeAddress } from "./ipv6.ts";
import { findFrame, hex, icmpv6TypeOf, loadFrame } from "./testing/fixtures.ts";

const A = Address.parse("fd00::1");
const B = Address.parse("fd00::2");

describe("Ipv6Header", () => {
  test("reads every field of a captured SYN (RFC 8200 §3)", () => {
    const f = loadFrame("tcp6", 0);
    const h = new Ipv6Header(f, 14);
    expect(h.isValid(f.length - 14)).toBe(true);
    expect(h.version).toBe(6);
    expect(h.trafficClass).toBe(0);
    expect(h.flowLabel).toBe(((f[15]! & 0x0f) << 16) | (f[16]! << 8) | f[17]!);
    expect(h.flowLabel).toBeGreaterThan(0); // Linux sets a flow label (RFC 6437)
    expect(h.payloadLength).toBe(40);
    expect(h.nextHeader).toBe(6);
    expect(h.hopLimit).toBe(64);
    expect(h.srcAddress().equals(A)).toBe(true);
    expect(h.dstAddress().equals(B)).toBe(true);
    expect(h.payloadOffset).toBe(54);
  });

  test("reads a captured neighbor solicitation to a solicited-node group (RFC 4861 §7.2.2)", () => {
    const f = findFrame("icmpv6-echo-ndp", (g) => icmpv6TypeOf(g) === 135);
    const h = new Ipv6Header(f, 14);
    expect(h.hopLimit).toBe(255);
    expect(h.flowLabel).toBe(0);
    expect(h.dstAddress().equals(solicitedNodeAddress(B))).toBe(true);
    expect(h.dstAddress().toString()).toBe("ff02::1:ff00:2");
  });

  test("encoder reproduces a captured header", () => {
    const f = loadFrame("tcp6", 0);
    const h = new Ipv6Header(f, 14);
    const out = new Uint8Array(IPV6_HEADER_SIZE);
    expect(
      encodeIpv6(out, 0, {
        flowLabel: h.flowLabel,
        payloadLength: 40,
        nextHeader: 6,
        hopLimit: 64,
        src: A,
        dst: B,
      }),
    ).toBe(IPV6_HEADER_SIZE);
    expect(out).toEqual(f.subarray(14, 54));
  });

  test("setters rewrite fields in place", () => {
    const f = loadFrame("tcp6", 0);
    const h = new Ipv6Header(f, 14);
    const flow = h.flowLabel;
    h.setHopLimit(1);
    h.setTrafficClass(0xb8);
    h.setPayloadLength(8);
    h.setNextHeader(17);
    h.setSrcAddress(B);
    h.setDstAddress(A);
    expect([h.hopLimit, h.trafficClass, h.flowLabel, h.payloadLength, h.nextHeader, h.version]).toEqual([
      1,
      0xb8,
      flow,
      8,
      17,
      6,
    ]);
    expect(h.srcAddress().equals(B) && h.dstAddress().equals(A)).toBe(true);
  });

  test("truncated and impossible lengths are rejected", () => {
    const f = loadFrame("tcp6", 0);
    const h = new Ipv6Header(f, 14);
    expect(h.isValid(39)).toBe(false);
    expect(h.isValid(79)).toBe(false); // payload length 40 does not fit
    expect(h.isValid(100)).toBe(true);
    const g = f.slice();
    g[14] = 0x45; // version 4
    expect(new Ipv6Header(g, 14).isValid(80)).toBe(false);
    expect(new Ipv6Header(f.subarray(0, 50), 14).isValid(40)).toBe(false);
    expect(new Ipv6Header(f, -1).isValid(80)).toBe(false);
    // A zero payload length (jumbogram, RFC 2675) passes the gate.
    expect(new Ipv6Header(hex(`6000000000000040${"00".repeat(32)}`), 0).isValid(40)).toBe(true);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.record({
          trafficClass: fc.integer({ min: 0, max: 255 }),
          flowLabel: fc.integer({ min: 0, max: 0xfffff }),
          payloadLength: fc.integer({ min: 0, max: 100 }),
          nextHeader: fc.integer({ min: 0, max: 255 }),
          hopLimit: fc.integer({ min: 0, max: 255 }),
          src: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Address.fromBytes(b)),
          dst: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Address.fromBytes(b)),
        }),
        (r) => {
          const b = new Uint8Array(41 + r.payloadLength);
          encodeIpv6(b, 1, r);
          const h = new Ipv6Header(b, 1);
          expect(h.isValid(40 + r.payloadLength)).toBe(true);
          expect([h.trafficClass, h.flowLabel, h.payloadLength, h.nextHeader, h.hopLimit]).toEqual([
            r.trafficClass,
            r.flowLabel,
            r.payloadLength,
            r.nextHeader,
            r.hopLimit,
          ]);
          expect(h.srcAddress().equals(r.src) && h.dstAddress().equals(r.dst)).toBe(true);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 100 }), (b, off) => {
        const h = new Ipv6Header(b, off);
        if (!h.isValid(b.length - off)) return;
        const all = [h.version, h.trafficClass, h.flowLabel, h.payloadLength, h.nextHeader, h.hopLimit];
        expect(all.every(Number.isInteger)).toBe(true);
        h.srcAddress();
        h.dstAddress();
      }),
    );
  });

  test("solicitedNodeAddress and isSolicitedNode (RFC 4291 §2.7.1)", () => {
    const s = solicitedNodeAddress(Address.parse("fe80::1234:5678:9abc"));
    expect(s.toString()).toBe("ff02::1:ff78:9abc");
    expect(isSolicitedNode(s)).toBe(true);
    for (const a of [
      "ff02::1",
      "ff02::1:fe00:1",
      "ff02:0:0:0:1:1:ff00:1",
      "ff05::1:ff00:1",
      "fd00::1",
      "198.18.0.1",
    ])
      expect(isSolicitedNode(Address.parse(a))).toBe(false);
  });
});

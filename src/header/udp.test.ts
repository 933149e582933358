import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "./checksum.ts";
import { hex, loadFrame } from "./testing/fixtures.ts";
import { encodeUdp, UDP_HEADER_SIZE, UdpHeader } from "./udp.ts";

describe("UdpHeader", () => {
  test("reads every field of a captured datagram and verifies its checksum (RFC 768)", () => {
    const f = loadFrame("udp4", 0);
    const h = new UdpHeader(f, 34);
    expect(h.isValid(f.length - 34)).toBe(true);
    expect(h.srcPort).toBe(47719);
    expect(h.dstPort).toBe(7002);
    expect(h.length).toBe(21);
    expect(h.checksum).toBe(0x544f);
    expect(h.payloadLength).toBe(13);
    expect(h.payloadOffset).toBe(42);
    expect(new TextDecoder().decode(f.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength))).toBe(
      "netstack udp\n",
    );
    const src = Address.fromBytes(f, 26, 4);
    const dst = Address.fromBytes(f, 30, 4);
    expect(checksum(f, 34, h.length, pseudoHeaderChecksum(17, src, dst, h.length))).toBe(0xffff);
  });

  test("reads a captured IPv6 datagram", () => {
    const f = loadFrame("udp6", 0);
    const h = new UdpHeader(f, 54);
    expect(h.isValid(f.length - 54)).toBe(true);
    expect(h.dstPort).toBe(7003);
    expect(h.length).toBe(22);
    const src = Address.fromBytes(f, 22, 16);
    const dst = Address.fromBytes(f, 38, 16);
    expect(checksum(f, 54, h.length, pseudoHeaderChecksum(17, src, dst, h.length))).toBe(0xffff);
  });

  test("encoder plus checksum reproduces the captured datagram", () => {
    const f = loadFrame("udp4", 0);
    const b = new Uint8Array(21);
    b.set(f.subarray(42, 55), 8);
    expect(encodeUdp(b, 0, { srcPort: 47719, dstPort: 7002, length: 21 })).toBe(UDP_HEADER_SIZE);
    const h = new UdpHeader(b, 0);
    expect(h.checksum).toBe(0);
    const sum = checksum(
      b,
      0,
      21,
      pseudoHeaderChecksum(17, Address.fromBytes(f, 26, 4), Address.fromBytes(f, 30, 4), 21),
    );
    h.setChecksum(finishChecksum(sum));
    expect(b).toEqual(f.subarray(34, 55));
  });

  test("setters rewrite fields in place", () => {
    const b = new Uint8Array(8);
    const h = new UdpHeader(b, 0);
    h.setSrcPort(53);
    h.setDstPort(5353);
    h.setLength(8);
    h.setChecksum(0xffff);
    expect(b).toEqual(hex("0035 14e9 0008 ffff"));
  });

  test("truncated and impossible lengths are rejected", () => {
    const f = loadFrame("udp4", 0);
    const h = new UdpHeader(f, 34);
    expect(h.isValid(7)).toBe(false);
    expect(h.isValid(20)).toBe(false); // Length 21 > 20
    expect(h.isValid(30)).toBe(true); // padding after the datagram
    expect(new UdpHeader(hex("0001 0002 0007 0000"), 0).isValid(8)).toBe(false); // Length < 8
    expect(new UdpHeader(hex("0001 0002 0008"), 0).isValid(8)).toBe(false); // buffer too short
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 8, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (srcPort, dstPort, length, ck) => {
          const b = new Uint8Array(9);
          encodeUdp(b, 1, { srcPort, dstPort, length, checksum: ck });
          const h = new UdpHeader(b, 1);
          expect([h.srcPort, h.dstPort, h.length, h.checksum]).toEqual([srcPort, dstPort, length, ck]);
          expect(h.isValid(length)).toBe(true);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (b, off) => {
        const h = new UdpHeader(b, off);
        if (!h.isValid(b.length - off)) return;
        expect(h.payloadLength).toBeGreaterThanOrEqual(0);
        expect(h.payloadOffset + h.payloadLength).toBeLessThanOrEqual(b.length);
        expect([h.srcPort, h.dstPort, h.checksum].every(Number.isInteger)).toBe(true);
      }),
    );
  });
});

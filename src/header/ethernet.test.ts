import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { LinkAddress, parseMACAddress } from "../tcpip/link-address.ts";
import {
  ETHERNET_HEADER_SIZE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetHeader,
  encodeEthernet,
} from "./ethernet.ts";
import { loadFrame } from "./testing/fixtures.ts";

const A = parseMACAddress("02:00:00:00:00:01");
const B = parseMACAddress("02:00:00:00:00:02");

describe("EthernetHeader", () => {
  test("reads every field of a captured broadcast ARP request", () => {
    const f = loadFrame("arp", 0);
    const h = new EthernetHeader(f, 0);
    expect(h.isValid(f.length)).toBe(true);
    expect(h.dstAddress().equals(LinkAddress.BROADCAST)).toBe(true);
    expect(h.srcAddress().equals(A)).toBe(true);
    expect(h.type).toBe(ETHERTYPE_ARP);
    expect(h.isDstMulticast).toBe(true);
  });

  test("reads a captured unicast IPv4 frame", () => {
    const f = loadFrame("arp", 2);
    const h = new EthernetHeader(f, 0);
    expect(h.dstAddress().equals(B)).toBe(true);
    expect(h.type).toBe(ETHERTYPE_IPV4);
    expect(h.isDstMulticast).toBe(false);
  });

  test("encoder reproduces the captured header bytes", () => {
    const f = loadFrame("arp", 1);
    const out = new Uint8Array(20);
    expect(encodeEthernet(out, 3, { dst: A, src: B, type: ETHERTYPE_ARP })).toBe(ETHERNET_HEADER_SIZE);
    expect(out.subarray(3, 17)).toEqual(f.subarray(0, 14));
  });

  test("truncated headers are rejected", () => {
    const f = loadFrame("arp", 0);
    const h = new EthernetHeader(f, 0);
    expect(h.isValid(13)).toBe(false);
    expect(h.isValid(0)).toBe(false);
    expect(new EthernetHeader(f.subarray(0, 10), 0).isValid(14)).toBe(false);
    expect(new EthernetHeader(f, -1).isValid(14)).toBe(false);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 0xffff }),
        (s, d, type) => {
          const b = new Uint8Array(14);
          encodeEthernet(b, 0, { src: new LinkAddress(s), dst: new LinkAddress(d), type });
          const h = new EthernetHeader(b, 0);
          expect(h.srcAddress().bytes).toEqual(s);
          expect(h.dstAddress().bytes).toEqual(d);
          expect(h.type).toBe(type);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (b, off) => {
        const h = new EthernetHeader(b, off);
        if (h.isValid(b.length - off)) {
          h.srcAddress();
          h.dstAddress();
          expect(h.type).toBeLessThanOrEqual(0xffff);
        }
      }),
    );
  });
});

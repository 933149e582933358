import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { LinkAddress, parseMACAddress } from "../tcpip/link-address.ts";
import { ARP_REPLY, ARP_REQUEST, ARP_SIZE, ArpHeader, encodeArp } from "./arp.ts";
import { loadFrame } from "./testing/fixtures.ts";

const MAC_A = parseMACAddress("02:00:00:00:00:01");
const MAC_B = parseMACAddress("02:00:00:00:00:02");
const IP_A = Address.parse("198.18.0.1");
const IP_B = Address.parse("198.18.0.2");
const ZERO_MAC = new LinkAddress(new Uint8Array(6));

describe("ArpHeader", () => {
  test("reads every field of a captured request", () => {
    const f = loadFrame("arp", 0);
    const h = new ArpHeader(f, 14);
    expect(h.isValid(f.length - 14)).toBe(true);
    expect(h.hardwareType).toBe(1);
    expect(h.protocolType).toBe(0x0800);
    expect(h.hardwareSize).toBe(6);
    expect(h.protocolSize).toBe(4);
    expect(h.op).toBe(ARP_REQUEST);
    expect(h.senderHardwareAddress().equals(MAC_A)).toBe(true);
    expect(h.senderProtocolAddress().equals(IP_A)).toBe(true);
    expect(h.targetHardwareAddress().equals(ZERO_MAC)).toBe(true);
    expect(h.targetProtocolAddress().equals(IP_B)).toBe(true);
  });

  test("reads a captured reply", () => {
    const f = loadFrame("arp", 1);
    const h = new ArpHeader(f, 14);
    expect(h.op).toBe(ARP_REPLY);
    expect(h.senderHardwareAddress().toString()).toBe("02:00:00:00:00:02");
    expect(h.senderProtocolAddress().toString()).toBe("198.18.0.2");
    expect(h.targetHardwareAddress().toString()).toBe("02:00:00:00:00:01");
    expect(h.targetProtocolAddress().toString()).toBe("198.18.0.1");
  });

  test("encoder reproduces the captured request and reply", () => {
    const req = loadFrame("arp", 0);
    const rep = loadFrame("arp", 1);
    const out = new Uint8Array(ARP_SIZE);
    expect(
      encodeArp(out, 0, {
        op: ARP_REQUEST,
        senderHw: MAC_A,
        senderIp: IP_A,
        targetHw: ZERO_MAC,
        targetIp: IP_B,
      }),
    ).toBe(ARP_SIZE);
    expect(out).toEqual(req.subarray(14, 14 + ARP_SIZE));
    encodeArp(out, 0, { op: ARP_REPLY, senderHw: MAC_B, senderIp: IP_B, targetHw: MAC_A, targetIp: IP_A });
    expect(out).toEqual(rep.subarray(14, 14 + ARP_SIZE));
  });

  test("an empty target link address encodes as zeros", () => {
    const out = new Uint8Array(ARP_SIZE).fill(0xaa);
    encodeArp(out, 0, {
      op: ARP_REQUEST,
      senderHw: MAC_A,
      senderIp: IP_A,
      targetHw: LinkAddress.EMPTY,
      targetIp: IP_B,
    });
    expect(new ArpHeader(out, 0).targetHardwareAddress().equals(ZERO_MAC)).toBe(true);
  });

  test("truncated packets and impossible sizes/types are rejected (RFC 826)", () => {
    const f = loadFrame("arp", 0);
    expect(new ArpHeader(f, 14).isValid(27)).toBe(false);
    expect(new ArpHeader(f.subarray(0, 40), 14).isValid(28)).toBe(false);
    for (const [i, v] of [
      [0, 9], // hardware type high byte
      [3, 0xdd], // protocol type
      [4, 8], // hardware size
      [5, 16], // protocol size
    ] as const) {
      const g = f.slice();
      g[14 + i] = v;
      expect(new ArpHeader(g, 14).isValid(28)).toBe(false);
    }
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (op, sh, si, th, ti) => {
          const b = new Uint8Array(ARP_SIZE + 2);
          encodeArp(b, 2, {
            op,
            senderHw: new LinkAddress(sh),
            senderIp: Address.fromBytes(si),
            targetHw: new LinkAddress(th),
            targetIp: Address.fromBytes(ti),
          });
          const h = new ArpHeader(b, 2);
          expect(h.isValid(ARP_SIZE)).toBe(true);
          expect(h.op).toBe(op);
          expect(h.senderHardwareAddress().bytes).toEqual(sh);
          expect(h.senderProtocolAddress().bytes).toEqual(si);
          expect(h.targetHardwareAddress().bytes).toEqual(th);
          expect(h.targetProtocolAddress().bytes).toEqual(ti);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 64 }), (b, off) => {
        const h = new ArpHeader(b, off);
        if (h.isValid(b.length - off)) {
          h.senderHardwareAddress();
          h.senderProtocolAddress();
          h.targetHardwareAddress();
          h.targetProtocolAddress();
          expect(h.op).toBeLessThanOrEqual(0xffff);
        }
      }),
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  encodeIcmpv4,
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_ECHO,
  ICMPV4_ECHO_REPLY,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_MIN_SIZE,
  ICMPV4_PARAM_PROBLEM,
  ICMPV4_PORT_UNREACHABLE,
  ICMPV4_REDIRECT,
  Icmpv4Header,
} from "./icmpv4.ts";
import { Ipv4Header } from "./ipv4.ts";
import { hex, loadFrame } from "./testing/fixtures.ts";
import { UdpHeader } from "./udp.ts";

describe("Icmpv4Header", () => {
  test("reads every field of a captured echo request and reply (RFC 792)", () => {
    const req = loadFrame("arp", 2);
    const h = new Icmpv4Header(req, 34);
    expect(h.isValid(req.length - 34)).toBe(true);
    expect(h.type).toBe(ICMPV4_ECHO);
    expect(h.code).toBe(0);
    expect(h.checksum).toBe((req[36]! << 8) | req[37]!);
    expect(h.isChecksumValid(64)).toBe(true);
    expect(h.sequence).toBe(1);
    expect(h.payloadOffset).toBe(42);
    // ping -p 6e657473 fills the pattern "nets" after its 16-byte timestamp.
    expect(new TextDecoder().decode(req.subarray(h.payloadOffset + 16, h.payloadOffset + 20))).toBe("nets");
    const rep = new Icmpv4Header(loadFrame("arp", 3), 34);
    expect(rep.type).toBe(ICMPV4_ECHO_REPLY);
    expect(rep.ident).toBe(h.ident);
    expect(rep.isChecksumValid(64)).toBe(true);
  });

  test("reads a captured port unreachable and the datagram it quotes", () => {
    const f = loadFrame("icmpv4-unreach", 1);
    const h = new Icmpv4Header(f, 34);
    expect(h.type).toBe(ICMPV4_DST_UNREACHABLE);
    expect(h.code).toBe(ICMPV4_PORT_UNREACHABLE);
    expect(h.checksum).toBe(0x893f);
    expect(h.isChecksumValid(f.length - 34)).toBe(true);
    expect([h.pointer, h.mtu, h.gateway]).toEqual([0, 0, 0]);
    const inner = new Ipv4Header(f, h.payloadOffset);
    expect(inner.isValid(f.length - h.payloadOffset)).toBe(true);
    expect(new UdpHeader(f, h.payloadOffset + inner.headerLength).dstPort).toBe(7009);
  });

  test("encoder reproduces the captured echo request and port unreachable", () => {
    const req = loadFrame("arp", 2);
    const b = req.slice(34);
    const ident = new Icmpv4Header(req, 34).ident;
    b.fill(0xaa, 0, 8);
    expect(encodeIcmpv4(b, 0, { type: ICMPV4_ECHO, code: 0, ident, sequence: 1, payloadLength: 56 })).toBe(
      ICMPV4_MIN_SIZE,
    );
    expect(b).toEqual(req.subarray(34));

    const un = loadFrame("icmpv4-unreach", 1);
    const c = un.slice(34);
    c.fill(0xaa, 0, 8);
    encodeIcmpv4(c, 0, {
      type: ICMPV4_DST_UNREACHABLE,
      code: ICMPV4_PORT_UNREACHABLE,
      payloadLength: c.length - 8,
    });
    expect(c).toEqual(un.subarray(34));
  });

  test("mtu, pointer and an explicit checksum (RFC 1191 §4)", () => {
    const b = new Uint8Array(8);
    encodeIcmpv4(b, 0, {
      type: ICMPV4_DST_UNREACHABLE,
      code: ICMPV4_FRAG_NEEDED,
      mtu: 1280,
      checksum: 0x1234,
    });
    expect(b).toEqual(hex("0304 1234 0000 0500"));
    expect(new Icmpv4Header(b, 0).mtu).toBe(1280);
    encodeIcmpv4(b, 0, { type: ICMPV4_PARAM_PROBLEM, code: 0, pointer: 9 });
    const h = new Icmpv4Header(b, 0);
    expect(h.pointer).toBe(9);
    expect(h.isChecksumValid(8)).toBe(true);
    b.set(hex("0501 0000 c6120001"));
    expect(h.type).toBe(ICMPV4_REDIRECT);
    expect(h.gateway).toBe(0xc6120001);
  });

  test("setters turn an echo request into a reply in place", () => {
    const f = loadFrame("arp", 2);
    const h = new Icmpv4Header(f, 34);
    h.setType(ICMPV4_ECHO_REPLY);
    h.setCode(0);
    h.setChecksum(0);
    const b = f.slice(34);
    encodeIcmpv4(b, 0, { type: 0, code: 0, ident: h.ident, sequence: h.sequence, payloadLength: 56 });
    h.setChecksum(new Icmpv4Header(b, 0).checksum);
    expect(h.isChecksumValid(64)).toBe(true);
    expect(f.subarray(34)).toEqual(loadFrame("arp", 3).subarray(34));
  });

  test("truncated headers are rejected", () => {
    const f = loadFrame("arp", 2);
    expect(new Icmpv4Header(f, 34).isValid(7)).toBe(false);
    expect(new Icmpv4Header(f.subarray(0, 40), 34).isValid(8)).toBe(false);
    expect(new Icmpv4Header(f, -1).isValid(8)).toBe(false);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 64 }),
        (type, code, ident, sequence, payload) => {
          const b = new Uint8Array(8 + payload.length);
          b.set(payload, 8);
          encodeIcmpv4(b, 0, { type, code, ident, sequence, payloadLength: payload.length });
          const h = new Icmpv4Header(b, 0);
          expect([h.type, h.code, h.ident, h.sequence]).toEqual([type, code, ident, sequence]);
          expect(h.isChecksumValid(b.length)).toBe(true);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (b, off) => {
        const h = new Icmpv4Header(b, off);
        if (!h.isValid(b.length - off)) return;
        const all = [h.type, h.code, h.checksum, h.ident, h.sequence, h.mtu, h.pointer, h.gateway];
        expect(all.every(Number.isInteger)).toBe(true);
        h.isChecksumValid(b.length - off);
      }),
    );
  });
});

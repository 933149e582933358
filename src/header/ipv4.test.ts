import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import {
  encodeIpv4,
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_MIN_SIZE,
  IPV4_OPTION_RECORD_ROUTE,
  IPV4_OPTIONS_MALFORMED,
  IPV4_OPTIONS_OK,
  Ipv4Header,
  Ipv4OptionIterator,
  ipv4HeaderLength,
  parseIpv4Options,
} from "./ipv4.ts";
import { hex, loadFrame, loadFrames } from "./testing/fixtures.ts";

const A = Address.parse("198.18.0.1");
const B = Address.parse("198.18.0.2");

function options(b: Uint8Array): { types: number[]; error: number } {
  const it = parseIpv4Options(b, 0, b.length);
  const types: number[] = [];
  while (it.next()) types.push(it.type);
  return { types, error: it.error };
}

describe("Ipv4Header", () => {
  test("reads every field of a captured SYN", () => {
    const f = loadFrame("tcp4", 0);
    const h = new Ipv4Header(f, 14);
    expect(h.isValid(f.length - 14)).toBe(true);
    expect(h.version).toBe(4);
    expect(h.headerLength).toBe(20);
    expect(h.tos).toBe(0);
    expect(h.totalLength).toBe(60);
    expect(h.id).toBe(30005);
    expect(h.flags).toBe(IPV4_FLAG_DONT_FRAGMENT);
    expect(h.dontFragment).toBe(true);
    expect(h.moreFragments).toBe(false);
    expect(h.fragmentOffset).toBe(0);
    expect(h.isFragment).toBe(false);
    expect(h.ttl).toBe(64);
    expect(h.protocol).toBe(6);
    expect(h.checksum).toBe(0x395f);
    expect(h.isChecksumValid()).toBe(true);
    expect(h.srcAddress().equals(A)).toBe(true);
    expect(h.dstAddress().equals(B)).toBe(true);
    expect(h.srcNumber).toBe(A.v4Number);
    expect(h.dstNumber).toBe(B.v4Number);
    expect(h.payloadLength).toBe(40);
    expect(h.optionsLength).toBe(0);
    expect(h.options().length).toBe(0);
    expect(h.optionsOffset).toBe(34);
  });

  test("reads the tos of a captured ICMP error (0xc0, internetwork control)", () => {
    const f = loadFrame("icmpv4-unreach", 1);
    const h = new Ipv4Header(f, 14);
    expect(h.tos).toBe(0xc0);
    expect(h.dontFragment).toBe(false);
    expect(h.protocol).toBe(1);
  });

  test("reads captured fragments (RFC 791 §3.2)", () => {
    const frames = loadFrames("ipv4-frag").slice(0, 3);
    const hs = frames.map((f) => new Ipv4Header(f, 14));
    expect(hs.map((h) => h.isValid(h.b.length - 14))).toEqual([true, true, true]);
    expect(hs.map((h) => h.fragmentOffset)).toEqual([0, 1480, 2960]);
    expect(hs.map((h) => h.moreFragments)).toEqual([true, true, false]);
    expect(hs.map((h) => h.totalLength)).toEqual([1500, 1500, 68]);
    expect(hs.map((h) => h.isFragment)).toEqual([true, true, true]);
    expect(new Set(hs.map((h) => h.id)).size).toBe(1);
    expect(hs[0]!.flags).toBe(IPV4_FLAG_MORE_FRAGMENTS);
    expect(hs.every((h) => h.isChecksumValid())).toBe(true);
  });

  test("reads captured Record Route options (RFC 791 §3.1)", () => {
    const f = loadFrame("ipv4-options", 1);
    const h = new Ipv4Header(f, 14);
    expect(h.isValid(f.length - 14)).toBe(true);
    expect(h.headerLength).toBe(60);
    expect(h.optionsLength).toBe(40);
    expect(h.payloadLength).toBe(64);
    const it = parseIpv4Options(f, h.optionsOffset, h.optionsLength);
    expect(it.next()).toBe(true);
    expect(it.type).toBe(IPV4_OPTION_RECORD_ROUTE);
    expect(it.length).toBe(39);
    expect(it.dataLength).toBe(37);
    // Pointer (the first data byte) points past three recorded addresses: 4 + 3 × 4 = 16.
    expect(f[it.dataOffset]).toBe(16);
    expect(Address.fromBytes(f, it.dataOffset + 1, 4).equals(A)).toBe(true);
    expect(Address.fromBytes(f, it.dataOffset + 5, 4).equals(B)).toBe(true);
    expect(it.next()).toBe(false);
    expect(it.error).toBe(IPV4_OPTIONS_OK);
    expect(options(new Ipv4Header(loadFrame("ipv4-options", 0), 14).options())).toEqual({
      types: [IPV4_OPTION_RECORD_ROUTE],
      error: IPV4_OPTIONS_OK,
    });
  });

  test("encoder reproduces captured headers with and without options", () => {
    const f = loadFrame("tcp4", 0);
    const out = new Uint8Array(60);
    const n = encodeIpv4(out, 0, {
      totalLength: 60,
      id: 30005,
      flags: IPV4_FLAG_DONT_FRAGMENT,
      ttl: 64,
      protocol: 6,
      src: A,
      dst: B,
    });
    expect(n).toBe(20);
    expect(out.subarray(0, 20)).toEqual(f.subarray(14, 34));

    const g = loadFrame("ipv4-options", 1);
    const gh = new Ipv4Header(g, 14);
    const withOpts = new Uint8Array(60);
    const m = encodeIpv4(withOpts, 0, {
      totalLength: gh.totalLength,
      id: gh.id,
      ttl: 64,
      protocol: 1,
      src: B,
      dst: A,
      options: g.slice(34, 34 + 39),
    });
    expect(m).toBe(60);
    expect(withOpts).toEqual(g.subarray(14, 74));

    const frag = loadFrame("ipv4-frag", 1);
    const fh = new Ipv4Header(frag, 14);
    encodeIpv4(out, 0, {
      totalLength: 1500,
      id: fh.id,
      flags: IPV4_FLAG_MORE_FRAGMENTS,
      fragmentOffset: 1480,
      ttl: 64,
      protocol: 1,
      src: A,
      dst: B,
    });
    expect(out.subarray(0, 20)).toEqual(frag.subarray(14, 34));
  });

  test("setters rewrite fields in place; setChecksum(computeChecksum()) keeps it valid", () => {
    const f = loadFrame("tcp4", 0);
    const h = new Ipv4Header(f, 14);
    h.setTtl(3);
    h.setId(0xbeef);
    h.setTos(0x10);
    h.setTotalLength(1000);
    h.setFlagsFragmentOffset(IPV4_FLAG_MORE_FRAGMENTS, 2960);
    h.setSrcAddress(B);
    h.setDstAddress(A);
    expect(h.isChecksumValid()).toBe(false);
    h.setChecksum(h.computeChecksum());
    expect(h.isChecksumValid()).toBe(true);
    expect([h.ttl, h.id, h.tos, h.totalLength, h.fragmentOffset, h.moreFragments, h.dontFragment]).toEqual([
      3,
      0xbeef,
      0x10,
      1000,
      2960,
      true,
      false,
    ]);
    expect(h.srcAddress().equals(B) && h.dstAddress().equals(A)).toBe(true);
  });

  test("truncated and impossible lengths are rejected", () => {
    const f = loadFrame("tcp4", 0);
    const h = new Ipv4Header(f, 14);
    expect(h.isValid(19)).toBe(false);
    expect(h.isValid(59)).toBe(false); // total length 60 > 59
    expect(h.isValid(64)).toBe(true); // link padding after the datagram is fine
    const bad = (patch: (g: Uint8Array) => void) => {
      const g = f.slice();
      patch(g);
      return new Ipv4Header(g, 14).isValid(g.length - 14);
    };
    expect(bad((g) => (g[14] = 0x65))).toBe(false); // version 6
    expect(bad((g) => (g[14] = 0x44))).toBe(false); // IHL 4 < 5
    expect(bad((g) => (g[14] = 0x4f))).toBe(true); // IHL 15 = 60 bytes ≤ total 60
    // IHL 60 > total 56
    expect(
      bad((g) => {
        g[14] = 0x4f;
        g[17] = 56;
      }),
    ).toBe(false);
    // total 10 < 20
    expect(
      bad((g) => {
        g[16] = 0;
        g[17] = 10;
      }),
    ).toBe(false);
    expect(new Ipv4Header(f.subarray(0, 30), 14).isValid(60)).toBe(false); // buffer shorter than the header
    expect(new Ipv4Header(f, -1).isValid(60)).toBe(false);
  });

  test("ipv4HeaderLength pads options to words", () => {
    expect([0, 1, 3, 4, 5, 40].map(ipv4HeaderLength)).toEqual([20, 24, 24, 24, 28, 60]);
    expect(ipv4HeaderLength()).toBe(IPV4_MIN_SIZE);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.record({
          tos: fc.integer({ min: 0, max: 255 }),
          id: fc.integer({ min: 0, max: 0xffff }),
          flags: fc.integer({ min: 0, max: 3 }),
          fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
          ttl: fc.integer({ min: 0, max: 255 }),
          protocol: fc.integer({ min: 0, max: 255 }),
          src: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Address.fromBytes(b)),
          dst: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Address.fromBytes(b)),
          options: fc.uint8Array({ maxLength: 40 }),
          payload: fc.integer({ min: 0, max: 100 }),
        }),
        (r) => {
          const hlen = ipv4HeaderLength(r.options.length);
          const totalLength = hlen + r.payload;
          const b = new Uint8Array(totalLength + 3);
          expect(encodeIpv4(b, 3, { ...r, totalLength })).toBe(hlen);
          const h = new Ipv4Header(b, 3);
          expect(h.isValid(totalLength)).toBe(true);
          expect(h.isChecksumValid()).toBe(true);
          expect([h.tos, h.id, h.flags, h.fragmentOffset, h.ttl, h.protocol]).toEqual([
            r.tos,
            r.id,
            r.flags,
            r.fragmentOffset,
            r.ttl,
            r.protocol,
          ]);
          expect(h.srcAddress().equals(r.src) && h.dstAddress().equals(r.dst)).toBe(true);
          expect(h.totalLength).toBe(totalLength);
          expect(h.payloadLength).toBe(r.payload);
          expect(h.options().subarray(0, r.options.length)).toEqual(r.options);
        },
      ),
    );
  });

  test("random bytes never throw (header and options)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 80 }), (b, off) => {
        const h = new Ipv4Header(b, off);
        if (!h.isValid(b.length - off)) return;
        const all = [h.version, h.headerLength, h.tos, h.totalLength, h.id, h.flags, h.fragmentOffset];
        all.push(h.ttl, h.protocol, h.checksum, h.payloadLength, h.srcNumber, h.dstNumber);
        expect(all.every(Number.isInteger)).toBe(true);
        h.srcAddress();
        h.dstAddress();
        h.isChecksumValid();
        const it = parseIpv4Options(b, h.optionsOffset, h.optionsLength);
        let n = 0;
        while (it.next()) {
          expect(it.optionOffset + it.length).toBeLessThanOrEqual(h.off + h.headerLength);
          n++;
        }
        expect(n).toBeLessThanOrEqual(20);
      }),
    );
  });
});

describe("parseIpv4Options", () => {
  test("EOL ends, NOP is skipped, unknown options are walked by length", () => {
    expect(options(hex("01 01 94 04 0000 00 07"))).toEqual({ types: [148], error: IPV4_OPTIONS_OK });
    expect(options(hex("fe 03 aa 01 44 04 0102"))).toEqual({ types: [254, 68], error: IPV4_OPTIONS_OK });
  });

  test("malformed lengths stop the walk with an error, never throwing", () => {
    expect(options(hex("07"))).toEqual({ types: [], error: IPV4_OPTIONS_MALFORMED }); // length byte missing
    expect(options(hex("07 00 00 00"))).toEqual({ types: [], error: IPV4_OPTIONS_MALFORMED }); // length 0
    expect(options(hex("07 01 00 00"))).toEqual({ types: [], error: IPV4_OPTIONS_MALFORMED }); // length 1
    expect(options(hex("94 04 0000 07 09 0000"))).toEqual({ types: [148], error: IPV4_OPTIONS_MALFORMED }); // overrun
  });

  test("the iterator is reusable and clamps to the buffer", () => {
    const it = new Ipv4OptionIterator();
    expect(it.next()).toBe(false);
    const b = hex("94 04 0000");
    it.reset(b, 0, 100);
    expect(it.next()).toBe(true);
    expect(it.next()).toBe(false);
    it.reset(b, 0, -5);
    expect(it.next()).toBe(false);
    expect(it.error).toBe(IPV4_OPTIONS_OK);
  });
});

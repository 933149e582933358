import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Ipv6Header } from "./ipv6.ts";
import {
  encodeIpv6Fragment,
  encodeIpv6OptionsHeader,
  IPV6_AUTHENTICATION,
  IPV6_DESTINATION_OPTIONS,
  IPV6_ESP,
  IPV6_EXT_HOP_BY_HOP_NOT_FIRST,
  IPV6_EXT_OK,
  IPV6_EXT_TOO_MANY,
  IPV6_EXT_TRUNCATED,
  IPV6_FRAGMENT,
  IPV6_FRAGMENT_HEADER_SIZE,
  IPV6_HOP_BY_HOP,
  IPV6_NO_NEXT_HEADER,
  IPV6_OPTION_ACTION_DISCARD,
  IPV6_OPTION_ACTION_DISCARD_SEND_ICMP,
  IPV6_OPTION_ACTION_DISCARD_SEND_ICMP_NO_MULTICAST,
  IPV6_OPTION_ACTION_SKIP,
  IPV6_OPTION_ROUTER_ALERT,
  IPV6_OPTIONS_MALFORMED,
  IPV6_OPTIONS_OK,
  IPV6_ROUTING,
  Ipv6ExtensionIterator,
  Ipv6FragmentHeader,
  Ipv6OptionIterator,
  Ipv6RoutingHeader,
  ipv6OptionAction,
  ipv6OptionMayChange,
  isIpv6ExtensionHeader,
  walkIpv6Extensions,
} from "./ipv6-extension.ts";
import { hex, loadFrame, loadFrames } from "./testing/fixtures.ts";

function fragments(): Uint8Array<ArrayBuffer>[] {
  return loadFrames("ipv6-frag").filter((f) => f[20] === IPV6_FRAGMENT);
}

function optionTypes(ext: Uint8Array): { types: number[]; error: number } {
  const it = new Ipv6OptionIterator().reset(ext, 0, ext.length);
  const types: number[] = [];
  while (it.next()) types.push(it.type);
  return { types, error: it.error };
}

describe("Ipv6FragmentHeader", () => {
  test("reads every field of captured fragments (RFC 8200 §4.5)", () => {
    const fs = fragments().slice(0, 3);
    expect(fs.length).toBe(3);
    const hs = fs.map((f) => new Ipv6FragmentHeader(f, 54));
    expect(hs.every((h, i) => h.isValid(fs[i]!.length - 54))).toBe(true);
    expect(hs.map((h) => h.nextHeader)).toEqual([58, 58, 58]);
    expect(hs.map((h) => h.fragmentOffset)).toEqual([0, 1448, 2896]);
    expect(hs.map((h) => h.more)).toEqual([true, true, false]);
    expect(new Set(hs.map((h) => h.id)).size).toBe(1);
    expect(hs[0]!.id).toBe(
      ((fs[0]![58]! << 24) | (fs[0]![59]! << 16) | (fs[0]![60]! << 8) | fs[0]![61]!) >>> 0,
    );
  });

  test("encoder reproduces captured fragment headers", () => {
    for (const f of fragments()) {
      const h = new Ipv6FragmentHeader(f, 54);
      const out = new Uint8Array(8);
      expect(
        encodeIpv6Fragment(out, 0, {
          nextHeader: h.nextHeader,
          fragmentOffset: h.fragmentOffset,
          more: h.more,
          id: h.id,
        }),
      ).toBe(IPV6_FRAGMENT_HEADER_SIZE);
      expect(out).toEqual(f.subarray(54, 62));
    }
  });

  test("truncated headers are rejected", () => {
    const f = fragments()[0]!;
    expect(new Ipv6FragmentHeader(f, 54).isValid(7)).toBe(false);
    expect(new Ipv6FragmentHeader(f.subarray(0, 60), 54).isValid(8)).toBe(false);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0x1fff }),
        fc.boolean(),
        fc.nat({ max: 0xffffffff }),
        (nextHeader, units, more, id) => {
          const b = new Uint8Array(8);
          encodeIpv6Fragment(b, 0, { nextHeader, fragmentOffset: units * 8, more, id });
          const h = new Ipv6FragmentHeader(b, 0);
          expect([h.nextHeader, h.fragmentOffset, h.more, h.id]).toEqual([nextHeader, units * 8, more, id]);
        },
      ),
    );
  });
});

describe("Ipv6ExtensionIterator", () => {
  test("walks a captured first fragment to ICMPv6", () => {
    const f = fragments()[0]!;
    const ip = new Ipv6Header(f, 14);
    const it = new Ipv6ExtensionIterator().reset(f, ip.payloadOffset, ip.payloadLength, ip.nextHeader);
    expect(it.next()).toBe(true);
    expect([it.type, it.headerOffset, it.headerLength, it.nextHeader]).toEqual([IPV6_FRAGMENT, 54, 8, 58]);
    expect(it.next()).toBe(false);
    expect([it.error, it.upperLayer, it.upperOffset, it.nonFirstFragment]).toEqual([
      IPV6_EXT_OK,
      58,
      62,
      false,
    ]);
  });

  test("stops after a captured non-first fragment (its payload is not a header)", () => {
    const f = fragments()[1]!;
    const ip = new Ipv6Header(f, 14);
    const w = walkIpv6Extensions(f, ip.payloadOffset, ip.payloadLength, ip.nextHeader);
    expect(w).toEqual({ error: IPV6_EXT_OK, upperLayer: 58, upperOffset: 62, nonFirstFragment: true });
  });

  test("walks a captured MLD report's Hop-by-Hop header and reads Router Alert (RFC 2711)", () => {
    const f = loadFrame("ipv6-mld", 0);
    const ip = new Ipv6Header(f, 14);
    expect(ip.nextHeader).toBe(IPV6_HOP_BY_HOP);
    const seen: number[] = [];
    const w = walkIpv6Extensions(f, ip.payloadOffset, ip.payloadLength, ip.nextHeader, (h) => {
      seen.push(h.type, h.len);
      const opts = new Ipv6OptionIterator().reset(f, h.off, h.len);
      expect(opts.next()).toBe(true);
      expect(opts.type).toBe(IPV6_OPTION_ROUTER_ALERT);
      expect(opts.action).toBe(IPV6_OPTION_ACTION_SKIP);
      expect(opts.dataLength).toBe(2);
      expect((f[opts.dataOffset]! << 8) | f[opts.dataOffset + 1]!).toBe(0); // MLD (RFC 2711 §2.1)
      expect(opts.next()).toBe(false); // PadN skipped
      expect(opts.error).toBe(IPV6_OPTIONS_OK);
      return true;
    });
    expect(seen).toEqual([IPV6_HOP_BY_HOP, 8]);
    expect(w.upperLayer).toBe(58);
    expect(f[w.upperOffset]).toBe(143); // MLDv2 report (RFC 3810 §5.2)
  });

  test("walks a built chain: hop-by-hop, destination options, routing, AH, fragment", () => {
    const b = new Uint8Array(80);
    let o = 0;
    o += encodeIpv6OptionsHeader(b, o, IPV6_DESTINATION_OPTIONS, hex("0502 0000"));
    o += encodeIpv6OptionsHeader(b, o, IPV6_ROUTING, hex("c2 04 00010000"));
    b.set(hex("33 00 00 02 00000000"), o); // routing: next AH, len 0 (8 bytes), type 0, segments left 2
    const routing = new Ipv6RoutingHeader(b, o);
    o += 8;
    b.set(hex("2c 01 0000 00000001 00000002"), o); // AH: next fragment, payload len 1 → (1 + 2) × 4 = 12
    o += 12;
    o += encodeIpv6Fragment(b, o, { nextHeader: 6, fragmentOffset: 0, more: true, id: 9 });
    const types: number[] = [];
    const w = walkIpv6Extensions(b, 0, o + 20, IPV6_HOP_BY_HOP, (h) => {
      types.push(h.type);
      return undefined;
    });
    expect(types).toEqual([
      IPV6_HOP_BY_HOP,
      IPV6_DESTINATION_OPTIONS,
      IPV6_ROUTING,
      IPV6_AUTHENTICATION,
      IPV6_FRAGMENT,
    ]);
    expect(w).toEqual({ error: IPV6_EXT_OK, upperLayer: 6, upperOffset: o, nonFirstFragment: false });
    expect([routing.nextHeader, routing.length, routing.routingType, routing.segmentsLeft]).toEqual([
      51, 8, 0, 2,
    ]);
  });

  test("the visitor may stop the walk", () => {
    const b = new Uint8Array(16);
    encodeIpv6OptionsHeader(b, 0, IPV6_DESTINATION_OPTIONS, new Uint8Array(0));
    encodeIpv6OptionsHeader(b, 8, 17, new Uint8Array(0));
    let n = 0;
    walkIpv6Extensions(b, 0, 16, IPV6_HOP_BY_HOP, () => {
      n++;
      return false;
    });
    expect(n).toBe(1);
  });

  test("errors: truncated, hop-by-hop not first, too many headers; ESP and No Next Header end the chain", () => {
    const hbh = new Uint8Array(16);
    encodeIpv6OptionsHeader(hbh, 0, IPV6_HOP_BY_HOP, new Uint8Array(0));
    encodeIpv6OptionsHeader(hbh, 8, 17, new Uint8Array(0));
    expect(walkIpv6Extensions(hbh, 0, 16, IPV6_HOP_BY_HOP).error).toBe(IPV6_EXT_HOP_BY_HOP_NOT_FIRST);
    expect(walkIpv6Extensions(hbh, 0, 7, IPV6_DESTINATION_OPTIONS).error).toBe(IPV6_EXT_TRUNCATED);
    const big = hex("3a 05 000000000000"); // says 48 bytes, has 8
    expect(walkIpv6Extensions(big, 0, 8, IPV6_DESTINATION_OPTIONS).error).toBe(IPV6_EXT_TRUNCATED);
    const loop = new Uint8Array(8 * 20);
    for (let i = 0; i < 20; i++) loop[8 * i] = IPV6_DESTINATION_OPTIONS;
    expect(walkIpv6Extensions(loop, 0, loop.length, IPV6_DESTINATION_OPTIONS).error).toBe(IPV6_EXT_TOO_MANY);
    expect(walkIpv6Extensions(hbh, 0, 16, IPV6_ESP)).toMatchObject({
      error: IPV6_EXT_OK,
      upperLayer: IPV6_ESP,
    });
    expect(walkIpv6Extensions(hbh, 0, 16, IPV6_NO_NEXT_HEADER).upperLayer).toBe(IPV6_NO_NEXT_HEADER);
    const it = new Ipv6ExtensionIterator().reset(hbh, 0, 16, 17);
    expect(it.next()).toBe(false);
    expect(it.next()).toBe(false);
  });

  test("random chains never throw and stay in bounds", () => {
    const it = new Ipv6ExtensionIterator();
    const opts = new Ipv6OptionIterator();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom(0, 43, 44, 51, 60, 6, 59),
        fc.integer({ min: -4, max: 130 }),
        (b, first, len) => {
          it.reset(b, 0, len, first);
          let n = 0;
          while (it.next()) {
            expect(it.headerOffset + it.headerLength).toBeLessThanOrEqual(b.length);
            if (it.type === IPV6_HOP_BY_HOP || it.type === IPV6_DESTINATION_OPTIONS) {
              opts.reset(b, it.headerOffset, it.headerLength);
              while (opts.next()) expect(opts.dataOffset + opts.dataLength).toBeLessThanOrEqual(b.length);
            }
            n++;
          }
          expect(n).toBeLessThanOrEqual(16);
        },
      ),
    );
  });
});

describe("Ipv6OptionIterator", () => {
  test("Pad1 and PadN are skipped; unknown options are reported with their action bits (RFC 8200 §4.2)", () => {
    const ext = hex("3b00 00 0100 3e01aa 8000 c2 04 00010000");
    expect(optionTypes(ext.subarray(0, 8))).toEqual({ types: [0x3e], error: IPV6_OPTIONS_OK });
    expect(ipv6OptionAction(0x3e)).toBe(IPV6_OPTION_ACTION_SKIP);
    expect(ipv6OptionAction(0x7e)).toBe(IPV6_OPTION_ACTION_DISCARD);
    expect(ipv6OptionAction(0x80)).toBe(IPV6_OPTION_ACTION_DISCARD_SEND_ICMP);
    expect(ipv6OptionAction(0xc2)).toBe(IPV6_OPTION_ACTION_DISCARD_SEND_ICMP_NO_MULTICAST);
    expect(ipv6OptionMayChange(0x3e)).toBe(true);
    expect(ipv6OptionMayChange(0xc2)).toBe(false);
  });

  test("an option running past the header is malformed, never thrown", () => {
    expect(optionTypes(hex("3b00 05 09 000000"))).toEqual({ types: [], error: IPV6_OPTIONS_MALFORMED });
    expect(optionTypes(hex("3b00 000000 00 05"))).toEqual({ types: [], error: IPV6_OPTIONS_MALFORMED });
    expect(optionTypes(hex("3b00 3e01 aa 00 00 07"))).toEqual({
      types: [0x3e],
      error: IPV6_OPTIONS_MALFORMED,
    });
  });

  test("encodeIpv6OptionsHeader pads with Pad1 or PadN to 8 octets", () => {
    const b = new Uint8Array(16).fill(0xee);
    expect(encodeIpv6OptionsHeader(b, 0, 6, hex("0502 0000"))).toBe(8);
    expect(b.subarray(0, 8)).toEqual(hex("0600 0502 0000 0100"));
    expect(encodeIpv6OptionsHeader(b, 0, 6, hex("3e03 aabbcc"))).toBe(8);
    expect(b.subarray(0, 8)).toEqual(hex("0600 3e03 aabbcc 00"));
    expect(encodeIpv6OptionsHeader(b, 0, 6, hex("3e04 aabbccdd"))).toBe(8);
    expect(encodeIpv6OptionsHeader(b, 0, 6, hex("3e05 aabbccddee"))).toBe(16);
    expect(b.subarray(0, 16)).toEqual(hex("0601 3e05 aabbccddee 0105 0000000000"));
  });

  test("isIpv6ExtensionHeader", () => {
    expect([0, 43, 44, 51, 60, 6, 17, 58, 59, 50].map(isIpv6ExtensionHeader)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

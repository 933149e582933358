import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { LinkAddress, parseMACAddress } from "../tcpip/link-address.ts";
import {
  encodeIcmpv6,
  encodeNdpLinkAddressOption,
  encodeNdpNeighborAdvert,
  encodeNdpNeighborSolicit,
  encodeNdpRouterAdvert,
  encodeNdpRouterSolicit,
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_HEADER_SIZE,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  Icmpv6Header,
  icmpv6Checksum,
  isIcmpv6Error,
  MLD_SIZE,
  MldMessage,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_SOURCE_LINK_ADDRESS,
  NDP_OPT_TARGET_LINK_ADDRESS,
  NDP_OPTIONS_MALFORMED,
  NDP_OPTIONS_OK,
  NdpNeighborAdvert,
  NdpNeighborSolicit,
  NdpOptionIterator,
  NdpPrefixInformation,
  NdpRedirect,
  NdpRouterAdvert,
  NdpRouterSolicit,
  setIcmpv6Checksum,
} from "./icmpv6.ts";
import { Ipv6Header, solicitedNodeAddress } from "./ipv6.ts";
import { findFrame, hex, icmpv6TypeOf, loadFrames } from "./testing/fixtures.ts";
import { UdpHeader } from "./udp.ts";

const A = Address.parse("fd00::1");
const B = Address.parse("fd00::2");
const MAC_A = parseMACAddress("02:00:00:00:00:01");
const MAC_B = parseMACAddress("02:00:00:00:00:02");

const frame = (type: number) => findFrame("icmpv6-echo-ndp", (f) => icmpv6TypeOf(f) === type);
const ip = (f: Uint8Array) => new Ipv6Header(f, 14);
const verifies = (f: Uint8Array) => {
  const h = ip(f);
  return new Icmpv6Header(f, 54).isChecksumValid(h.payloadLength, h.srcAddress(), h.dstAddress());
};

function options(b: Uint8Array, off: number, len: number): { types: number[]; error: number } {
  const it = new NdpOptionIterator().reset(b, off, len);
  const types: number[] = [];
  while (it.next()) types.push(it.type);
  return { types, error: it.error };
}

describe("Icmpv6Header", () => {
  test("reads every field of a captured echo request and reply (RFC 4443 §4)", () => {
    const req = frame(ICMPV6_ECHO_REQUEST);
    const h = new Icmpv6Header(req, 54);
    expect(h.isValid(req.length - 54)).toBe(true);
    expect([h.type, h.code, h.sequence]).toEqual([ICMPV6_ECHO_REQUEST, 0, 1]);
    expect(h.checksum).toBe((req[56]! << 8) | req[57]!);
    expect(verifies(req)).toBe(true);
    expect(h.payloadOffset).toBe(62);
    const rep = new Icmpv6Header(frame(ICMPV6_ECHO_REPLY), 54);
    expect(rep.type).toBe(ICMPV6_ECHO_REPLY);
    expect(rep.ident).toBe(h.ident);
    expect(verifies(rep.b)).toBe(true);
  });

  test("reads a captured port unreachable and the packet it quotes (RFC 4443 §3.1)", () => {
    const f = loadFrames("icmpv6-unreach").find((g) => icmpv6TypeOf(g) === ICMPV6_DST_UNREACHABLE)!;
    const h = new Icmpv6Header(f, 54);
    expect([h.type, h.code, h.pointer]).toEqual([ICMPV6_DST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0]);
    expect(verifies(f)).toBe(true);
    expect(isIcmpv6Error(h.type)).toBe(true);
    expect(isIcmpv6Error(ICMPV6_ECHO_REQUEST)).toBe(false);
    const inner = new Ipv6Header(f, h.payloadOffset);
    expect(inner.srcAddress().equals(A)).toBe(true);
    expect(new UdpHeader(f, h.payloadOffset + 40).dstPort).toBe(7009);
  });

  test("encoder reproduces the captured echo request, checksum included", () => {
    const req = frame(ICMPV6_ECHO_REQUEST);
    const b = req.slice(54);
    const h = new Icmpv6Header(req, 54);
    b.fill(0xaa, 0, 8);
    expect(
      encodeIcmpv6(b, 0, {
        type: ICMPV6_ECHO_REQUEST,
        code: 0,
        ident: h.ident,
        sequence: 1,
        src: A,
        dst: B,
        payloadLength: b.length - 8,
      }),
    ).toBe(ICMPV6_HEADER_SIZE);
    expect(b).toEqual(req.subarray(54));
  });

  test("packet too big MTU and parameter problem pointer are 32 bits (RFC 4443 §3.2, §3.4)", () => {
    const b = new Uint8Array(8);
    encodeIcmpv6(b, 0, { type: ICMPV6_PACKET_TOO_BIG, code: 0, mtu: 1280, checksum: 0xabcd });
    expect(b).toEqual(hex("0200 abcd 00000500"));
    expect(new Icmpv6Header(b, 0).mtu).toBe(1280);
    encodeIcmpv6(b, 0, { type: ICMPV6_PARAM_PROBLEM, code: 1, pointer: 0x10006 });
    expect(new Icmpv6Header(b, 0).pointer).toBe(0x10006);
    expect(new Icmpv6Header(b, 0).checksum).toBe(0);
  });

  test("setters turn a captured echo request into the reply", () => {
    const req = frame(ICMPV6_ECHO_REQUEST);
    const rep = frame(ICMPV6_ECHO_REPLY);
    const h = new Icmpv6Header(req, 54);
    h.setType(ICMPV6_ECHO_REPLY);
    h.setCode(0);
    h.setChecksum(0);
    h.setChecksum(icmpv6Checksum(req, 54, req.length - 54, B, A));
    expect(req.subarray(54)).toEqual(rep.subarray(54));
  });

  test("truncated headers are rejected", () => {
    const f = frame(ICMPV6_ECHO_REQUEST);
    expect(new Icmpv6Header(f, 54).isValid(7)).toBe(false);
    expect(new Icmpv6Header(f.subarray(0, 60), 54).isValid(8)).toBe(false);
    expect(new Icmpv6Header(f, -1).isValid(8)).toBe(false);
  });

  test("encode → parse round trip with checksum", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 128, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 64 }),
        (type, code, ident, sequence, payload) => {
          const b = new Uint8Array(8 + payload.length);
          b.set(payload, 8);
          encodeIcmpv6(b, 0, { type, code, ident, sequence, src: A, dst: B, payloadLength: payload.length });
          const h = new Icmpv6Header(b, 0);
          expect([h.type, h.code, h.ident, h.sequence]).toEqual([type, code, ident, sequence]);
          expect(h.isChecksumValid(b.length, A, B)).toBe(true);
        },
      ),
    );
  });
});

describe("NDP", () => {
  test("reads a captured neighbor solicitation and its source link-layer option (RFC 4861 §4.3)", () => {
    const f = frame(ICMPV6_NEIGHBOR_SOLICIT);
    const ns = new NdpNeighborSolicit(f, 54);
    expect(ns.isValid(ip(f).payloadLength)).toBe(true);
    expect(ns.targetAddress().equals(B)).toBe(true);
    expect(ns.targetOffset).toBe(62);
    expect(ip(f).dstAddress().equals(solicitedNodeAddress(B))).toBe(true);
    expect(verifies(f)).toBe(true);
    const it = new NdpOptionIterator().reset(f, ns.optionsOffset, f.length - ns.optionsOffset);
    expect(it.next()).toBe(true);
    expect(it.type).toBe(NDP_OPT_SOURCE_LINK_ADDRESS);
    expect(it.length).toBe(8);
    expect(it.linkAddress()?.equals(MAC_A)).toBe(true);
    expect(it.next()).toBe(false);
    expect(it.error).toBe(NDP_OPTIONS_OK);
  });

  test("reads a captured neighbor advertisement with solicited and override flags (RFC 4861 §4.4)", () => {
    const f = frame(ICMPV6_NEIGHBOR_ADVERT);
    const na = new NdpNeighborAdvert(f, 54);
    expect(na.isValid(ip(f).payloadLength)).toBe(true);
    expect([na.router, na.solicited, na.override]).toEqual([false, true, true]);
    expect(na.targetAddress().equals(B)).toBe(true);
    expect(na.targetOffset).toBe(62);
    const it = new NdpOptionIterator().reset(f, na.optionsOffset, f.length - na.optionsOffset);
    expect(it.next()).toBe(true);
    expect(it.type).toBe(NDP_OPT_TARGET_LINK_ADDRESS);
    expect(it.linkAddress()?.equals(MAC_B)).toBe(true);
    expect(verifies(f)).toBe(true);
  });

  test("reads captured router solicitations (RFC 4861 §4.1)", () => {
    const frames = loadFrames("ipv6-rs");
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) {
      expect(icmpv6TypeOf(f)).toBe(ICMPV6_ROUTER_SOLICIT);
      const rs = new NdpRouterSolicit(f, 54);
      expect(rs.isValid(ip(f).payloadLength)).toBe(true);
      expect(ip(f).hopLimit).toBe(255);
      expect(ip(f).dstAddress().equals(Address.ALL_ROUTERS_V6)).toBe(true);
      expect(ip(f).srcAddress().isLinkLocalUnicast).toBe(true);
      expect(options(f, rs.optionsOffset, f.length - rs.optionsOffset)).toEqual({
        types: [NDP_OPT_SOURCE_LINK_ADDRESS],
        error: NDP_OPTIONS_OK,
      });
      expect(verifies(f)).toBe(true);
    }
  });

  test("encoders reproduce the captured NS, NA and RS byte for byte", () => {
    const check = (f: Uint8Array<ArrayBuffer>, build: (b: Uint8Array) => number) => {
      const h = ip(f);
      const b = new Uint8Array(h.payloadLength);
      const n = build(b);
      expect(n).toBe(h.payloadLength);
      setIcmpv6Checksum(b, 0, n, h.srcAddress(), h.dstAddress());
      expect(b).toEqual(f.subarray(54, 54 + n));
    };
    check(frame(ICMPV6_NEIGHBOR_SOLICIT), (b) =>
      encodeNdpNeighborSolicit(b, 0, { target: B, sourceLinkAddress: MAC_A }),
    );
    check(frame(ICMPV6_NEIGHBOR_ADVERT), (b) =>
      encodeNdpNeighborAdvert(b, 0, { target: B, solicited: true, override: true, targetLinkAddress: MAC_B }),
    );
    for (const f of loadFrames("ipv6-rs")) {
      const mac = new LinkAddress(f.slice(6, 12));
      check(f, (b) => encodeNdpRouterSolicit(b, 0, { sourceLinkAddress: mac }));
    }
  });

  test("router advertisement with MTU and prefix options round-trips (RFC 4861 §4.2, §4.6.2, §4.6.4)", () => {
    const b = new Uint8Array(128);
    const prefix = Address.parse("fd00:1::");
    const n = encodeNdpRouterAdvert(b, 0, {
      curHopLimit: 64,
      managed: true,
      routerLifetime: 1800,
      reachableTime: 30000,
      retransTimer: 1000,
      sourceLinkAddress: MAC_B,
      mtu: 1500,
      prefixes: [
        {
          prefixLength: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 0xffffffff,
          preferredLifetime: 600,
          prefix,
        },
      ],
    });
    expect(n).toBe(16 + 8 + 8 + 32);
    expect(b[0]).toBe(ICMPV6_ROUTER_ADVERT);
    const ra = new NdpRouterAdvert(b, 0);
    expect(ra.isValid(n)).toBe(true);
    expect([
      ra.curHopLimit,
      ra.managed,
      ra.other,
      ra.routerLifetime,
      ra.reachableTime,
      ra.retransTimer,
    ]).toEqual([64, true, false, 1800, 30000, 1000]);
    const it = new NdpOptionIterator().reset(b, ra.optionsOffset, n - 16);
    const seen: number[] = [];
    while (it.next()) {
      seen.push(it.type);
      if (it.type === NDP_OPT_SOURCE_LINK_ADDRESS) expect(it.linkAddress()?.equals(MAC_B)).toBe(true);
      if (it.type === NDP_OPT_MTU) expect(it.mtu()).toBe(1500);
      if (it.type === NDP_OPT_PREFIX_INFO) {
        const p = it.prefixInformation();
        expect(p.isValid(it.length)).toBe(true);
        expect([p.prefixLength, p.onLink, p.autonomous, p.validLifetime, p.preferredLifetime]).toEqual([
          64,
          true,
          true,
          0xffffffff,
          600,
        ]);
        expect(p.prefix().equals(prefix)).toBe(true);
      }
    }
    expect(seen).toEqual([NDP_OPT_SOURCE_LINK_ADDRESS, NDP_OPT_MTU, NDP_OPT_PREFIX_INFO]);
    expect(it.error).toBe(NDP_OPTIONS_OK);
  });

  test("redirect view (RFC 4861 §4.5)", () => {
    const b = new Uint8Array(40);
    b[0] = ICMPV6_REDIRECT;
    b.set(A.bytes, 8);
    b.set(B.bytes, 24);
    const r = new NdpRedirect(b, 0);
    expect(r.isValid(40)).toBe(true);
    expect(r.isValid(39)).toBe(false);
    expect(r.targetAddress().equals(A) && r.destinationAddress().equals(B)).toBe(true);
    expect(r.optionsOffset).toBe(40);
  });

  test("truncated messages are rejected", () => {
    const f = frame(ICMPV6_NEIGHBOR_SOLICIT);
    expect(new NdpNeighborSolicit(f, 54).isValid(23)).toBe(false);
    expect(new NdpNeighborAdvert(f, 54).isValid(23)).toBe(false);
    expect(new NdpRouterSolicit(f, 54).isValid(7)).toBe(false);
    expect(new NdpRouterAdvert(f, 54).isValid(15)).toBe(false);
    expect(new NdpPrefixInformation(f, 54).isValid(31)).toBe(false);
    expect(new NdpNeighborSolicit(f.subarray(0, 70), 54).isValid(24)).toBe(false);
  });

  test("option length 0 and overruns are malformed (RFC 4861 §4.6), never thrown", () => {
    expect(options(hex("0100 020000000000"), 0, 8)).toEqual({ types: [], error: NDP_OPTIONS_MALFORMED });
    expect(options(hex("0102 0000000000000000"), 0, 10)).toEqual({ types: [], error: NDP_OPTIONS_MALFORMED });
    expect(options(hex("0101 020000000001 05"), 0, 9)).toEqual({ types: [1], error: NDP_OPTIONS_MALFORMED });
    expect(options(hex("0101 020000000001"), 0, 100)).toEqual({ types: [1], error: NDP_OPTIONS_OK });
    expect(options(hex("0101 020000000001"), 0, -3)).toEqual({ types: [], error: NDP_OPTIONS_OK });
    const it = new NdpOptionIterator().reset(hex("0101 0200 0000 0001"), 0, 8);
    it.next();
    expect(it.linkAddress(8)).toBeUndefined();
  });

  test("link-layer address options pad to 8 octets", () => {
    const b = new Uint8Array(16).fill(0xee);
    expect(encodeNdpLinkAddressOption(b, 0, 2, new LinkAddress(hex("0102030405060708")))).toBe(16);
    expect(b).toEqual(hex("0202 0102030405060708 000000000000"));
  });

  test("random bytes never throw (messages and options)", () => {
    const it = new NdpOptionIterator();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 120 }), (b, off) => {
        const len = b.length - off;
        const ns = new NdpNeighborSolicit(b, off);
        if (ns.isValid(len)) ns.targetAddress();
        const na = new NdpNeighborAdvert(b, off);
        if (na.isValid(len)) expect(typeof (na.router || na.solicited || na.override)).toBe("boolean");
        const ra = new NdpRouterAdvert(b, off);
        if (ra.isValid(len))
          expect([ra.routerLifetime, ra.reachableTime, ra.retransTimer].every(Number.isInteger)).toBe(true);
        const h = new Icmpv6Header(b, off);
        if (h.isValid(len))
          expect([h.type, h.code, h.checksum, h.mtu, h.pointer].every(Number.isInteger)).toBe(true);
        it.reset(b, off, len);
        while (it.next()) {
          expect(it.optionOffset + it.length).toBeLessThanOrEqual(b.length);
          it.linkAddress();
          it.mtu();
          const p = it.prefixInformation();
          if (p.isValid(it.length)) p.prefix();
        }
      }),
    );
  });
});

describe("MldMessage", () => {
  test("reads an MLDv1 query's Maximum Response Delay and Multicast Address (RFC 2710 §3)", () => {
    const b = new Uint8Array(2 + MLD_SIZE);
    b.set([130, 0, 0, 0, 0x27, 0x10, 0, 0], 2);
    b.set(Address.parse("ff02::1:ff00:1").bytes, 2 + 8);
    const m = new MldMessage(b, 2);
    expect(m.isValid(MLD_SIZE)).toBe(true);
    expect(m.isValid(MLD_SIZE - 1)).toBe(false);
    expect(new MldMessage(b, 3).isValid(MLD_SIZE)).toBe(false);
    expect(m.maxResponseDelay).toBe(10_000);
    expect(m.multicastAddress().toString()).toBe("ff02::1:ff00:1");
  });
});

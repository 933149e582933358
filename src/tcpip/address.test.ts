import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "./address.ts";

const p = (s: string) => Address.parse(s);

describe("IPv4 text", () => {
  test("parses dotted quads and formats them back", () => {
    for (const s of ["0.0.0.0", "198.18.0.1", "255.255.255.255", "198.19.0.255"]) {
      const a = p(s);
      expect(a.is4).toBe(true);
      expect(a.length).toBe(4);
      expect(a.toString()).toBe(s);
      expect(a.toJSON()).toBe(s);
    }
    expect(Array.from(p("198.18.0.1").bytes)).toEqual([198, 18, 0, 1]);
  });

  test("rejects anything but four decimal octets without leading zeros", () => {
    for (const s of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.256",
      "01.2.3.4",
      "1.2.3.04",
      "1..3.4",
      "1.2.3.",
      "+1.2.3.4",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4 ",
      "a.b.c.d",
      "0x1.2.3.4",
      "1.2.3.1e1",
      "1234.1.1.1",
    ]) {
      expect(Address.tryParse(s)).toBeUndefined();
    }
  });

  test("parse names the input when it fails", () => {
    expect(() => p("1.2.3")).toThrow(RangeError);
    expect(() => p("1.2.3")).toThrow('Cannot parse address "1.2.3"');
  });

  test("v4, fromV4Number and v4Number agree, including the high bit", () => {
    expect(Address.v4(198, 18, 0, 1).equals(p("198.18.0.1"))).toBe(true);
    expect(Address.fromV4Number(0xc6120001).toString()).toBe("198.18.0.1");
    expect(p("255.255.255.255").v4Number).toBe(0xffffffff);
    expect(p("128.0.0.0").v4Number).toBe(0x80000000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(Address.fromV4Number(n).v4Number).toBe(n);
      }),
    );
  });
});

describe("IPv6 text (RFC 4291 §2.2, RFC 5952 §4)", () => {
  const canonical: [string, string][] = [
    // §4.1: leading zeros dropped.
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8::0001", "2001:db8::1"],
    // §4.2.1: "::" shortens as much as possible.
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    // §4.2.2: one 16-bit zero field is not shortened.
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    // §4.2.3: the longest run is shortened; on a tie, the first.
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    // §4.3: lower case.
    ["2001:DB8::ABCD:EF", "2001:db8::abcd:ef"],
    // Runs at either end, all zeros, loopback.
    ["::", "::"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["fe80::1", "fe80::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    // §5: IPv4-mapped addresses keep the dotted tail.
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::FFFF:c000:0201", "::ffff:192.0.2.1"],
    ["0:0:0:0:0:ffff:198.18.0.1", "::ffff:198.18.0.1"],
    // Embedded IPv4 that is not mapped is written in hex.
    ["::192.0.2.1", "::c000:201"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ];
  test.each(canonical)("%s formats as %s", (text, want) => {
    const a = p(text);
    expect(a.is6).toBe(true);
    expect(a.length).toBe(16);
    expect(a.toString()).toBe(want);
    expect(p(want).equals(a)).toBe(true);
  });

  test("rejects malformed text", () => {
    for (const s of [
      ":",
      ":::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::",
      "1::2::3",
      "::1:",
      ":1::",
      "1:",
      ":1",
      "1.2.3.4::",
      "1.2.3.4::1",
      "::1.2.3.4:5",
      "::256.1.1.1",
      "::1.2.3",
      "::01.2.3.4",
      "1:2:3:4:5:6:7:1.2.3.4",
      "fe80::1%eth0",
      " ::1",
      "::1 ",
      "0000:0000:0000:0000:0000:0000:0000:0000:0000",
    ]) {
      expect(Address.tryParse(s)).toBeUndefined();
    }
  });

  test("any 16 bytes survive format then parse (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const a = Address.fromBytes(b);
        const text = a.toString();
        expect(text).toBe(text.toLowerCase());
        expect(text.includes(":::")).toBe(false);
        expect(Array.from(p(text).bytes)).toEqual(Array.from(b));
      }),
    );
  });

  test("zero-heavy addresses survive format then parse", () => {
    const word = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (w) => {
        const b = new Uint8Array(16);
        w.forEach((x, i) => {
          b[2 * i] = x >> 8;
          b[2 * i + 1] = x & 0xff;
        });
        const text = Address.fromBytes(b).toString();
        expect((text.match(/::/g) ?? []).length).toBeLessThanOrEqual(1);
        expect(Array.from(p(text).bytes)).toEqual(Array.from(b));
      }),
    );
  });

  test("random text never throws from tryParse", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (s) => {
        const a = Address.tryParse(s);
        if (a) expect(p(a.toString()).equals(a)).toBe(true);
      }),
    );
  });
});

describe("bytes and keys", () => {
  test("fromBytes copies 4 or 16 bytes at an offset", () => {
    const buf = Uint8Array.of(9, 198, 18, 0, 1, 9);
    const a = Address.fromBytes(buf, 1, 4);
    expect(a.toString()).toBe("198.18.0.1");
    buf[1] = 0;
    expect(a.toString()).toBe("198.18.0.1");
    expect(Address.fromBytes(new Uint8Array(16)).equals(Address.ANY_V6)).toBe(true);
  });

  test("fromBytes refuses other lengths and out-of-range slices", () => {
    expect(() => Address.fromBytes(new Uint8Array(5))).toThrow(RangeError);
    expect(() => Address.fromBytes(new Uint8Array(5))).toThrow("want 4 or 16");
    expect(() => Address.fromBytes(new Uint8Array(6), 4, 4)).toThrow("out of range");
    expect(() => Address.fromBytes(new Uint8Array(6), -1, 4)).toThrow("out of range");
  });

  test("equal addresses have equal keys, so a Map finds them", () => {
    const m = new Map<string, number>();
    m.set(p("198.18.0.1").key, 1);
    m.set(p("fd00::1").key, 2);
    expect(m.get(Address.v4(198, 18, 0, 1).key)).toBe(1);
    expect(m.get(p("fd00:0::0:1").key)).toBe(2);
    expect(p("198.18.0.1").key).not.toBe(p("::ffff:198.18.0.1").key);
    expect(Address.fromKey(p("fd00::1").key).equals(p("fd00::1"))).toBe(true);
    expect(Address.fromKey(p("198.18.0.1").key).toString()).toBe("198.18.0.1");
  });
});

describe("kinds of address", () => {
  test("unspecified", () => {
    expect(p("0.0.0.0").isUnspecified).toBe(true);
    expect(p("::").isUnspecified).toBe(true);
    expect(p("0.0.0.1").isUnspecified).toBe(false);
    expect(p("::1").isUnspecified).toBe(false);
  });

  test("loopback", () => {
    expect(p("127.0.0.1").isLoopback).toBe(true);
    expect(p("127.255.0.9").isLoopback).toBe(true);
    expect(p("128.0.0.1").isLoopback).toBe(false);
    expect(p("::1").isLoopback).toBe(true);
    expect(p("::2").isLoopback).toBe(false);
    expect(p("1::1").isLoopback).toBe(false);
    expect(Address.LOOPBACK_V4.toString()).toBe("127.0.0.1");
    expect(Address.LOOPBACK_V6.toString()).toBe("::1");
  });

  test("multicast and broadcast", () => {
    expect(p("224.0.0.1").isMulticast).toBe(true);
    expect(p("239.255.255.255").isMulticast).toBe(true);
    expect(p("240.0.0.1").isMulticast).toBe(false);
    expect(p("ff02::1").isMulticast).toBe(true);
    expect(p("fe02::1").isMulticast).toBe(false);
    expect(p("255.255.255.255").isBroadcast).toBe(true);
    expect(Address.BROADCAST_V4.isBroadcast).toBe(true);
    expect(p("198.18.255.255").isBroadcast).toBe(false);
    expect(p("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").isBroadcast).toBe(false);
  });

  test("link-local unicast (RFC 3927, fe80::/10)", () => {
    expect(p("169.254.1.1").isLinkLocalUnicast).toBe(true);
    expect(p("169.253.1.1").isLinkLocalUnicast).toBe(false);
    expect(p("fe80::1").isLinkLocalUnicast).toBe(true);
    expect(p("febf::1").isLinkLocalUnicast).toBe(true);
    expect(p("fec0::1").isLinkLocalUnicast).toBe(false);
    expect(p("fd00::1").isLinkLocalUnicast).toBe(false);
  });

  test("link-local multicast (224.0.0.0/24, scope 2)", () => {
    expect(p("224.0.0.251").isLinkLocalMulticast).toBe(true);
    expect(p("224.0.1.1").isLinkLocalMulticast).toBe(false);
    expect(p("ff02::fb").isLinkLocalMulticast).toBe(true);
    expect(p("ff12::1").isLinkLocalMulticast).toBe(true);
    expect(p("ff05::2").isLinkLocalMulticast).toBe(false);
    expect(p("fe02::1").isLinkLocalMulticast).toBe(false);
    expect(Address.ALL_NODES_V6.toString()).toBe("ff02::1");
    expect(Address.ALL_ROUTERS_V6.toString()).toBe("ff02::2");
    expect(Address.ALL_NODES_V6.isLinkLocalMulticast).toBe(true);
  });

  test("IPv4-mapped (RFC 4291 §2.5.5.2), to4 and toV4Mapped", () => {
    const v4 = p("198.18.0.1");
    const mapped = p("::ffff:198.18.0.1");
    expect(mapped.isV4Mapped).toBe(true);
    expect(v4.isV4Mapped).toBe(false);
    expect(p("::fffe:198.18.0.1").isV4Mapped).toBe(false);
    expect(p("1::ffff:198.18.0.1").isV4Mapped).toBe(false);
    expect(mapped.to4()?.equals(v4)).toBe(true);
    expect(v4.to4()).toBe(v4);
    expect(p("fd00::1").to4()).toBeUndefined();
    expect(p("::198.18.0.1").to4()).toBeUndefined();
    expect(v4.toV4Mapped().equals(mapped)).toBe(true);
    expect(mapped.toV4Mapped()).toBe(mapped);
    expect(Address.ANY_V4.toV4Mapped().toString()).toBe("::ffff:0.0.0.0");
  });
});

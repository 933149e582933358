import { describe, expect, test } from "bun:test";
import { Address } from "./address.ts";
import { AddressMask, isDirectedBroadcastV4, parseAddressWithPrefix, Subnet, SubnetError } from "./subnet.ts";

const p = (s: string) => Address.parse(s);

describe("AddressMask", () => {
  test("fromPrefix sets the leading bits", () => {
    expect(AddressMask.fromPrefix(24, 4).toString()).toBe("ffffff00");
    expect(AddressMask.fromPrefix(15, 4).toString()).toBe("fffe0000");
    expect(AddressMask.fromPrefix(0, 4).toString()).toBe("00000000");
    expect(AddressMask.fromPrefix(32, 4).toString()).toBe("ffffffff");
    expect(AddressMask.fromPrefix(8, 16).toString()).toBe(`ff${"00".repeat(15)}`);
    expect(AddressMask.fromPrefix(128, 16).length).toBe(16);
  });

  test("prefix counts leading ones for every length", () => {
    for (let bits = 0; bits <= 32; bits++) expect(AddressMask.fromPrefix(bits, 4).prefix).toBe(bits);
    for (let bits = 0; bits <= 128; bits++) expect(AddressMask.fromPrefix(bits, 16).prefix).toBe(bits);
    // A non-contiguous mask: the prefix stops at the first zero bit.
    expect(new AddressMask(Uint8Array.of(0xff, 0x00, 0xff, 0x00)).prefix).toBe(8);
  });

  test("refuses impossible prefix lengths", () => {
    for (const bits of [-1, 33, 1.5, Number.NaN]) {
      expect(() => AddressMask.fromPrefix(bits, 4)).toThrow(RangeError);
    }
    expect(() => AddressMask.fromPrefix(129, 16)).toThrow("Cannot make a /129 mask for 128-bit addresses");
  });
});

describe("Subnet", () => {
  test("new checks the lengths and that the address has no host bits (the seed's NewSubnet)", () => {
    const s = Subnet.new(p("198.18.0.0"), AddressMask.fromPrefix(15, 4));
    expect(s.toString()).toBe("198.18.0.0/15");
    expect(s.id.toString()).toBe("198.18.0.0");
    expect(() => Subnet.new(p("198.18.0.0"), AddressMask.fromPrefix(64, 16))).toThrow(SubnetError);
    expect(() => Subnet.new(p("198.18.0.0"), AddressMask.fromPrefix(64, 16))).toThrow(
      "subnet length of address and mask differ",
    );
    expect(() => Subnet.new(p("198.18.0.1"), AddressMask.fromPrefix(24, 4))).toThrow(
      "subnet address has bits set outside the mask",
    );
  });

  test("fromPrefix and parse clear host bits", () => {
    expect(Subnet.fromPrefix(p("198.19.3.4"), 15).toString()).toBe("198.18.0.0/15");
    expect(Subnet.parse("198.19.3.4/15").id.toString()).toBe("198.18.0.0");
    expect(Subnet.parse("fd00:1:2::5/8").toString()).toBe("fd00::/8");
    expect(Subnet.parse("0.0.0.0/0").toJSON()).toBe("0.0.0.0/0");
    expect(() => Subnet.fromPrefix(p("1.2.3.4"), 40)).toThrow(RangeError);
  });

  test("parse refuses malformed text", () => {
    for (const s of [
      "198.18.0.0",
      "198.18.0.0/",
      "198.18.0.0/x",
      "198.18.0.0/33",
      "fd00::/129",
      "x/8",
      "/8",
    ]) {
      expect(() => Subnet.parse(s)).toThrow(SubnetError);
    }
    expect(() => Subnet.parse("198.18.0.0")).toThrow("missing /prefix");
    expect(() => Subnet.parse("198.18.0.0/33")).toThrow("prefix too long");
  });

  test("contains matches the masked address and refuses the other family", () => {
    const s = Subnet.parse("198.18.0.0/15");
    expect(s.contains(p("198.18.0.1"))).toBe(true);
    expect(s.contains(p("198.19.255.255"))).toBe(true);
    expect(s.contains(p("198.20.0.0"))).toBe(false);
    expect(s.contains(p("198.17.255.255"))).toBe(false);
    expect(s.contains(p("::ffff:198.18.0.1"))).toBe(false);
    const v6 = Subnet.parse("fd00::/8");
    expect(v6.contains(p("fd12::1"))).toBe(true);
    expect(v6.contains(p("fe80::1"))).toBe(false);
    expect(Subnet.parse("0.0.0.0/0").contains(p("1.2.3.4"))).toBe(true);
    expect(Subnet.parse("0.0.0.0/0").contains(p("::1"))).toBe(false);
  });

  test("bits, prefix and broadcast", () => {
    const s = Subnet.parse("198.18.0.0/15");
    expect(s.bits()).toEqual({ ones: 15, zeros: 17 });
    expect(s.prefix).toBe(15);
    expect(s.broadcast().toString()).toBe("198.19.255.255");
    expect(Subnet.parse("fd00::/8").bits()).toEqual({ ones: 8, zeros: 120 });
    expect(Subnet.parse("198.18.0.7/32").broadcast().toString()).toBe("198.18.0.7");
  });

  test("equals compares id and mask", () => {
    expect(Subnet.parse("198.18.0.0/15").equals(Subnet.parse("198.19.0.0/15"))).toBe(true);
    expect(Subnet.parse("198.18.0.0/15").equals(Subnet.parse("198.18.0.0/16"))).toBe(false);
    expect(Subnet.parse("198.18.0.0/16").equals(Subnet.parse("198.19.0.0/16"))).toBe(false);
  });
});

describe("parseAddressWithPrefix", () => {
  test("keeps host bits and defaults to a host prefix", () => {
    const a = parseAddressWithPrefix("198.18.0.3/24");
    expect(a.address.toString()).toBe("198.18.0.3");
    expect(a.prefixLen).toBe(24);
    expect(parseAddressWithPrefix("198.18.0.3").prefixLen).toBe(32);
    expect(parseAddressWithPrefix("fd00::2").prefixLen).toBe(128);
    expect(parseAddressWithPrefix("fd00::2/64").prefixLen).toBe(64);
  });

  test("refuses bad addresses and prefixes", () => {
    expect(() => parseAddressWithPrefix("198.18.0")).toThrow('Cannot parse address "198.18.0"');
    for (const s of ["198.18.0.3/", "198.18.0.3/33", "198.18.0.3/x", "fd00::/129", "198.18.0.3/-1"]) {
      expect(() => parseAddressWithPrefix(s)).toThrow(SubnetError);
    }
    expect(() => parseAddressWithPrefix("198.18.0.3/33")).toThrow("bad prefix length");
  });
});

describe("isDirectedBroadcastV4 (RFC 919, RFC 922, RFC 1122 §3.3.6)", () => {
  const on = [parseAddressWithPrefix("198.18.4.7/22"), parseAddressWithPrefix("fd00::1/64")];
  const is = (dst: string, form: "receive" | "send", addrs = on) =>
    isDirectedBroadcastV4(p(dst).v4Number, addrs, form);

  test("the all-ones host part is a broadcast in both forms", () => {
    expect(is("198.18.7.255", "receive")).toBe(true);
    expect(is("198.18.7.255", "send")).toBe(true);
  });

  test("the obsolete all-zeros host part is accepted on receive, never used to send", () => {
    expect(is("198.18.4.0", "receive")).toBe(true);
    expect(is("198.18.4.0", "send")).toBe(false);
  });

  test("other hosts, other subnets and the limited broadcast are not directed broadcasts", () => {
    for (const form of ["receive", "send"] as const) {
      expect(is("198.18.4.255", form)).toBe(false); // inside the /22, not its last address
      expect(is("198.18.5.0", form)).toBe(false);
      expect(is("198.18.4.7", form)).toBe(false);
      expect(is("198.18.11.255", form)).toBe(false);
      expect(is("198.19.255.255", form)).toBe(false);
      expect(is("255.255.255.255", form)).toBe(false);
      expect(is("0.0.0.0", form)).toBe(false);
    }
  });

  test("/31 and /32 have no broadcast address (RFC 3021)", () => {
    for (const form of ["receive", "send"] as const) {
      expect(is("198.18.0.1", form, [parseAddressWithPrefix("198.18.0.0/31")])).toBe(false);
      expect(is("198.18.0.0", form, [parseAddressWithPrefix("198.18.0.0/31")])).toBe(false);
      expect(is("198.18.0.9", form, [parseAddressWithPrefix("198.18.0.9/32")])).toBe(false);
    }
    expect(is("198.18.0.3", "send", [parseAddressWithPrefix("198.18.0.1/30")])).toBe(true);
  });

  test("any of several addresses may own the subnet; none means no broadcast", () => {
    const two = [parseAddressWithPrefix("198.18.0.1/24"), parseAddressWithPrefix("198.18.9.1/25")];
    expect(is("198.18.0.255", "send", two)).toBe(true);
    expect(is("198.18.9.127", "send", two)).toBe(true);
    expect(is("198.18.9.128", "receive", two)).toBe(false);
    expect(is("198.18.0.255", "receive", [])).toBe(false);
  });
});

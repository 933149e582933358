import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "./address.ts";
import {
  ethernetMulticastV4,
  ethernetMulticastV6,
  LinkAddress,
  MacAddressError,
  parseMACAddress,
} from "./link-address.ts";

describe("parseMACAddress", () => {
  test("accepts colons or dashes, either case", () => {
    expect(parseMACAddress("aa:bb:cc:dd:ee:ff").toString()).toBe("aa:bb:cc:dd:ee:ff");
    expect(parseMACAddress("AA-BB-CC-DD-EE-0F").toString()).toBe("aa:bb:cc:dd:ee:0f");
    expect(Array.from(parseMACAddress("02:00:00:00:00:01").bytes)).toEqual([2, 0, 0, 0, 0, 1]);
  });

  test("rejects mixed separators, wrong lengths and non-hex", () => {
    for (const s of [
      "aa:bb-cc:dd:ee:ff",
      "aa-bb-cc-dd-ee:ff",
      "aa:bb:cc:dd:ee",
      "aa:bb:cc:dd:ee:ff:00",
      "aa:bb:cc:dd:ee:f",
      "aa:bb:cc:dd:ee:fff",
      "gg:bb:cc:dd:ee:ff",
      "aabbccddeeff",
      "aa.bb.cc.dd.ee.ff",
      "",
      " aa:bb:cc:dd:ee:ff",
    ]) {
      expect(() => parseMACAddress(s)).toThrow(MacAddressError);
    }
    expect(() => parseMACAddress("aa:bb")).toThrow('Cannot parse MAC address "aa:bb"');
  });

  test("format then parse is the identity (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
        const a = new LinkAddress(b);
        expect(parseMACAddress(a.toString()).equals(a)).toBe(true);
        expect(parseMACAddress(a.toString().replaceAll(":", "-")).key).toBe(a.key);
      }),
    );
  });
});

describe("LinkAddress", () => {
  test("fromBytes copies six bytes at an offset", () => {
    const buf = Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7);
    const a = LinkAddress.fromBytes(buf, 1);
    buf[1] = 99;
    expect(a.toString()).toBe("01:02:03:04:05:06");
    expect(a.length).toBe(6);
    expect(a.toJSON()).toBe("01:02:03:04:05:06");
  });

  test("multicast is the group bit; broadcast is all ones", () => {
    expect(parseMACAddress("01:00:5e:00:00:01").isMulticast).toBe(true);
    expect(parseMACAddress("33:33:00:00:00:01").isMulticast).toBe(true);
    expect(parseMACAddress("02:00:00:00:00:01").isMulticast).toBe(false);
    expect(LinkAddress.BROADCAST.isBroadcast).toBe(true);
    expect(LinkAddress.BROADCAST.isMulticast).toBe(true);
    expect(parseMACAddress("ff:ff:ff:ff:ff:fe").isBroadcast).toBe(false);
    expect(LinkAddress.EMPTY.isMulticast).toBe(false);
    expect(LinkAddress.EMPTY.isBroadcast).toBe(false);
    expect(LinkAddress.EMPTY.toString()).toBe("");
  });

  test("equal addresses have equal keys", () => {
    expect(parseMACAddress("aa:bb:cc:dd:ee:ff").key).toBe(parseMACAddress("AA-BB-CC-DD-EE-FF").key);
    expect(parseMACAddress("aa:bb:cc:dd:ee:ff").equals(parseMACAddress("aa:bb:cc:dd:ee:fe"))).toBe(false);
  });

  test("multicast MACs: RFC 7042 §2.1 for IPv4, RFC 2464 §7 for IPv6", () => {
    // The high bit of the second octet is dropped: 224.129.2.3 and 224.1.2.3 share a MAC.
    expect(ethernetMulticastV4(Address.parse("224.129.2.3").bytes).toString()).toBe("01:00:5e:01:02:03");
    expect(ethernetMulticastV4(Address.parse("224.0.0.251").bytes).toString()).toBe("01:00:5e:00:00:fb");
    expect(ethernetMulticastV6(Address.parse("ff02::1:ff00:1234").bytes).toString()).toBe(
      "33:33:ff:00:12:34",
    );
    expect(ethernetMulticastV6(Address.ALL_NODES_V6.bytes).toString()).toBe("33:33:00:00:00:01");
  });
});

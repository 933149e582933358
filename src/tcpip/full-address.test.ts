import { describe, expect, test } from "bun:test";
import { Address } from "./address.ts";
import { formatFullAddress, fullAddress, routeMatch } from "./full-address.ts";
import { SockOpt } from "./options.ts";
import { ShutdownFlags } from "./protocols.ts";
import { Subnet } from "./subnet.ts";
import { payloadBytes, slicePayload } from "./write-options.ts";

describe("FullAddress", () => {
  test("formats IPv4, bracketed IPv6 and the wildcard", () => {
    expect(formatFullAddress({ addr: Address.parse("198.18.0.2"), port: 80 })).toBe("198.18.0.2:80");
    expect(formatFullAddress({ addr: Address.parse("fd00::2"), port: 443 })).toBe("[fd00::2]:443");
    expect(formatFullAddress({ port: 7 })).toBe("*:7");
  });

  test("fullAddress leaves out what is not given", () => {
    expect(fullAddress(undefined, 80)).toEqual({ port: 80 });
    const a = Address.parse("198.18.0.2");
    expect(fullAddress(a, 80, 2)).toEqual({ addr: a, port: 80, nic: 2 });
    expect("nic" in fullAddress(a, 80)).toBe(false);
  });
});

describe("Route", () => {
  test("routeMatch is subnet containment (the seed's Route.Match)", () => {
    const r = { destination: Subnet.parse("198.18.0.0/15"), nic: 1 };
    expect(routeMatch(r, Address.parse("198.19.1.1"))).toBe(true);
    expect(routeMatch(r, Address.parse("198.20.0.1"))).toBe(false);
    expect(routeMatch(r, Address.parse("fd00::1"))).toBe(false);
  });
});

describe("payloads", () => {
  test("a Uint8Array is its own payload, capped at n", () => {
    const b = Uint8Array.of(1, 2, 3, 4);
    expect(Array.from(payloadBytes(b))).toEqual([1, 2, 3, 4]);
    expect(Array.from(payloadBytes(b, 2))).toEqual([1, 2]);
    expect(payloadBytes(b, 2).buffer).toBe(b.buffer);
  });

  test("slicePayload hands out up to n bytes without copying", () => {
    const b = Uint8Array.of(1, 2, 3);
    const p = slicePayload(b);
    expect(p instanceof Uint8Array ? -1 : p.size).toBe(3);
    expect(Array.from(payloadBytes(p))).toEqual([1, 2, 3]);
    expect(Array.from(payloadBytes(p, 1))).toEqual([1]);
    expect(Array.from(payloadBytes(p, 10))).toEqual([1, 2, 3]);
  });
});

describe("constants", () => {
  test("socket option names are their own values; shutdown flags are bits", () => {
    for (const [k, v] of Object.entries(SockOpt)) expect(v as string).toBe(k);
    expect(ShutdownFlags.Read | ShutdownFlags.Write).toBe(3);
  });
});

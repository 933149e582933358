import { describe, expect, test } from "bun:test";
import { Address } from "../tcpip/address.ts";
import { selectSourceAddress } from "./source-address.ts";

const a = (text: string) => Address.parse(text);
const pick = (cands: { address: Address; prefixLen: number; deprecated?: boolean }[], dst: string) =>
  selectSourceAddress(cands, a(dst))?.toString();

describe("source address selection (RFC 6724 §5)", () => {
  test("rule 1: the destination itself; rule 2: a scope fit for the destination", () => {
    const ll = { address: a("fe80::1"), prefixLen: 64 };
    const ula = { address: a("fd00::1"), prefixLen: 64 };
    expect(pick([ll, ula], "fd00::1")).toBe("fd00::1");
    expect(pick([ll, ula], "fd00:9::9")).toBe("fd00::1");
    expect(pick([ula, ll], "fe80::9")).toBe("fe80::1");
  });

  test("rule 3: a deprecated address is avoided", () => {
    const old = { address: a("fd00::1"), prefixLen: 64, deprecated: true };
    const fresh = { address: a("fd00:1::1"), prefixLen: 64 };
    expect(pick([old, fresh], "fd00::9")).toBe("fd00:1::1");
  });

  test("rule 8: the longest matching prefix, counted only up to the source's prefix length (§2.2)", () => {
    const x = { address: a("fd00::2"), prefixLen: 64 };
    const y = { address: a("fd00::1:1"), prefixLen: 64 };
    const other = { address: a("fd00:1::1"), prefixLen: 64 };
    expect(pick([other, x], "fd00::1:5")).toBe("fd00::2");
    // x and y share the destination's /64; the interface identifier does not break the tie, so the
    // first stays ("up to the length of S's prefix (i.e., the portion of the address not including
    // the interface ID)").
    expect(pick([x, y], "fd00::1:5")).toBe("fd00::2");
    expect(pick([y, x], "fd00::1:5")).toBe("fd00::1:1");
  });

  test("IPv4: an address whose subnet holds the destination, else the first", () => {
    const one = { address: a("198.18.0.1"), prefixLen: 24 };
    const two = { address: a("198.19.0.1"), prefixLen: 16 };
    expect(pick([one, two], "198.19.5.5")).toBe("198.19.0.1");
    expect(pick([one, two], "198.18.0.9")).toBe("198.18.0.1");
    expect(pick([one, two], "198.20.0.1")).toBe("198.18.0.1");
  });
});

import { describe, expect, test } from "bun:test";
import { hex } from "../header/testing/fixtures.ts";
import { PCAP_LINKTYPE_ETHERNET, PcapFormatError, readPcap } from "./pcap.ts";

const LE_HEADER = "d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000";
const BE_HEADER = "a1b2c3d4 0002 0004 00000000 00000000 00040000 00000001";

describe("readPcap", () => {
  test("reads little-endian records", () => {
    const f = readPcap(
      hex(`${LE_HEADER} 00000000 00000000 02000000 02000000 abcd 00000000 00000000 01000000 09000000 ee`),
    );
    expect(f.linkType).toBe(PCAP_LINKTYPE_ETHERNET);
    expect(f.frames.map((x) => Array.from(x))).toEqual([[0xab, 0xcd], [0xee]]);
  });

  test("reads big-endian (and nanosecond) files", () => {
    const f = readPcap(hex(`${BE_HEADER} 00000000 00000000 00000001 00000001 7f`));
    expect(f.frames.map((x) => Array.from(x))).toEqual([[0x7f]]);
    const ns = readPcap(hex(`4d3cb2a1 0200 0400 00000000 00000000 00000400 65000000`));
    expect([ns.linkType, ns.frames.length]).toEqual([101, 0]);
  });

  test("rejects short files, bad magic and records past the end", () => {
    expect(() => readPcap(new Uint8Array(10))).toThrow(PcapFormatError);
    expect(() => readPcap(hex(`00112233 ${LE_HEADER.slice(9)}`))).toThrow(/bad magic/);
    expect(() => readPcap(hex(`${LE_HEADER} 00000000 00000000 05000000 05000000 ab`))).toThrow(
      /runs past the end/,
    );
  });
});

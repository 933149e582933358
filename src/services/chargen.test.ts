import { expect, test } from "bun:test";
import { CHARGEN_LINE, chargenChunk, chargenDatagram, chargenPeriod } from "./chargen.ts";

test("RFC 864 pattern: 72 printable characters per line, each line rotated by one, CR LF", () => {
  const p = new TextDecoder().decode(chargenPeriod());
  const lines = p.split("\r\n").slice(0, -1);
  expect(lines.length).toBe(95);
  expect(lines[0]).toBe(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg");
  expect(lines[1]).toBe("!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh");
  for (const l of lines) {
    expect(l.length).toBe(CHARGEN_LINE);
    for (const ch of l) expect(ch.charCodeAt(0) >= 32 && ch.charCodeAt(0) <= 126).toBe(true);
  }
  // The line after the last wraps around to the first: the pattern is periodic.
  expect(lines[94]!.charCodeAt(0)).toBe(126);
});

test("chunks repeat whole periods so consecutive writes continue the pattern", () => {
  const period = chargenPeriod();
  const c = chargenChunk(3);
  expect(c.length).toBe(period.length * 3);
  expect(c.subarray(period.length * 2)).toEqual(period);
  expect(new TextDecoder().decode(chargenDatagram(96)).startsWith('!"#')).toBe(true);
});

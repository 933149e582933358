/**
 * Test support: loads the packet captures in testdata/ (made by
 * scripts/capture-fixtures.sh from the Linux kernel). Under `testing/` so it
 * may read files; production code never imports it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PCAP_LINKTYPE_ETHERNET, readPcap } from "../../checker/pcap.ts";

const TESTDATA = join(import.meta.dir, "..", "..", "..", "testdata");

/** The Ethernet frames of `testdata/<name>.pcap`, each a fresh copy (tests may mutate them). */
export function loadFrames(name: string): Uint8Array<ArrayBuffer>[] {
  const file = readPcap(new Uint8Array(readFileSync(join(TESTDATA, `${name}.pcap`))));
  if (file.linkType !== PCAP_LINKTYPE_ETHERNET)
    throw new Error(`${name}.pcap: link type ${file.linkType}, want Ethernet`);
  return file.frames.map((f) => f.slice());
}

/** Frame `i` of `testdata/<name>.pcap`; throws when it is missing. */
export function loadFrame(name: string, i: number): Uint8Array<ArrayBuffer> {
  const f = loadFrames(name)[i];
  if (!f) throw new Error(`${name}.pcap has no frame ${i}`);
  return f;
}

/** Bytes from a hex string (whitespace ignored). */
export function hex(s: string): Uint8Array<ArrayBuffer> {
  const t = s.replace(/\s+/g, "");
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The first frame of `testdata/<name>.pcap` for which `pred` holds; throws when none does. */
export function findFrame(
  name: string,
  pred: (f: Uint8Array<ArrayBuffer>) => boolean,
): Uint8Array<ArrayBuffer> {
  const f = loadFrames(name).find(pred);
  if (!f) throw new Error(`${name}.pcap has no matching frame`);
  return f;
}

/** ICMPv6 type of an untagged Ethernet frame carrying IPv6 with no extension headers, or -1. */
export function icmpv6TypeOf(f: Uint8Array): number {
  return f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 ? f[54]! : -1;
}

/**
 * Every packet the kernel gave us, decoded end to end; then the same corpus
 * truncated at every length and mutated at random (a fuzz corpus of real
 * packets): views gated by `isValid` must never read out of range or throw.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { ArpHeader } from "./arp.ts";
import { checksum, pseudoHeaderChecksum } from "./checksum.ts";
import {
  ETHERNET_HEADER_SIZE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  EthernetHeader,
} from "./ethernet.ts";
import { Icmpv4Header } from "./icmpv4.ts";
import {
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  Icmpv6Header,
  NdpNeighborAdvert,
  NdpNeighborSolicit,
  NdpOptionIterator,
  NdpRouterAdvert,
  NdpRouterSolicit,
} from "./icmpv6.ts";
import { Ipv4Header, Ipv4OptionIterator } from "./ipv4.ts";
import { Ipv6Header } from "./ipv6.ts";
import {
  IPV6_DESTINATION_OPTIONS,
  IPV6_FRAGMENT,
  IPV6_HOP_BY_HOP,
  Ipv6ExtensionIterator,
  Ipv6FragmentHeader,
  Ipv6OptionIterator,
} from "./ipv6-extension.ts";
import { newTcpOptions, parseTcpOptions, TcpHeader } from "./tcp.ts";
import { loadFrames } from "./testing/fixtures.ts";
import { UdpHeader } from "./udp.ts";

const TESTDATA = join(import.meta.dir, "..", "..", "testdata");
const NAMES = readdirSync(TESTDATA)
  .filter((n) => n.endsWith(".pcap"))
  .map((n) => n.slice(0, -5))
  .sort();
const CORPUS = NAMES.flatMap((name) => loadFrames(name).map((frame, i) => ({ name, i, frame })));

/** What a full decode found; `checksumsOk` only counts layers whose checksum covers all their bytes here. */
interface Decoded {
  layers: string[];
  checksumsOk: boolean;
}

const tcpOpts = newTcpOptions();
const ipv4Opts = new Ipv4OptionIterator();
const extIt = new Ipv6ExtensionIterator();
const optIt = new Ipv6OptionIterator();
const ndpIt = new NdpOptionIterator();

/** Decodes a frame through every view, touching every accessor, as a stack would. Never throws. */
function decode(b: Uint8Array): Decoded {
  const layers: string[] = [];
  let ok = true;
  const eth = new EthernetHeader(b, 0);
  if (!eth.isValid(b.length)) return { layers, checksumsOk: ok };
  eth.srcAddress();
  eth.dstAddress();
  layers.push("ethernet");
  const off = ETHERNET_HEADER_SIZE;
  const rest = b.length - off;
  if (eth.type === ETHERTYPE_ARP) {
    const a = new ArpHeader(b, off);
    if (a.isValid(rest)) {
      layers.push("arp");
      a.senderHardwareAddress();
      a.senderProtocolAddress();
      a.targetHardwareAddress();
      a.targetProtocolAddress();
    }
  } else if (eth.type === ETHERTYPE_IPV4) {
    const ip = new Ipv4Header(b, off);
    if (!ip.isValid(rest)) return { layers, checksumsOk: ok };
    layers.push("ipv4");
    ok &&= ip.isChecksumValid();
    ip.srcAddress();
    ip.dstAddress();
    ipv4Opts.reset(b, ip.optionsOffset, ip.optionsLength);
    while (ipv4Opts.next())
      expect(ipv4Opts.optionOffset + ipv4Opts.length).toBeLessThanOrEqual(off + ip.headerLength);
    if (ip.fragmentOffset !== 0) return { layers: [...layers, "fragment"], checksumsOk: ok };
    const whole = !ip.moreFragments;
    const t = off + ip.headerLength;
    const pseudo = pseudoHeaderChecksum(ip.protocol, ip.srcAddress(), ip.dstAddress(), ip.payloadLength);
    ok &&= transport(b, ip.protocol, t, ip.payloadLength, pseudo, whole, layers, 4);
  } else if (eth.type === ETHERTYPE_IPV6) {
    const ip = new Ipv6Header(b, off);
    if (!ip.isValid(rest)) return { layers, checksumsOk: ok };
    layers.push("ipv6");
    ip.srcAddress();
    ip.dstAddress();
    extIt.reset(b, ip.payloadOffset, ip.payloadLength, ip.nextHeader);
    let whole = true;
    while (extIt.next()) {
      layers.push(`ext${extIt.type}`);
      if (extIt.type === IPV6_HOP_BY_HOP || extIt.type === IPV6_DESTINATION_OPTIONS) {
        optIt.reset(b, extIt.headerOffset, extIt.headerLength);
        while (optIt.next()) expect(optIt.dataOffset + optIt.dataLength).toBeLessThanOrEqual(b.length);
      }
      if (extIt.type === IPV6_FRAGMENT) {
        const fh = new Ipv6FragmentHeader(b, extIt.headerOffset);
        if (fh.isValid(extIt.headerLength) && (fh.more || fh.fragmentOffset !== 0)) whole = false;
      }
    }
    if (extIt.error !== 0 || extIt.nonFirstFragment) return { layers, checksumsOk: ok };
    const t = extIt.upperOffset;
    const len = off + 40 + ip.payloadLength - t;
    const pseudo = pseudoHeaderChecksum(extIt.upperLayer, ip.srcAddress(), ip.dstAddress(), len);
    ok &&= transport(b, extIt.upperLayer, t, len, pseudo, whole, layers, 6);
  }
  return { layers, checksumsOk: ok };
}

function transport(
  b: Uint8Array,
  proto: number,
  t: number,
  len: number,
  pseudo: number,
  whole: boolean,
  layers: string[],
  version: number,
): boolean {
  const verify = () => !whole || checksum(b, t, len, pseudo) === 0xffff;
  if (proto === 6) {
    const h = new TcpHeader(b, t);
    if (!h.isValid(len)) return true;
    layers.push("tcp");
    parseTcpOptions(b, h.optionsOffset, h.optionsLength, tcpOpts);
    expect(h.payloadOffset).toBeLessThanOrEqual(t + len);
    return verify();
  }
  if (proto === 17) {
    const h = new UdpHeader(b, t);
    if (!h.isValid(len)) return true;
    layers.push("udp");
    return h.checksum === 0 && version === 4 ? true : verify();
  }
  if (proto === 1) {
    const h = new Icmpv4Header(b, t);
    if (!h.isValid(len)) return true;
    layers.push(`icmpv4:${h.type}`);
    return !whole || h.isChecksumValid(len);
  }
  if (proto === 58) {
    const h = new Icmpv6Header(b, t);
    if (!h.isValid(len)) return true;
    layers.push(`icmpv6:${h.type}`);
    let opts = -1;
    if (h.type === ICMPV6_NEIGHBOR_SOLICIT) {
      const v = new NdpNeighborSolicit(b, t);
      if (v.isValid(len)) {
        v.targetAddress();
        opts = v.optionsOffset;
      }
    } else if (h.type === ICMPV6_NEIGHBOR_ADVERT) {
      const v = new NdpNeighborAdvert(b, t);
      if (v.isValid(len)) {
        v.targetAddress();
        opts = v.optionsOffset;
      }
    } else if (h.type === ICMPV6_ROUTER_SOLICIT) {
      const v = new NdpRouterSolicit(b, t);
      if (v.isValid(len)) opts = v.optionsOffset;
    } else if (h.type === ICMPV6_ROUTER_ADVERT) {
      const v = new NdpRouterAdvert(b, t);
      if (v.isValid(len)) opts = v.optionsOffset;
    }
    if (opts >= 0) {
      ndpIt.reset(b, opts, t + len - opts);
      while (ndpIt.next()) {
        ndpIt.linkAddress();
        const p = ndpIt.prefixInformation();
        if (p.isValid(ndpIt.length)) p.prefix();
      }
    }
    return verify();
  }
  return true;
}

describe("capture corpus", () => {
  test("holds every scenario the capture script records", () => {
    expect(NAMES).toEqual(
      expect.arrayContaining([
        "arp",
        "ipv4-frag",
        "ipv4-options",
        "ipv6-frag",
        "ipv6-mld",
        "ipv6-rs",
        "tcp4",
        "tcp6",
        "udp4",
        "udp6",
      ]),
    );
    expect(CORPUS.length).toBeGreaterThan(40);
  });

  test("every captured packet decodes through every layer with valid checksums", () => {
    const seen = new Set<string>();
    for (const { name, i, frame } of CORPUS) {
      const d = decode(frame);
      for (const l of d.layers) seen.add(l);
      expect({ frame: `${name}#${i}`, checksumsOk: d.checksumsOk }).toEqual({
        frame: `${name}#${i}`,
        checksumsOk: true,
      });
      expect(d.layers.length).toBeGreaterThanOrEqual(2);
    }
    // The corpus exercises each decoder at least once.
    for (const l of [
      "arp",
      "ipv4",
      "ipv6",
      "tcp",
      "udp",
      "icmpv4:0",
      "icmpv4:8",
      "icmpv4:3",
      "fragment",
      "ext0",
      "ext44",
    ])
      expect(seen).toContain(l);
    for (const t of [1, 128, 129, 133, 135, 136, 143]) expect(seen).toContain(`icmpv6:${t}`);
  });

  test("every truncation of every captured packet is rejected at the IP layer or decodes without throwing", () => {
    for (const { frame } of CORPUS) {
      for (let cut = 0; cut < frame.length; cut++) {
        const b = frame.slice(0, cut);
        const d = decode(b);
        // A datagram cut short of its IP length never passes the IP gate.
        const eth = new EthernetHeader(frame, 0);
        if (eth.type === ETHERTYPE_IPV4 && cut < ETHERNET_HEADER_SIZE + new Ipv4Header(frame, 14).totalLength)
          expect(d.layers).not.toContain("ipv4");
        if (
          eth.type === ETHERTYPE_IPV6 &&
          cut < ETHERNET_HEADER_SIZE + 40 + new Ipv6Header(frame, 14).payloadLength
        )
          expect(d.layers).not.toContain("ipv6");
      }
    }
  });

  test("random mutations of captured packets never throw", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: CORPUS.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (which, edits, cut) => {
          const b = CORPUS[which]!.frame.slice();
          // Bias edits to the headers, where lengths and kinds live.
          for (const [pos, v] of edits) b[pos % Math.min(b.length, 96)] = v;
          const view = b.subarray(0, b.length - (cut % 8));
          decode(view);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

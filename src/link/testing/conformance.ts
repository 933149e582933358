/**
 * One conformance suite for every `LinkEndpoint` (as Hono runs one suite
 * against every adapter). A link's test file calls
 *
 *   runLinkConformance("channel", () => {
 *     const link = new ChannelEndpoint({ mtu: 1500 });
 *     return {
 *       link,
 *       inject: (protocol, bytes) => link.injectInbound(protocol, bytes),
 *       takeWritten: () => link.readAll().map(({ protocol, pkt }) => ({ protocol, bytes: pkt.bytes() })),
 *     };
 *   });
 *
 * The factory is called once per test and returns a `LinkHarness`: the
 * endpoint under test, fresh and detached, plus the two ends of its wire.
 *
 * - `inject(protocol, bytes)` puts one network-layer packet on the wire toward
 *   the link. The harness adds the wire's framing: an Ethernet harness wraps
 *   it in a frame to the link's own MAC with EtherType `protocol`; an IP-mode
 *   fd harness just writes the bytes (the suite only injects real IPv4/IPv6
 *   packets, so a link that reads the version nibble finds the same protocol).
 *   For a loopback link, whose wire is itself, it writes through the link.
 * - `takeWritten()` returns, and forgets, what the link put on the wire since
 *   the last call, as network-layer bytes (framing removed) with the protocol
 *   the wire carried. Leave it out for loopback links: their writes come back
 *   through the dispatcher, and the suite checks that instead.
 * - `injectRaw(bytes)` (optional) puts bytes on the wire exactly as given (a
 *   whole frame on Ethernet), for the garbage tests; without it the suite
 *   injects garbage through `inject`.
 * - `settle()` (optional) lets pending I/O progress, for links whose delivery
 *   is asynchronous (fd-based: one event-loop turn). The suite calls it
 *   until what it waits for has happened, at most `settleRounds` times; it
 *   never measures time.
 * - `close()` (optional) releases fds, namespaces and the like; it runs after
 *   every test, also on failure.
 *
 * What it checks: attach/detach and `isAttached`; sane `mtu`, `capabilities`,
 * `maxHeaderLength`, `linkAddress`; a write reaches the wire byte-exact; an
 * injected packet reaches the dispatcher byte-exact with the right protocol
 * (and, on Ethernet links, with its link addresses recorded); many packets
 * keep their order both ways; oversize writes and garbage on the wire neither
 * throw nor break the link; after detaching nothing is delivered.
 */
import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";

/** A packet as the wire carried it: network-layer bytes and their protocol (EtherType). */
export interface WirePacket {
  protocol: number;
  bytes: Uint8Array;
}

export interface LinkHarness {
  /** The endpoint under test, fresh and not attached. */
  readonly link: LinkEndpoint;
  inject(protocol: number, bytes: Uint8Array): void | Promise<void>;
  takeWritten?(): WirePacket[] | Promise<WirePacket[]>;
  injectRaw?(bytes: Uint8Array): void | Promise<void>;
  settle?(): Promise<void>;
  close?(): void | Promise<void>;
}

export type LinkHarnessFactory = () => LinkHarness | Promise<LinkHarness>;

export interface ConformanceOptions {
  /** Packets in the ordering tests (default 64). */
  many?: number;
  /** Most `settle()` calls while waiting for one expected event (default 200). */
  settleRounds?: number;
}

/** What the suite's dispatcher saw, copied at delivery time. */
interface Delivered {
  protocol: number;
  bytes: Uint8Array;
  linkHeader: number;
  head: number;
  linkSrc: LinkAddress | undefined;
  linkDst: LinkAddress | undefined;
}

class RecordingDispatcher implements NetworkDispatcher {
  readonly got: Delivered[] = [];
  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    this.got.push({
      protocol,
      bytes: pkt.bytes().slice(),
      linkHeader: pkt.linkHeader,
      head: pkt.head,
      linkSrc: pkt.linkSrc,
      linkDst: pkt.linkDst,
    });
  }
}

const PEER_V4 = [198, 18, 0, 1];
const LINK_V4 = [198, 18, 0, 2];

/**
 * A well-formed IPv4/UDP packet (RFC 791, RFC 768) from 198.18.0.1 to
 * 198.18.0.2, whose payload starts with `seq` (4 bytes) and is `payloadLength` long.
 */
export function ipv4Packet(seq: number, payloadLength = 32): Uint8Array {
  const len = 20 + 8 + Math.max(4, payloadLength);
  const b = new Uint8Array(len);
  b[0] = 0x45;
  b[2] = len >>> 8;
  b[3] = len & 0xff;
  b[4] = (seq >>> 8) & 0xff;
  b[5] = seq & 0xff;
  b[8] = 64;
  b[9] = 17;
  b.set(PEER_V4, 12);
  b.set(LINK_V4, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const x = ~sum & 0xffff;
  b[10] = x >>> 8;
  b[11] = x & 0xff;
  fillUdp(b, 20, len - 20, seq);
  return b;
}

/** A well-formed IPv6/UDP packet (RFC 8200) from fd00::1 to fd00::2; payload starts with `seq`. */
export function ipv6Packet(seq: number, payloadLength = 32): Uint8Array {
  const udpLen = 8 + Math.max(4, payloadLength);
  const b = new Uint8Array(40 + udpLen);
  b[0] = 0x60;
  b[4] = udpLen >>> 8;
  b[5] = udpLen & 0xff;
  b[6] = 17;
  b[7] = 64;
  b[8] = 0xfd;
  b[23] = 1;
  b[24] = 0xfd;
  b[39] = 2;
  fillUdp(b, 40, udpLen, seq);
  return b;
}

function fillUdp(b: Uint8Array, off: number, len: number, seq: number): void {
  b[off] = 0x30;
  b[off + 1] = 0x39; // 12345
  b[off + 2] = 0x00;
  b[off + 3] = 0x07; // echo
  b[off + 4] = len >>> 8;
  b[off + 5] = len & 0xff;
  b[off + 8] = (seq >>> 24) & 0xff;
  b[off + 9] = (seq >>> 16) & 0xff;
  b[off + 10] = (seq >>> 8) & 0xff;
  b[off + 11] = seq & 0xff;
  for (let i = off + 12; i < off + len; i++) b[i] = (i * 7 + seq) & 0xff;
}

/** The sequence number `ipv4Packet`/`ipv6Packet` put in a packet, or -1. */
export function packetSeq(bytes: Uint8Array): number {
  const v = (bytes[0] ?? 0) >>> 4;
  const at = v === 4 ? 28 : v === 6 ? 48 : -1;
  if (at < 0 || bytes.length < at + 4) return -1;
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function outbound(link: LinkEndpoint, protocol: number, bytes: Uint8Array): PacketBuffer {
  const pkt = PacketBuffer.withPayload(link.maxHeaderLength, bytes);
  pkt.networkProtocol = protocol;
  return pkt;
}

/** Registers the suite as `link conformance: <name>` (bun:test `describe`). */
export function runLinkConformance(
  name: string,
  factory: LinkHarnessFactory,
  opts: ConformanceOptions = {},
): void {
  const many = opts.many ?? 64;
  const rounds = opts.settleRounds ?? 200;

  async function withHarness(fn: (h: LinkHarness, d: RecordingDispatcher) => Promise<void>): Promise<void> {
    const h = await factory();
    const d = new RecordingDispatcher();
    try {
      await fn(h, d);
    } finally {
      h.link.attach(undefined);
      await h.close?.();
    }
  }

  async function waitUntil(h: LinkHarness, cond: () => boolean): Promise<void> {
    for (let i = 0; i < rounds && !cond(); i++) {
      if (!h.settle) return;
      await h.settle();
    }
  }

  /** Writes through the link and returns what reached the wire (or the dispatcher, for loopback). */
  async function writeAndObserve(
    h: LinkHarness,
    d: RecordingDispatcher,
    pkts: PacketBuffer[],
    expected: number,
  ): Promise<WirePacket[]> {
    if (!h.takeWritten) {
      const before = d.got.length;
      h.link.writePackets(pkts);
      await waitUntil(h, () => d.got.length - before >= expected);
      return d.got.slice(before).map((g) => ({ protocol: g.protocol, bytes: g.bytes }));
    }
    h.link.writePackets(pkts);
    const out: WirePacket[] = [];
    for (let i = 0; i <= rounds; i++) {
      for (const w of await h.takeWritten()) out.push({ protocol: w.protocol, bytes: w.bytes.slice() });
      if (out.length >= expected || !h.settle) break;
      await h.settle();
    }
    return out;
  }

  describe(`link conformance: ${name}`, () => {
    test("starts detached; attach and detach flip isAttached", async () => {
      await withHarness(async (h, d) => {
        expect(h.link.isAttached()).toBe(false);
        h.link.attach(d);
        expect(h.link.isAttached()).toBe(true);
        h.link.attach(undefined);
        expect(h.link.isAttached()).toBe(false);
        h.link.attach(d);
        expect(h.link.isAttached()).toBe(true);
      });
    });

    test("reports a sane mtu, capabilities, header length and link address", async () => {
      await withHarness(async (h) => {
        const l = h.link;
        expect(Number.isInteger(l.mtu)).toBe(true);
        // RFC 791 §3.2: every IPv4 link carries at least 68-byte datagrams.
        expect(l.mtu).toBeGreaterThanOrEqual(68);
        expect(Number.isInteger(l.capabilities)).toBe(true);
        expect(l.capabilities).toBeGreaterThanOrEqual(0);
        expect(Number.isInteger(l.maxHeaderLength)).toBe(true);
        expect(l.maxHeaderLength).toBeGreaterThanOrEqual(0);
        expect(l.linkAddress).toBeInstanceOf(LinkAddress);
        if (l.capabilities & LinkCapability.ResolutionRequired) {
          expect(l.linkAddress.length).toBe(6);
          expect(l.maxHeaderLength).toBeGreaterThanOrEqual(14);
        }
        if (l.gsoMaxSize !== undefined) expect(l.gsoMaxSize).toBeGreaterThanOrEqual(0);
        expect([l.mtu, l.capabilities, l.maxHeaderLength, l.linkAddress.key]).toEqual([
          h.link.mtu,
          h.link.capabilities,
          h.link.maxHeaderLength,
          h.link.linkAddress.key,
        ]);
      });
    });

    test("a written packet reaches the wire byte-exact, with its protocol", async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        const v4 = ipv4Packet(1, 100);
        const v6 = ipv6Packet(2, 200);
        const seen = await writeAndObserve(
          h,
          d,
          [outbound(h.link, IPV4_PROTOCOL_NUMBER, v4), outbound(h.link, IPV6_PROTOCOL_NUMBER, v6)],
          2,
        );
        expect(seen.length).toBe(2);
        expect(seen[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
        expect(seen[0]!.bytes).toEqual(v4);
        expect(seen[1]!.protocol).toBe(IPV6_PROTOCOL_NUMBER);
        expect(seen[1]!.bytes).toEqual(v6);
      });
    });

    test("writePackets returns how many packets it accepted", async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        expect(h.link.writePackets([])).toBe(0);
        const n = h.link.writePackets([
          outbound(h.link, IPV4_PROTOCOL_NUMBER, ipv4Packet(1)),
          outbound(h.link, IPV4_PROTOCOL_NUMBER, ipv4Packet(2)),
        ]);
        expect(n).toBe(2);
      });
    });

    test("an injected packet reaches the dispatcher byte-exact, with its protocol", async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        const v4 = ipv4Packet(7, 64);
        const v6 = ipv6Packet(8, 64);
        await h.inject(IPV4_PROTOCOL_NUMBER, v4);
        await h.inject(IPV6_PROTOCOL_NUMBER, v6);
        await waitUntil(h, () => d.got.length >= 2);
        expect(d.got.length).toBe(2);
        expect(d.got[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
        expect(d.got[0]!.bytes).toEqual(v4);
        expect(d.got[1]!.protocol).toBe(IPV6_PROTOCOL_NUMBER);
        expect(d.got[1]!.bytes).toEqual(v6);
        if (h.link.capabilities & LinkCapability.ResolutionRequired) {
          for (const g of d.got) {
            // The Ethernet header stays in the buffer, recorded, just before the network header.
            expect(g.linkHeader).toBe(g.head - 14);
            expect(g.linkSrc?.length).toBe(6);
            expect(g.linkDst?.key).toBe(h.link.linkAddress.key);
          }
        }
      });
    });

    test(`${many} injected packets arrive in order`, async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        for (let i = 0; i < many; i++) {
          await h.inject(
            i % 2 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
            i % 2 ? ipv6Packet(i) : ipv4Packet(i),
          );
        }
        await waitUntil(h, () => d.got.length >= many);
        expect(d.got.map((g) => packetSeq(g.bytes))).toEqual(Array.from({ length: many }, (_, i) => i));
      });
    });

    test(`${many} written packets leave in order`, async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        const seen: WirePacket[] = [];
        // Batches of 8, as the stack flushes: each batch is observed before the next so a
        // small queue on the far side of the wire is not the thing under test.
        for (let i = 0; i < many; i += 8) {
          const batch: PacketBuffer[] = [];
          for (let j = i; j < Math.min(many, i + 8); j++) {
            batch.push(outbound(h.link, IPV4_PROTOCOL_NUMBER, ipv4Packet(j)));
          }
          seen.push(...(await writeAndObserve(h, d, batch, batch.length)));
        }
        expect(seen.map((w) => packetSeq(w.bytes))).toEqual(Array.from({ length: many }, (_, i) => i));
      });
    });

    test("oversize writes and garbage on the wire neither throw nor break the link", async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        // Far past the MTU: dropped or sent, but reported as a count, not an exception.
        const huge = ipv4Packet(99, h.link.mtu + 1000);
        const n = h.link.writePackets([outbound(h.link, IPV4_PROTOCOL_NUMBER, huge)]);
        expect(n === 0 || n === 1).toBe(true);
        if (h.takeWritten) await h.takeWritten();
        const garbage = [
          new Uint8Array(0),
          Uint8Array.of(0x45),
          new Uint8Array(13).fill(0xff),
          Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff),
          ipv4Packet(5).subarray(0, 10),
        ];
        for (const g of garbage) {
          if (h.injectRaw) await h.injectRaw(g);
          else await h.inject(IPV4_PROTOCOL_NUMBER, g);
        }
        if (h.settle) for (let i = 0; i < 3; i++) await h.settle();
        const before = d.got.length;
        const ok = ipv4Packet(1234);
        await h.inject(IPV4_PROTOCOL_NUMBER, ok);
        await waitUntil(h, () => d.got.some((g, i) => i >= before && packetSeq(g.bytes) === 1234));
        expect(d.got.slice(before).some((g) => packetSeq(g.bytes) === 1234)).toBe(true);
        expect(d.got.at(-1)!.bytes).toEqual(ok);
      });
    });

    test("after detach nothing is delivered, and writes do not throw", async () => {
      await withHarness(async (h, d) => {
        h.link.attach(d);
        h.link.attach(undefined);
        await h.inject(IPV4_PROTOCOL_NUMBER, ipv4Packet(1));
        h.link.writePackets([outbound(h.link, IPV4_PROTOCOL_NUMBER, ipv4Packet(2))]);
        if (h.settle) for (let i = 0; i < 3; i++) await h.settle();
        expect(d.got.length).toBe(0);
        // Attached again, it delivers again.
        if (h.takeWritten) await h.takeWritten();
        h.link.attach(d);
        await h.inject(IPV4_PROTOCOL_NUMBER, ipv4Packet(3));
        await waitUntil(h, () => d.got.some((g) => packetSeq(g.bytes) === 3));
        expect(d.got.map((g) => packetSeq(g.bytes))).toContain(3);
      });
    });
  });
}

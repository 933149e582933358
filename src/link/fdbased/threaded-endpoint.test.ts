import { afterEach, describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { VIRTIO_NET_HDR_SIZE } from "../../header/virtio-net.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability } from "../link-endpoint.ts";
import {
  AF_UNIX,
  close,
  ERRNO,
  POLLIN,
  PollFds,
  poll,
  readFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socketpair,
  writeFd,
} from "../rawfile/index.ts";
import {
  expectBatchBytesLimited,
  expectSlabsReused,
  Recorder,
  SocketPairs,
  TCP4_GSO_VIRTIO,
  tcp4Gso,
  tcpSegment,
  vnet,
} from "./testing/fixtures.ts";
import { ThreadedFdEndpoint, type ThreadedFdEndpointOptions } from "./threaded-endpoint.ts";

const pairs = new SocketPairs<ThreadedFdEndpoint>();

/** An endpoint over one end of a SOCK_SEQPACKET pair; the test plays the TUN device on `peer`. */
function setup(opts: Omit<ThreadedFdEndpointOptions, "fd" | "mtu"> & { mtu?: number } = {}): {
  ep: ThreadedFdEndpoint;
  peer: number;
} {
  return pairs.open((fd) => new ThreadedFdEndpoint({ mtu: 1500, ...opts, fd, ownsFd: true }));
}

afterEach(() => pairs.closeAll());

/** An IPv4 (or IPv6) packet of `size` bytes whose payload encodes `seq`. */
function ipPacket(seq: number, size: number, version: 4 | 6 = 4): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = version === 4 ? 0x45 : 0x60;
  for (let i = 1; i < size; i++) b[i] = (seq * 7 + i) & 0xff;
  b[size - 1] = seq & 0xff;
  return b;
}

function outbound(bytes: Uint8Array, headroom = 16): PacketBuffer {
  const data = new Uint8Array(headroom + bytes.length);
  data.set(bytes, headroom);
  const pkt = new PacketBuffer(data, headroom, headroom + bytes.length);
  pkt.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return pkt;
}

/** Writes `pkts` into the peer end, waiting for room when its socket buffer is full. */
async function feed(peer: number, pkts: Uint8Array[]): Promise<void> {
  for (const p of pkts) {
    for (;;) {
      const n = writeFd(peer, p);
      if (n === p.length) break;
      expect(n).toBe(-ERRNO.EAGAIN);
      await Bun.sleep(1);
    }
  }
}

/** Reads `count` packets from the peer end (polling), in order. */
async function drainPeer(peer: number, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  const fds = new PollFds(1);
  const end = Date.now() + 10_000;
  while (out.length < count && Date.now() < end) {
    const n = readFd(peer, buf);
    if (n >= 0) {
      out.push(buf.slice(0, n));
      continue;
    }
    expect(n).toBe(-ERRNO.EAGAIN);
    fds.set(0, peer, POLLIN);
    poll(fds, 0);
    await Bun.sleep(1);
  }
  return out;
}

describe("ThreadedFdEndpoint inbound", () => {
  test("delivers every packet in order, byte-exact, with the protocol from the IP version", async () => {
    const { ep, peer } = setup();
    const rec = new Recorder();
    ep.attach(rec);
    const sent = [ipPacket(0, 20), ipPacket(1, 1500, 6), ipPacket(2, 41)];
    await feed(peer, sent);
    await rec.until(3);
    expect(rec.got.map((g) => g.protocol)).toEqual([
      IPV4_PROTOCOL_NUMBER,
      IPV6_PROTOCOL_NUMBER,
      IPV4_PROTOCOL_NUMBER,
    ]);
    expect(rec.got.map((g) => g.bytes)).toEqual(sent);
    expect(ep.stats.rxPackets).toBe(3);
    expect(ep.stats.rxBytes).toBe(20 + 1500 + 41);
    // Each packet is its own view of a receive slab, the slab its lease: a layer above may keep it
    // by holding the lease.
    expect(rec.got.every((g) => g.pkt.dataKeepable && g.pkt.data.length === g.bytes.length)).toBe(true);
    expect(rec.got.every((g) => g.pkt.lease !== undefined && g.pkt.lease === rec.got[0]!.pkt.lease)).toBe(
      true,
    );
  });

  test("more packets than the ring holds arrive in order: the reader waits for room", async () => {
    // 8 slots and batches of 3: the reader fills the ring many times over and must wait each time.
    const { ep, peer } = setup({ rxSlots: 8, batchSize: 3 });
    const rec = new Recorder();
    ep.attach(rec);
    const sent = Array.from({ length: 500 }, (_, i) => ipPacket(i, 60 + (i % 1400)));
    await feed(peer, sent);
    await rec.until(500);
    expect(rec.got.length).toBe(500);
    for (let i = 0; i < 500; i++) expect(rec.got[i]!.bytes).toEqual(sent[i]!);
    expect(ep.stats.rxBatchLimited).toBeGreaterThan(0);
    expect(rec.batches).toBeGreaterThanOrEqual(Math.ceil(500 / 3));
  });

  test("a delivered packet keeps its bytes after its ring slot is reused", async () => {
    const { ep, peer } = setup({ rxSlots: 2, batchSize: 1 });
    const kept: PacketBuffer[] = [];
    let count = 0;
    const done = new Promise<void>((resolve) => {
      ep.attach({
        deliverNetworkPacket(_p, pkt) {
          kept.push(pkt);
          if (++count === 20) resolve();
        },
      });
    });
    const sent = Array.from({ length: 20 }, (_, i) => ipPacket(i, 100));
    await feed(peer, sent);
    await done;
    for (let i = 0; i < 20; i++) {
      const k = kept[i]!;
      expect(Array.from(k.data.subarray(k.head, k.tail))).toEqual(Array.from(sent[i]!));
    }
  });

  test("a slab nothing holds is rewound; a held one keeps its bytes until released, then is reused (receive-slabs.ts)", async () => {
    const { ep, peer } = setup();
    await expectSlabsReused(ep, peer, (i) => ipPacket(i, 1400));
  });

  test("a batch also ends once batchBytes were copied, so its ACK is not held back by a long run of big packets", async () => {
    const { ep, peer } = setup({ batchBytes: 4000 });
    const rec = new Recorder();
    ep.attach(rec);
    await feed(peer, [ipPacket(0, 1500)]);
    await rec.until(1);
    // Detached, the next 20 wait in the ring: the drain after attach finds them all.
    ep.attach(undefined);
    await feed(
      peer,
      Array.from({ length: 20 }, (_, i) => ipPacket(i + 1, 1500)),
    );
    while (ep.workerCounts.rxQueued < 20) await Bun.sleep(1);
    ep.attach(rec);
    await rec.until(21);
    await new Promise((r) => setImmediate(r));
    // A batch stops at the first packet that reaches 4000 bytes: three of 1500.
    expectBatchBytesLimited(rec, 4000, 21, 1500);
    expect(ep.stats.rxBatchLimited).toBeGreaterThan(0);
  });

  test("packets that are neither IPv4 nor IPv6, or larger than the MTU, are counted and dropped", async () => {
    const { ep, peer } = setup({ mtu: 100 });
    const rec = new Recorder();
    ep.attach(rec);
    const bad = new Uint8Array(30);
    bad[0] = 0x10;
    await feed(peer, [bad, ipPacket(1, 101), ipPacket(2, 100)]);
    await rec.until(1);
    expect(rec.got.map((g) => g.bytes)).toEqual([ipPacket(2, 100)]);
    expect(ep.stats.rxMalformed).toBe(2);
  });

  test("packets that come while detached are delivered after attach", async () => {
    const { ep, peer } = setup();
    const first = new Recorder();
    ep.attach(first);
    await feed(peer, [ipPacket(0, 40)]);
    await first.until(1);
    ep.attach(undefined);
    expect(ep.isAttached()).toBe(false);
    await feed(peer, [ipPacket(1, 40), ipPacket(2, 40)]);
    await Bun.sleep(20);
    const second = new Recorder();
    ep.attach(second);
    await second.until(2);
    expect(second.got.map((g) => g.bytes)).toEqual([ipPacket(1, 40), ipPacket(2, 40)]);
    expect(first.got.length).toBe(1);
  });

  test("a dispatcher that throws is counted and reported; later packets still arrive", async () => {
    const errors: unknown[] = [];
    const { ep, peer } = setup({ onError: (e) => errors.push(e) });
    const rec = new Recorder();
    let thrown = false;
    ep.attach({
      deliverNetworkPacket(p, pkt) {
        if (!thrown) {
          thrown = true;
          throw new Error("boom");
        }
        rec.deliverNetworkPacket(p, pkt);
      },
    });
    await feed(peer, [ipPacket(0, 40), ipPacket(1, 40)]);
    await rec.until(1);
    expect(rec.got[0]!.bytes).toEqual(ipPacket(1, 40));
    expect(ep.stats.rxErrors).toBe(1);
    expect((errors[0] as Error).message).toBe("boom");
  });

  test("the peer hanging up stops the reader without an error", async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    const errors: unknown[] = [];
    const ep = new ThreadedFdEndpoint({ fd: a, mtu: 1500, ownsFd: true, onError: (e) => errors.push(e) });
    const rec = new Recorder();
    ep.attach(rec);
    await feed(b, [ipPacket(0, 40)]);
    await rec.until(1);
    close(b);
    expect(ep.receiving).toBe(true);
    while (ep.receiving) await Bun.sleep(5);
    ep.close();
    await ep.wait();
    expect(errors).toEqual([]);
    expect(rec.got.length).toBe(1);
  });
});

describe("ThreadedFdEndpoint outbound", () => {
  test("writes every packet in order, byte-exact, one write() each", async () => {
    const { ep, peer } = setup();
    const sent = Array.from({ length: 50 }, (_, i) => ipPacket(i, 20 + i * 29));
    let accepted = 0;
    for (let i = 0; i < sent.length; i += 5) {
      accepted += ep.writePackets(sent.slice(i, i + 5).map((b) => outbound(b)));
    }
    expect(accepted).toBe(50);
    const got = await drainPeer(peer, 50);
    expect(got).toEqual(sent);
    expect(ep.stats.txPackets).toBe(50);
    expect(ep.stats.txBytes).toBe(sent.reduce((s, b) => s + b.length, 0));
  });

  test("a full TX ring makes the caller wait for the writer: nothing is dropped", async () => {
    // 4 slots, 100 packets in one call: the main thread must wait for the writer many times
    // (the peer's socket buffer holds all 100: nothing reads it while the main thread waits).
    const { ep, peer } = setup({ txSlots: 4 });
    const sent = Array.from({ length: 100 }, (_, i) => ipPacket(i, 40));
    expect(ep.writePackets(sent.map((b) => outbound(b)))).toBe(100);
    const got = await drainPeer(peer, 100);
    expect(got).toEqual(sent);
    expect(ep.stats.txRingFullWaits).toBeGreaterThan(0);
  });

  test("empty packets and packets larger than the MTU are refused and counted", () => {
    const { ep } = setup({ mtu: 100 });
    const empty = new PacketBuffer(new Uint8Array(10), 10, 10);
    expect(ep.writePackets([empty, outbound(ipPacket(0, 101))])).toBe(0);
    expect(ep.stats.txErrors).toBe(2);
  });

  test("close() lets the writer finish what was queued, then closes the fd and calls onClosed", async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    let closed = 0;
    const ep = new ThreadedFdEndpoint({ fd: a, mtu: 1500, ownsFd: true, onClosed: () => closed++ });
    const sent = Array.from({ length: 10 }, (_, i) => ipPacket(i, 64));
    expect(ep.writePackets(sent.map((p) => outbound(p)))).toBe(10);
    ep.close();
    ep.close();
    await ep.wait();
    expect(closed).toBe(1);
    expect(ep.writePackets([outbound(ipPacket(0, 64))])).toBe(0);
    const got = await drainPeer(b, 10);
    expect(got).toEqual(sent);
    close(b);
  });
});

describe("ThreadedFdEndpoint replies", () => {
  test("a reply from a receive drain is written by the main thread while the writer sleeps", async () => {
    const { ep, peer } = setup();
    ep.attach({
      deliverNetworkPacket(_p, pkt) {
        const reply = pkt.data.slice(pkt.head, pkt.tail);
        reply[1] = 0xee;
        ep.writePackets([outbound(reply)]);
      },
    });
    // Request/response exchanges: once the writer has gone to sleep, replies skip it.
    for (let i = 0; i < 20 && ep.stats.txInline === 0; i++) {
      await feed(peer, [ipPacket(i, 60)]);
      const [got] = await drainPeer(peer, 1);
      const want = ipPacket(i, 60);
      want[1] = 0xee;
      expect(got).toEqual(want);
    }
    expect(ep.stats.txInline).toBeGreaterThan(0);
    expect(ep.stats.txWakeups).toBeLessThan(ep.stats.txPackets);
  });

  test("replies written inline and through the writer keep their order", async () => {
    const { ep, peer } = setup();
    let seq = 0;
    const sent: Uint8Array[] = [];
    ep.attach({
      deliverNetworkPacket() {
        // Five packets per request: the first may go inline, the rest through the ring.
        const burst: PacketBuffer[] = [];
        for (let k = 0; k < 5; k++) {
          const b = ipPacket(seq++, 80);
          sent.push(b);
          burst.push(outbound(b));
        }
        ep.writePackets(burst.slice(0, 1));
        ep.writePackets(burst.slice(1));
      },
    });
    for (let i = 0; i < 20; i++) {
      await feed(peer, [ipPacket(i, 40)]);
      await Bun.sleep(1);
    }
    const got = await drainPeer(peer, 100);
    expect(got).toEqual(sent);
    expect(ep.stats.txPackets).toBe(100);
  });
});

describe("ThreadedFdEndpoint parking", () => {
  test("after a drain the main thread parks for the next packet, then sleeps; parkMs 0 never parks", async () => {
    for (const parkMs of [0.2, 0]) {
      const { ep, peer } = setup({ parkMs });
      const rec = new Recorder();
      ep.attach(rec);
      for (let i = 0; i < 5; i++) {
        await feed(peer, [ipPacket(i, 60)]);
        await rec.until(i + 1);
        await Bun.sleep(2);
      }
      expect(rec.got.map((g) => g.bytes)).toEqual([0, 1, 2, 3, 4].map((i) => ipPacket(i, 60)));
      if (parkMs > 0) expect(ep.stats.rxParks).toBeGreaterThan(0);
      else expect(ep.stats.rxParks).toBe(0);
      expect(ep.stats.rxParkWakeups).toBeLessThanOrEqual(ep.stats.rxParks);
    }
  });
});

describe("ThreadedFdEndpoint with a virtio-net header", () => {
  test("advertises offloads", () => {
    const { ep } = setup({ vnetHdr: true });
    expect(ep.capabilities & LinkCapability.HardwareGSO).toBe(LinkCapability.HardwareGSO);
    expect(ep.capabilities & LinkCapability.RXChecksumOffload).toBe(LinkCapability.RXChecksumOffload);
    expect(ep.capabilities & LinkCapability.TXChecksumOffload).toBe(0);
    expect(ep.gsoMaxSize).toBe(65535);
    expect(
      setup({ vnetHdr: true, txChecksumOffload: true }).ep.capabilities & LinkCapability.TXChecksumOffload,
    ).toBe(LinkCapability.TXChecksumOffload);
    expect(setup().ep.capabilities).toBe(LinkCapability.None);
  });

  test("inbound: a GRO super-packet gets pkt.gso and checksumVerified; malformed headers are counted", async () => {
    const { ep, peer } = setup({ vnetHdr: true });
    const rec = new Recorder();
    ep.attach(rec);
    const big = ipPacket(1, 60_000);
    await feed(peer, [
      new Uint8Array(5),
      vnet({ gsoType: 2 }, ipPacket(2, 20)),
      vnet({ flags: 1, gsoType: 0x81, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16 }, big),
      vnet({ flags: 2 }, ipPacket(3, 20)),
      vnet({}, ipPacket(4, 20)),
    ]);
    await rec.until(3);
    const [a, b, c] = rec.got;
    expect(a!.bytes).toEqual(big);
    expect(a!.pkt.checksumVerified).toBe(true);
    expect(a!.pkt.gso).toEqual(tcp4Gso());
    expect(b!.pkt.checksumVerified).toBe(true);
    expect(b!.pkt.gso).toBeUndefined();
    expect(c!.pkt.checksumVerified).toBe(false);
    expect(ep.stats.rxGsoPackets).toBe(1);
    expect(ep.stats.rxMalformed).toBe(2);
    expect(ep.stats.rxBytes).toBe(60_000 + 20 + 20);
  });

  test("outbound: pkt.gso becomes the virtio header, a zero header without it", async () => {
    const { ep, peer } = setup({ vnetHdr: true, txCoalesce: false });
    const body = ipPacket(5, 3000);
    const gso = tcp4Gso();
    const p = outbound(body);
    p.gso = gso;
    expect(ep.writePackets([p, outbound(ipPacket(6, 20))])).toBe(2);
    const got = await drainPeer(peer, 2);
    expect(got[0]).toEqual(vnet(TCP4_GSO_VIRTIO, body));
    expect(got[1]).toEqual(vnet({}, ipPacket(6, 20)));
    expect(ep.stats.txGsoPackets).toBe(1);
    expect(ep.stats.txBytes).toBe(3020);
  });

  test("outbound: TCP segments written in one turn leave as one GSO super-packet, in order with the rest", async () => {
    const { ep, peer } = setup({ vnetHdr: true });
    expect(ep.writePackets([outbound(ipPacket(7, 20))])).toBe(1);
    expect(ep.writePackets([tcpSegment(100, 1000), tcpSegment(1100, 1000)])).toBe(2);
    expect(ep.writePackets([tcpSegment(2100, 500)])).toBe(1);
    await Promise.resolve();
    // A packet that is not TCP flushes the open run first.
    ep.writePackets([tcpSegment(2600, 1000), outbound(ipPacket(8, 20))]);
    const got = await drainPeer(peer, 4);
    expect(got[0]).toEqual(vnet({}, ipPacket(7, 20)));
    expect(got[1]!.length).toBe(VIRTIO_NET_HDR_SIZE + 40 + 2500);
    expect(got[1]![1]).toBe(1); // gso_type TCPV4
    expect(new DataView(got[1]!.buffer, got[1]!.byteOffset).getUint16(4, true)).toBe(1000); // gso_size
    expect(got[2]!.length).toBe(VIRTIO_NET_HDR_SIZE + 1040);
    expect(got[3]).toEqual(vnet({}, ipPacket(8, 20)));
    expect(ep.stats.txPackets).toBe(6);
    expect(ep.stats.txGsoPackets).toBe(1);
  });
});

describe("ThreadedFdEndpoint options", () => {
  test("ring sizes must be powers of two, the fd and MTU valid", () => {
    expect(() => new ThreadedFdEndpoint({ fd: 0, mtu: 1500, rxSlots: 100 })).toThrow(ErrInvalidOptionValue);
    expect(() => new ThreadedFdEndpoint({ fd: -1, mtu: 1500 })).toThrow(ErrInvalidOptionValue);
    expect(() => new ThreadedFdEndpoint({ fd: 0, mtu: 0 })).toThrow(ErrInvalidOptionValue);
  });

  test("an endpoint closed before use releases at once", async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    let closed = 0;
    const ep = new ThreadedFdEndpoint({ fd: a, mtu: 1500, ownsFd: true, onClosed: () => closed++ });
    ep.close();
    await ep.wait();
    expect(closed).toBe(1);
    close(b);
  });
});

import { afterEach, describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { VIRTIO_NET_HDR_SIZE } from "../../header/virtio-net.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type NetworkDispatcher } from "../link-endpoint.ts";

import {
  AF_UNIX,
  close,
  ERRNO,
  F_GETFL,
  fcntl,
  readFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socketpair,
  writeFd,
} from "../rawfile/index.ts";
import { FdEndpoint, type FdEndpointOptions } from "./fd-endpoint.ts";
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

/** fcntl(2) O_ASYNC (asm-generic). */
const O_ASYNC = 0o20000;
const OUR_MAC = new LinkAddress(Uint8Array.of(0x02, 0, 0, 0, 0, 0x01));
const PEER_MAC = new LinkAddress(Uint8Array.of(0x02, 0, 0, 0, 0, 0x02));
const OTHER_MAC = new LinkAddress(Uint8Array.of(0x02, 0, 0, 0, 0, 0x03));

const pairs = new SocketPairs<FdEndpoint>();

/** FD_ENDPOINT_IO_URING=1: every endpoint here reads and writes through io_uring (uring-io.test.ts runs this file so). */
const ioUring = process.env.FD_ENDPOINT_IO_URING === "1";

/** An endpoint over one end of a SOCK_SEQPACKET pair; the test plays the device on `peer`. */
function setup(opts: Omit<FdEndpointOptions, "fd" | "mtu"> & { mtu?: number }): {
  ep: FdEndpoint;
  peer: number;
} {
  const r = pairs.open((fd) => new FdEndpoint({ mtu: 1500, ioUring, ...opts, fd, ownsFd: true }));
  if (ioUring && !opts.vnetHdr) expect(r.ep.usesIoUring).toBe(true);
  return r;
}

afterEach(() => pairs.closeAll());

function ipv4Packet(len: number, marker = 0): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = 0x45;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  b[9] = 17;
  b.set([198, 18, 0, 1, 198, 18, 0, 2], 12);
  if (len > 20) b[20] = marker & 0xff;
  if (len > 21) b[21] = marker >> 8;
  return b;
}

function frame(dst: LinkAddress, src: LinkAddress, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst.bytes, 0);
  f.set(src.bytes, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

function readPeer(peer: number): Uint8Array {
  const buf = new Uint8Array(70000);
  const n = readFd(peer, buf);
  expect(n).toBeGreaterThan(0);
  return buf.slice(0, n);
}

describe("FdEndpoint, IP framing", () => {
  test("properties of an IP-mode link", () => {
    const { ep } = setup({ framing: "ip" });
    expect(ep.mtu).toBe(1500);
    expect(ep.maxHeaderLength).toBe(0);
    expect(ep.linkAddress.length).toBe(0);
    expect(ep.capabilities).toBe(LinkCapability.None);
    expect(ep.gsoMaxSize).toBe(0);
    expect(ep.isAttached()).toBe(false);
    // Done with every packet when writePackets returns: TCP may build its next segment in the buffer.
    expect(ep.synchronousWrite).toBe(true);
  });

  test("delivers IPv4 and IPv6 by version nibble, with the exact bytes", async () => {
    const { ep, peer } = setup({ framing: "ip" });
    const rec = new Recorder();
    ep.attach(rec);
    expect(ep.isAttached()).toBe(true);
    const v4 = ipv4Packet(60, 7);
    const v6 = new Uint8Array(48);
    v6[0] = 0x60;
    v6[47] = 0x99;
    writeFd(peer, v4);
    writeFd(peer, v6);
    await rec.until(2);
    expect(rec.got[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
    expect(rec.got[0]!.pkt.networkProtocol).toBe(IPV4_PROTOCOL_NUMBER);
    expect(rec.got[0]!.pkt.bytes()).toEqual(v4);
    expect(rec.got[0]!.pkt.networkHeader).toBe(rec.got[0]!.pkt.head);
    expect(rec.got[1]!.protocol).toBe(IPV6_PROTOCOL_NUMBER);
    expect(rec.got[1]!.pkt.bytes()).toEqual(v6);
    expect(ep.stats.rxPackets).toBe(2);
    expect(ep.stats.rxBytes).toBe(108);
  });

  test("drops and counts packets with an unknown IP version", async () => {
    const { ep, peer } = setup({ framing: "ip" });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, Uint8Array.of(0x75, 0, 0, 0));
    writeFd(peer, ipv4Packet(20));
    await rec.until(1);
    expect(rec.got.length).toBe(1);
    expect(ep.stats.rxMalformed).toBe(1);
  });

  test("a burst larger than one batch arrives complete and in order", async () => {
    const { ep, peer } = setup({ framing: "ip", batchSize: 16 });
    const rec = new Recorder();
    ep.attach(rec);
    const N = 500;
    let sent = 0;
    const pump = (): void => {
      while (sent < N && writeFd(peer, ipv4Packet(64, sent)) > 0) sent++;
      if (sent < N) setImmediate(pump);
    };
    pump();
    await rec.until(N);
    for (let i = 0; i < N; i++) {
      const p = rec.got[i]!.pkt;
      expect(p.data[p.head + 20]! | (p.data[p.head + 21]! << 8)).toBe(i);
    }
    expect(ep.stats.rxBatchLimited).toBeGreaterThan(0);
  });

  test("packets kept by the stack stay intact while later ones arrive", async () => {
    const { ep, peer } = setup({ framing: "ip" });
    const rec = new Recorder();
    ep.attach(rec);
    for (let i = 0; i < 40; i++) writeFd(peer, ipv4Packet(1400, i));
    await rec.until(40);
    for (let i = 0; i < 40; i++) expect(rec.got[i]!.pkt.bytes()).toEqual(ipv4Packet(1400, i));
    // A layer may keep views of received bytes by holding the packet's lease (the slab).
    for (let i = 0; i < 40; i++) expect(rec.got[i]!.pkt.dataKeepable).toBe(true);
    for (let i = 0; i < 40; i++) expect(rec.got[i]!.pkt.lease).toBe(rec.got[0]!.pkt.lease!);
    // Each packet owns its view: prepending into one does not touch its neighbour.
    const first = rec.got[1]!.pkt;
    const off = first.prepend(100);
    first.data.fill(0xee, off, first.head);
    expect(rec.got[0]!.pkt.bytes()).toEqual(ipv4Packet(1400, 0));
  });

  test("a slab nothing holds is rewound; a held one keeps its bytes until released, then is reused (receive-slabs.ts)", async () => {
    const { ep, peer } = setup({ framing: "ip" });
    await expectSlabsReused(ep, peer, (i) => ipv4Packet(1400, i));
  });

  test("writePackets writes each packet from its head", () => {
    const { ep, peer } = setup({ framing: "ip" });
    const a = PacketBuffer.withPayload(32, ipv4Packet(40, 1));
    const b = PacketBuffer.withPayload(0, ipv4Packet(28, 2));
    expect(ep.writePackets([a, b])).toBe(2);
    expect(readPeer(peer)).toEqual(ipv4Packet(40, 1));
    expect(readPeer(peer)).toEqual(ipv4Packet(28, 2));
    expect(ep.stats.txPackets).toBe(2);
    expect(ep.stats.txBytes).toBe(68);
  });

  test("a full socket buffer drops with EAGAIN, counted, and writePackets says how many went", () => {
    const { ep } = setup({ framing: "ip" });
    const pkts = Array.from({ length: 2000 }, (_, i) => PacketBuffer.withPayload(0, ipv4Packet(1400, i)));
    const n = ep.writePackets(pkts);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(2000);
    expect(ep.stats.txDroppedEagain).toBe(2000 - n);
    expect(ep.stats.txPackets).toBe(n);
  });

  test("a dispatcher that throws is counted and reading goes on", async () => {
    const errors: unknown[] = [];
    const { ep, peer } = setup({ framing: "ip", onError: (e) => errors.push(e) });
    const rec = new Recorder();
    let calls = 0;
    ep.attach({
      deliverNetworkPacket(p, pkt) {
        if (calls++ === 0) throw new Error("boom");
        rec.deliverNetworkPacket(p, pkt);
      },
    });
    writeFd(peer, ipv4Packet(20, 1));
    writeFd(peer, ipv4Packet(20, 2));
    await rec.until(1);
    expect(ep.stats.rxErrors).toBe(1);
    expect((errors[0] as Error).message).toBe("boom");
  });
});

describe("FdEndpoint readiness by signal (signal-readiness.ts)", () => {
  test("one signal serves several endpoints: each finds its own packets", async () => {
    const one = setup({ framing: "ip", spinMs: 0, readiness: "signal" });
    const two = setup({ framing: "ip", spinMs: 0, readiness: "signal" });
    const r1 = new Recorder();
    const r2 = new Recorder();
    one.ep.attach(r1);
    two.ep.attach(r2);
    await Bun.sleep(10);
    for (let i = 1; i <= 3; i++) {
      writeFd(one.peer, ipv4Packet(24, i));
      await r1.until(i);
      writeFd(two.peer, ipv4Packet(24, 10 + i));
      await r2.until(i);
    }
    expect(r1.got.map((g) => g.pkt.data[g.pkt.head + 20])).toEqual([1, 2, 3]);
    expect(r2.got.map((g) => g.pkt.data[g.pkt.head + 20])).toEqual([11, 12, 13]);
    expect(one.ep.readinessMode).toBe("signal");
  });

  test("close clears O_ASYNC on an fd the endpoint does not own", async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    const ep = new FdEndpoint({ fd: a, mtu: 1500, framing: "ip", readiness: "signal" });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(b, ipv4Packet(20));
    await rec.until(1);
    await Bun.sleep(10); // asleep again: O_ASYNC set
    expect(fcntl(a, F_GETFL) & O_ASYNC).toBe(O_ASYNC);
    ep.close();
    await ep.wait();
    expect(fcntl(a, F_GETFL) & O_ASYNC).toBe(0);
    writeFd(b, ipv4Packet(20));
    await Bun.sleep(10);
    expect(rec.got.length).toBe(1);
    close(a);
    close(b);
  });
});

for (const readiness of ["signal", "worker"] as const) {
  describe(`FdEndpoint readiness: ${readiness}`, () => {
    test("signal is SIGIO on the main thread; worker (the default) is the poll worker", async () => {
      const { ep, peer } = setup({ framing: "ip", readiness });
      expect(ep.readinessMode).toBeUndefined();
      const rec = new Recorder();
      ep.attach(rec);
      expect(ep.readinessMode).toBe(readiness);
      writeFd(peer, ipv4Packet(20));
      await rec.until(1);
    });

    test("packets queued before attach arrive", async () => {
      const { ep, peer } = setup({ framing: "ip", readiness });
      writeFd(peer, ipv4Packet(24, 1));
      writeFd(peer, ipv4Packet(24, 2));
      const rec = new Recorder();
      ep.attach(rec);
      await rec.until(2);
      expect(rec.got.map((g) => g.pkt.data[g.pkt.head + 20])).toEqual([1, 2]);
    });

    test("detached, packets wait in the kernel; attached again, they arrive", async () => {
      const { ep, peer } = setup({ framing: "ip", readiness });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(peer, ipv4Packet(20, 1));
      await rec.until(1);
      ep.attach(undefined);
      expect(ep.isAttached()).toBe(false);
      writeFd(peer, ipv4Packet(20, 2));
      writeFd(peer, ipv4Packet(20, 3));
      await Bun.sleep(50);
      expect(rec.got.length).toBe(1);
      ep.attach(rec);
      await rec.until(3);
      expect(rec.got.length).toBe(3);
    });

    test("close stops waiting, closes the fd it owns, and calls onClosed", async () => {
      const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
      let closedCalls = 0;
      const ep = new FdEndpoint({
        fd: a,
        mtu: 1500,
        framing: "ip",
        ownsFd: true,
        readiness,
        onClosed: () => closedCalls++,
      });
      ep.attach(new Recorder());
      ep.close();
      await ep.wait();
      expect(closedCalls).toBe(1);
      // The peer sees the other end gone.
      expect(writeFd(b, Uint8Array.of(0x45))).toBe(-ERRNO.EPIPE);
      expect(ep.writePackets([PacketBuffer.withPayload(0, ipv4Packet(20))])).toBe(0);
      ep.close();
      expect(closedCalls).toBe(1);
      close(b);
    });

    test("an empty datagram is counted; the peer hanging up stops reading without spinning", async () => {
      const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
      const ep = new FdEndpoint({ fd: a, mtu: 1500, framing: "ip", ownsFd: true, readiness });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(b, new Uint8Array(0));
      writeFd(b, ipv4Packet(20, 1));
      await rec.until(1);
      expect(ep.stats.rxMalformed).toBe(1);
      close(b);
      await Bun.sleep(50);
      const before = process.cpuUsage();
      await Bun.sleep(500);
      const used = process.cpuUsage(before);
      expect((used.user + used.system) / 1000).toBeLessThan(200);
      expect(ep.stats.rxErrors).toBe(0);
      ep.close();
      await ep.wait();
    });

    test("an idle attached link uses next to no CPU (no spinning)", async () => {
      const { ep, peer } = setup({ framing: "ip", spinMs: 1, readiness });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(peer, ipv4Packet(20));
      await rec.until(1);
      await Bun.sleep(20); // let the 1 ms adaptive spin end
      const before = process.cpuUsage();
      await Bun.sleep(1000);
      const used = process.cpuUsage(before);
      // A resource bound, not a timing assert: a spinning loop would burn ~1000 ms here.
      expect((used.user + used.system) / 1000).toBeLessThan(200);
    });

    test("with spinMs 1 and no hot poll it spins briefly after traffic, then sleeps: the next packet after a pause wakes it", async () => {
      const { ep, peer } = setup({ framing: "ip", readiness, hotMs: 0, spinMs: 1 });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(peer, ipv4Packet(20));
      await rec.until(1);
      await Bun.sleep(50); // far longer than the spin
      const wakeups = ep.stats.rxWakeups;
      const before = process.cpuUsage();
      await Bun.sleep(500);
      const used = process.cpuUsage(before);
      expect((used.user + used.system) / 1000).toBeLessThan(200);
      writeFd(peer, ipv4Packet(20));
      await rec.until(2);
      expect(ep.stats.rxWakeups).toBe(wakeups + 1);
    });

    test("sparse traffic stops spinning after a window that caught nothing; close packets start it again", async () => {
      const { ep, peer } = setup({ framing: "ip", spinMs: 40, readiness });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(peer, ipv4Packet(20));
      await rec.until(1);
      await Bun.sleep(150); // the 40 ms window ends without a packet
      const spun = ep.stats.rxSpinDrains;
      expect(spun).toBeGreaterThan(0);
      writeFd(peer, ipv4Packet(20)); // long after going to sleep: no spin after it
      await rec.until(2);
      await Bun.sleep(150);
      expect(ep.stats.rxSpinDrains).toBe(spun);
      writeFd(peer, ipv4Packet(20)); // this one wakes it...
      await rec.until(3);
      writeFd(peer, ipv4Packet(20)); // ...and this one comes well within 40 ms of its going to sleep
      await rec.until(4);
      await Bun.sleep(150);
      expect(ep.stats.rxSpinDrains).toBeGreaterThan(spun);
    });

    test("spinMs 0 and hotMs 0: every drain sleeps again, and every packet wakes it", async () => {
      const { ep, peer } = setup({ framing: "ip", spinMs: 0, hotMs: 0, readiness });
      const rec = new Recorder();
      ep.attach(rec);
      writeFd(peer, ipv4Packet(20));
      await rec.until(1);
      await Bun.sleep(10);
      const wakeups = ep.stats.rxWakeups;
      for (let i = 2; i <= 4; i++) {
        writeFd(peer, ipv4Packet(20));
        await rec.until(i);
        await Bun.sleep(10);
      }
      expect(ep.stats.rxWakeups).toBe(wakeups + 3);
      expect(ep.stats.rxSpinDrains).toBe(0);
    });
  });
}

describe("FdEndpoint hot poll (worker readiness, hotMs)", () => {
  test("while traffic is recent the main thread polls the fd itself: packets arrive without a worker wake-up", async () => {
    const { ep, peer } = setup({ framing: "ip", spinMs: 0, hotMs: 60_000 });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, ipv4Packet(24, 1));
    await rec.until(1);
    expect(ep.stats.rxWakeups).toBe(1); // the first packet finds the worker armed
    expect(ep.hot).toBe(true);
    for (let i = 2; i <= 5; i++) {
      writeFd(peer, ipv4Packet(24, i));
      await rec.until(i);
    }
    expect(rec.got.map((g) => g.pkt.data[g.pkt.head + 20])).toEqual([1, 2, 3, 4, 5]);
    expect(ep.stats.rxWakeups).toBe(1);
    expect(ep.stats.rxHotWakeups).toBe(4);
    expect(ep.stats.rxSpinDrains).toBe(0);
  });

  test("with the hot poll (worker readiness) spinMs defaults to 0: after traffic it polls hot and does not spin", async () => {
    // A long window, so a stall of a loaded machine between the writes cannot end it.
    const { ep, peer } = setup({ framing: "ip", hotMs: 60_000 });
    const rec = new Recorder();
    ep.attach(rec);
    for (let i = 1; i <= 4; i++) {
      writeFd(peer, ipv4Packet(24, i));
      await rec.until(i);
    }
    expect(ep.stats.rxSpinDrains).toBe(0);
    expect(ep.stats.rxHotWakeups).toBeGreaterThan(0);
  });

  test("two hot links share one poll: packets on either arrive without worker wake-ups", async () => {
    const one = setup({ framing: "ip", spinMs: 0, hotMs: 60_000 });
    const two = setup({ framing: "ip", spinMs: 0, hotMs: 60_000 });
    const rec1 = new Recorder();
    const rec2 = new Recorder();
    one.ep.attach(rec1);
    two.ep.attach(rec2);
    writeFd(one.peer, ipv4Packet(20));
    writeFd(two.peer, ipv4Packet(20));
    await Promise.all([rec1.until(1), rec2.until(1)]);
    expect(one.ep.hot && two.ep.hot).toBe(true);
    for (let i = 2; i <= 4; i++) {
      writeFd(two.peer, ipv4Packet(20));
      await rec2.until(i);
      writeFd(one.peer, ipv4Packet(20));
      await rec1.until(i);
    }
    expect([one.ep.stats.rxWakeups, two.ep.stats.rxWakeups]).toEqual([1, 1]);
    expect([one.ep.stats.rxHotWakeups, two.ep.stats.rxHotWakeups]).toEqual([3, 3]);
  });

  test("hot and quiet, it blocks in poll(2) instead of spinning", async () => {
    const { ep, peer } = setup({ framing: "ip", spinMs: 0, hotMs: 60_000 });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, ipv4Packet(20));
    await rec.until(1);
    const before = process.cpuUsage();
    await Bun.sleep(500);
    const used = process.cpuUsage(before);
    expect(ep.hot).toBe(true);
    // A resource bound, not a timing assert: a nonblocking loop would burn ~500 ms here.
    expect((used.user + used.system) / 1000).toBeLessThan(200);
  });

  test("after hotMs without a packet it arms the worker again: the next packet is a worker wake-up", async () => {
    const { ep, peer } = setup({ framing: "ip", spinMs: 0, hotMs: 20 });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, ipv4Packet(20, 1));
    await rec.until(1);
    for (let i = 0; i < 500 && ep.hot; i++) await Bun.sleep(10);
    expect(ep.hot).toBe(false);
    const hotWakeups = ep.stats.rxHotWakeups;
    writeFd(peer, ipv4Packet(20, 2));
    await rec.until(2);
    expect(ep.stats.rxWakeups).toBe(2);
    expect(ep.stats.rxHotWakeups).toBe(hotWakeups);
    expect(ep.hot).toBe(true); // traffic again: hot again
  });

  test("a peer that hangs up while hot stops reading", async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    const ep = new FdEndpoint({ fd: a, mtu: 1500, framing: "ip", ownsFd: true, spinMs: 0, hotMs: 60_000 });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(b, ipv4Packet(20));
    await rec.until(1);
    expect(ep.hot).toBe(true);
    close(b);
    for (let i = 0; i < 500 && ep.hot; i++) await Bun.sleep(10);
    expect(ep.hot).toBe(false); // the hot poll saw POLLHUP and the read of 0 bytes stopped the link
    expect(ep.stats.rxWakeups).toBe(1);
    expect(ep.stats.rxErrors).toBe(0);
    const before = process.cpuUsage();
    await Bun.sleep(300);
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(150);
    expect(ep.hot).toBe(false);
    ep.close();
    await ep.wait();
  });

  test("signal readiness does not poll hot", async () => {
    const { ep, peer } = setup({ framing: "ip", spinMs: 0, hotMs: 60_000, readiness: "signal" });
    const rec = new Recorder();
    ep.attach(rec);
    for (let i = 1; i <= 3; i++) {
      writeFd(peer, ipv4Packet(20));
      await rec.until(i);
    }
    expect(ep.hot).toBe(false);
    expect(ep.stats.rxHotWakeups).toBe(0);
  });
});

describe("FdEndpoint, Ethernet framing", () => {
  test("needs a 6-byte MAC and advertises resolution", () => {
    expect(() => setup({ framing: "ethernet" })).toThrow();
    const { ep } = setup({ framing: "ethernet", linkAddress: OUR_MAC });
    expect(ep.maxHeaderLength).toBe(14);
    expect(ep.linkAddress.equals(OUR_MAC)).toBe(true);
    expect(ep.capabilities & LinkCapability.ResolutionRequired).toBe(LinkCapability.ResolutionRequired);
  });

  test("strips the header and records link addresses; protocol from the EtherType", async () => {
    const { ep, peer } = setup({ framing: "ethernet", linkAddress: OUR_MAC });
    const rec = new Recorder();
    ep.attach(rec);
    const ip = ipv4Packet(40, 5);
    const arp = new Uint8Array(28).fill(7);
    writeFd(peer, frame(OUR_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ip));
    writeFd(peer, frame(LinkAddress.BROADCAST, PEER_MAC, ARP_PROTOCOL_NUMBER, arp));
    await rec.until(2);
    const [a, b] = rec.got;
    expect(a!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
    expect(a!.pkt.bytes()).toEqual(ip);
    expect(a!.pkt.linkHeader).toBe(a!.pkt.head - 14);
    expect(a!.pkt.linkDst!.equals(OUR_MAC)).toBe(true);
    expect(a!.pkt.linkSrc!.equals(PEER_MAC)).toBe(true);
    expect(a!.pkt.linkBroadcastOrMulticast).toBe(false);
    expect(b!.protocol).toBe(ARP_PROTOCOL_NUMBER);
    expect(b!.pkt.bytes()).toEqual(arp);
    expect(b!.pkt.linkDst!.isBroadcast).toBe(true);
    expect(b!.pkt.linkBroadcastOrMulticast).toBe(true);
    // The peer's address object is reused for the next frame from it (no allocation per frame).
    expect(b!.pkt.linkSrc).toBe(a!.pkt.linkSrc!);
  });

  test("drops frames for another MAC, 802.3 length frames and runts", async () => {
    const { ep, peer } = setup({ framing: "ethernet", linkAddress: OUR_MAC });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, frame(OTHER_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ipv4Packet(20)));
    writeFd(peer, frame(OUR_MAC, PEER_MAC, 0x05dc, ipv4Packet(20)));
    writeFd(peer, new Uint8Array(10));
    writeFd(peer, frame(OUR_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ipv4Packet(20, 9)));
    await rec.until(1);
    expect(rec.got.length).toBe(1);
    expect(ep.stats.rxNotForUs).toBe(1);
    expect(ep.stats.rxMalformed).toBe(2);
  });

  test("prepends the header to linkDst (broadcast when unset) from our MAC", () => {
    const { ep, peer } = setup({ framing: "ethernet", linkAddress: OUR_MAC });
    const p = PacketBuffer.withPayload(14, ipv4Packet(20, 1));
    p.networkProtocol = IPV4_PROTOCOL_NUMBER;
    p.linkDst = PEER_MAC;
    const q = PacketBuffer.withPayload(0, new Uint8Array(28)); // no headroom: the buffer grows
    q.networkProtocol = ARP_PROTOCOL_NUMBER;
    expect(ep.writePackets([p, q])).toBe(2);
    expect(readPeer(peer)).toEqual(frame(PEER_MAC, OUR_MAC, IPV4_PROTOCOL_NUMBER, ipv4Packet(20, 1)));
    expect(readPeer(peer)).toEqual(
      frame(LinkAddress.BROADCAST, OUR_MAC, ARP_PROTOCOL_NUMBER, new Uint8Array(28)),
    );
    expect(p.linkHeader).toBe(p.head);
    expect(p.linkSrc!.equals(OUR_MAC)).toBe(true);
  });

  test("a packet without a network protocol is not framed and is counted", () => {
    const { ep } = setup({ framing: "ethernet", linkAddress: OUR_MAC });
    const p = PacketBuffer.withPayload(14, ipv4Packet(20));
    expect(ep.writePackets([p])).toBe(0);
    expect(ep.stats.txErrors).toBe(1);
  });
});

describe("FdEndpoint, frames pass-through", () => {
  test("hands whole frames up and writes them unchanged", async () => {
    const { ep, peer } = setup({ framing: "frames" });
    expect(ep.carriesFrames).toBe(true);
    expect(ep.maxHeaderLength).toBe(0);
    const rec = new Recorder();
    ep.attach(rec);
    const f = frame(OTHER_MAC, PEER_MAC, IPV6_PROTOCOL_NUMBER, new Uint8Array(40));
    writeFd(peer, f);
    await rec.until(1);
    expect(rec.got[0]!.pkt.bytes()).toEqual(f);
    expect(rec.got[0]!.pkt.linkHeader).toBe(rec.got[0]!.pkt.head);
    expect(ep.writePackets([PacketBuffer.withPayload(0, f)])).toBe(1);
    expect(readPeer(peer)).toEqual(f);
  });
});

describe("FdEndpoint, virtio-net header", () => {
  test("advertises offloads", () => {
    const { ep } = setup({ framing: "ip", vnetHdr: true });
    expect(ep.capabilities & LinkCapability.HardwareGSO).toBe(LinkCapability.HardwareGSO);
    expect(ep.capabilities & LinkCapability.RXChecksumOffload).toBe(LinkCapability.RXChecksumOffload);
    expect(ep.capabilities & LinkCapability.TXChecksumOffload).toBe(0);
    expect(ep.gsoMaxSize).toBe(65535);
    const tx = setup({ framing: "ip", vnetHdr: true, txChecksumOffload: true }).ep;
    expect(tx.capabilities & LinkCapability.TXChecksumOffload).toBe(LinkCapability.TXChecksumOffload);
  });

  test("inbound: a GRO super-packet gets pkt.gso and checksumVerified; offsets from the IP header", async () => {
    const { ep, peer } = setup({ framing: "ethernet", linkAddress: OUR_MAC, vnetHdr: true });
    const rec = new Recorder();
    ep.attach(rec);
    const ip = ipv4Packet(5000, 3);
    writeFd(
      peer,
      vnet(
        { flags: 1, gsoType: 0x81, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 },
        frame(OUR_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ip),
      ),
    );
    writeFd(peer, vnet({ flags: 2 }, frame(OUR_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ipv4Packet(20))));
    writeFd(peer, vnet({}, frame(OUR_MAC, PEER_MAC, IPV4_PROTOCOL_NUMBER, ipv4Packet(20))));
    await rec.until(3);
    const [a, b, c] = rec.got;
    expect(a!.pkt.bytes()).toEqual(ip);
    expect(a!.pkt.checksumVerified).toBe(true);
    expect(a!.pkt.gso).toEqual(tcp4Gso());
    expect(b!.pkt.checksumVerified).toBe(true);
    expect(b!.pkt.gso).toBeUndefined();
    expect(c!.pkt.checksumVerified).toBe(false);
    expect(ep.stats.rxGsoPackets).toBe(1);
    expect(ep.stats.rxBytes).toBe(5014 + 34 + 34);
  });

  test("inbound: shorter than a virtio header, or an undefined gso type, is malformed", async () => {
    const { ep, peer } = setup({ framing: "ip", vnetHdr: true });
    const rec = new Recorder();
    ep.attach(rec);
    writeFd(peer, new Uint8Array(5));
    writeFd(peer, vnet({ gsoType: 2 }, ipv4Packet(20)));
    writeFd(peer, vnet({ gsoType: 0x46 }, ipv4Packet(20)));
    writeFd(peer, vnet({}, ipv4Packet(20)));
    await rec.until(1);
    expect(ep.stats.rxMalformed).toBe(3);
  });

  test("outbound: pkt.gso becomes the virtio header, in headroom or gathered with writev", () => {
    const { ep, peer } = setup({ framing: "ip", vnetHdr: true });
    const body = ipv4Packet(3000, 1);
    const gso = tcp4Gso();
    const roomy = PacketBuffer.withPayload(64, body);
    roomy.gso = gso;
    const tight = PacketBuffer.withPayload(0, body);
    tight.gso = gso;
    const plain = PacketBuffer.withPayload(0, ipv4Packet(20, 2));
    expect(ep.writePackets([roomy, tight, plain])).toBe(3);
    const want = vnet(TCP4_GSO_VIRTIO, body);
    expect(readPeer(peer)).toEqual(want);
    expect(readPeer(peer)).toEqual(want);
    expect(readPeer(peer)).toEqual(vnet({}, ipv4Packet(20, 2)));
    expect(roomy.head).toBe(64); // the packet itself is unchanged
    expect(ep.stats.txGsoPackets).toBe(2);
    expect(ep.stats.txBytes).toBe(6020);
  });

  test("outbound: TCP segments written in one turn leave as one GSO super-packet, after what came first", async () => {
    const { ep, peer } = setup({ framing: "ip", vnetHdr: true });
    const before = PacketBuffer.withPayload(0, ipv4Packet(20, 9)); // UDP: written at once
    expect(ep.writePackets([before])).toBe(1);
    expect(ep.writePackets([tcpSegment(100, 1000), tcpSegment(1100, 1000)])).toBe(2);
    expect(ep.writePackets([tcpSegment(2100, 500)])).toBe(1);
    expect(readPeer(peer)).toEqual(vnet({}, ipv4Packet(20, 9)));
    expect(readFd(peer, new Uint8Array(70000))).toBe(-ERRNO.EAGAIN); // the run waits for the end of the turn...
    await Promise.resolve();
    const got = readPeer(peer); // ...then goes out as one write
    expect(got.length).toBe(VIRTIO_NET_HDR_SIZE + 40 + 2500);
    expect(got[1]).toBe(1); // gso_type TCPV4
    expect(new DataView(got.buffer, got.byteOffset).getUint16(4, true)).toBe(1000); // gso_size
    expect(ep.stats.txPackets).toBe(4);
    expect(ep.stats.txGsoPackets).toBe(1);
    // A packet that is not TCP flushes the open run first, so the order on the wire holds.
    ep.writePackets([tcpSegment(2600, 1000), PacketBuffer.withPayload(0, ipv4Packet(20, 3))]);
    expect(readPeer(peer).length).toBe(VIRTIO_NET_HDR_SIZE + 1040);
    expect(readPeer(peer)).toEqual(vnet({}, ipv4Packet(20, 3)));
  });

  test("outbound: txCoalesce false writes every segment at once", () => {
    const { ep, peer } = setup({ framing: "ip", vnetHdr: true, txCoalesce: false });
    ep.writePackets([tcpSegment(100, 1000), tcpSegment(1100, 1000)]);
    expect(readPeer(peer).length).toBe(VIRTIO_NET_HDR_SIZE + 1040);
    expect(readPeer(peer).length).toBe(VIRTIO_NET_HDR_SIZE + 1040);
  });

  test("outbound in Ethernet framing counts the 14 header bytes into csum_start and hdr_len", () => {
    const { ep, peer } = setup({ framing: "ethernet", linkAddress: OUR_MAC, vnetHdr: true });
    const body = ipv4Packet(100, 1);
    const p = PacketBuffer.withPayload(32, body);
    p.networkProtocol = IPV4_PROTOCOL_NUMBER;
    p.linkDst = PEER_MAC;
    p.gso = { type: 0, size: 0, headerLength: 28, needsChecksum: true, checksumStart: 20, checksumOffset: 6 };
    expect(ep.writePackets([p])).toBe(1);
    expect(readPeer(peer)).toEqual(
      vnet(
        { flags: 1, hdrLen: 42, csumStart: 34, csumOffset: 6 },
        frame(PEER_MAC, OUR_MAC, IPV4_PROTOCOL_NUMBER, body),
      ),
    );
  });
});

describe("FdEndpoint, batches (issue 10)", () => {
  test("every drain is one batch: beginBatch before its packets, endBatch after, balanced", async () => {
    const { ep, peer } = setup({ framing: "ip", batchSize: 4 });
    const events: string[] = [];
    let depth = 0;
    const rec = new Recorder();
    const d: NetworkDispatcher = {
      beginBatch: () => {
        depth++;
        events.push("begin");
      },
      endBatch: () => {
        depth--;
        events.push("end");
      },
      deliverNetworkPacket: (protocol, pkt) => {
        expect(depth).toBe(1);
        events.push("pkt");
        rec.deliverNetworkPacket(protocol, pkt);
      },
    };
    ep.attach(d);
    for (let i = 0; i < 10; i++) writeFd(peer, ipv4Packet(64, i));
    await rec.until(10);
    // Let the drain that delivered the last packet end its batch.
    await new Promise((r) => setImmediate(r));
    expect(depth).toBe(0);
    expect(events.filter((e) => e === "pkt").length).toBe(10);
    // No more than batchSize packets between a begin and its end.
    let inBatch = 0;
    for (const e of events) {
      if (e === "begin") inBatch = 0;
      else if (e === "pkt") expect(++inBatch).toBeLessThanOrEqual(4);
    }
    expect(events.lastIndexOf("end")).toBeGreaterThan(events.lastIndexOf("pkt"));
  });

  test("a batch also ends once batchBytes were read, so its ACK is not held back by a long run of big packets", async () => {
    const { ep, peer } = setup({ framing: "ip", batchBytes: 4000 });
    const rec = new Recorder();
    ep.attach(rec);
    for (let i = 0; i < 20; i++) writeFd(peer, ipv4Packet(1500, i));
    await rec.until(20);
    await new Promise((r) => setImmediate(r));
    // A batch stops at the first packet that reaches 4000 bytes: three of 1500.
    expectBatchBytesLimited(rec, 4000, 20, 1500);
    expect(ep.stats.rxBatchLimited).toBeGreaterThan(0);
  });
});

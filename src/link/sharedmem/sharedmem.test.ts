import { afterEach, describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { parseMACAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { EthernetEndpoint } from "../ethernet/ethernet.ts";
import type { NetworkDispatcher } from "../link-endpoint.ts";
import {
  ipv4Packet,
  ipv6Packet,
  packetSeq,
  runLinkConformance,
  type WirePacket,
} from "../testing/conformance.ts";
import { ethernetFrame, parseEthernetFrame } from "../testing/frames.ts";
import { RxQueue } from "./queue/rx.ts";
import { TxQueue } from "./queue/tx.ts";
import { createSharedMemRegion, readSharedMemRegion, sharedMemRegionSize } from "./region.ts";
import { createSharedMemPair, SharedMemEndpoint } from "./sharedmem.ts";

const MAC_A = parseMACAddress("02:00:00:00:00:0a");
const MAC_OTHER = parseMACAddress("02:00:00:00:00:99");

/** One event-loop turn plus a little: long enough for a posted wake-up to be handled. */
const settle = () => new Promise<void>((r) => setTimeout(r, 1));

/** The far end of side 0's region, driven directly through the queues (it is the wire). */
function rawPeer(buffer: SharedArrayBuffer) {
  const info = readSharedMemRegion(buffer);
  const tx = new TxQueue(buffer, info.lanes[1].base, info.config);
  const rx = new RxQueue(buffer, info.lanes[0].base, info.config);
  return {
    tx,
    rx,
    send(protocol: number, bytes: Uint8Array): void {
      tx.enqueue(bytes, 0, bytes.length, protocol);
      tx.commit();
    },
    receive(): WirePacket[] {
      const out: WirePacket[] = [];
      for (let n = rx.next(); n >= 0; n = rx.next()) {
        const b = new Uint8Array(n);
        if (rx.copyTo(b, 0)) out.push({ protocol: rx.protocol, bytes: b });
      }
      rx.flush();
      return out;
    },
  };
}

runLinkConformance("sharedmem (wire: the raw queues of the other side)", () => {
  const buffer = createSharedMemRegion({ mtu: 1500 });
  const link = new SharedMemEndpoint(buffer, { side: 0 });
  const peer = rawPeer(buffer);
  return {
    link,
    inject: (protocol, bytes) => peer.send(protocol, bytes),
    takeWritten: () => peer.receive(),
    settle,
    close: () => link.close(),
  };
});

runLinkConformance("sharedmem pair (wire: another SharedMemEndpoint)", () => {
  const [a, b] = createSharedMemPair({ mtu: 1500, bufferCount: 64 });
  const seen: WirePacket[] = [];
  b.attach({ deliverNetworkPacket: (protocol, pkt) => seen.push({ protocol, bytes: pkt.bytes().slice() }) });
  return {
    link: a,
    inject: (protocol, bytes) => {
      const p = PacketBuffer.withPayload(0, bytes);
      p.networkProtocol = protocol;
      b.writePackets([p]);
    },
    takeWritten: () => seen.splice(0),
    settle,
    close: () => {
      a.close();
      b.close();
    },
  };
});

runLinkConformance("ethernet over sharedmem frames", () => {
  const buffer = createSharedMemRegion({ mtu: 1500, frames: true });
  const lower = new SharedMemEndpoint(buffer, { side: 0, linkAddress: MAC_A });
  const link = new EthernetEndpoint(lower);
  const peer = rawPeer(buffer);
  return {
    link,
    inject: (protocol, bytes) => peer.send(0, ethernetFrame(MAC_A, MAC_OTHER, protocol, bytes)),
    injectRaw: (bytes) => peer.send(0, bytes),
    takeWritten: () =>
      peer.receive().map(({ bytes }) => {
        const f = parseEthernetFrame(bytes)!;
        return { protocol: f.type, bytes: f.payload.slice() };
      }),
    settle,
    close: () => lower.close(),
  };
});

class Recorder implements NetworkDispatcher {
  got: { protocol: number; bytes: Uint8Array }[] = [];
  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    this.got.push({ protocol, bytes: pkt.bytes().slice() });
  }
}

function out(bytes: Uint8Array, protocol = 0): PacketBuffer {
  const p = PacketBuffer.withPayload(0, bytes);
  p.networkProtocol = protocol;
  return p;
}

async function until(cond: () => boolean, rounds = 500): Promise<void> {
  for (let i = 0; i < rounds && !cond(); i++) await settle();
}

describe("SharedMemEndpoint", () => {
  const opened: SharedMemEndpoint[] = [];
  const track = <T extends SharedMemEndpoint[]>(eps: T): T => {
    opened.push(...eps);
    return eps;
  };
  afterEach(() => {
    for (const e of opened.splice(0)) e.close();
  });

  test("opening checks the region: wrong side, foreign or truncated buffers throw ErrInvalidOptionValue", () => {
    const buffer = createSharedMemRegion();
    expect(() => new SharedMemEndpoint(buffer, { side: 2 as 0 })).toThrow(ErrInvalidOptionValue);
    expect(() => new SharedMemEndpoint(new SharedArrayBuffer(4096), { side: 0 })).toThrow(
      ErrInvalidOptionValue,
    );
    const short = new SharedArrayBuffer(buffer.byteLength - 64);
    new Uint8Array(short).set(new Uint8Array(buffer, 0, short.byteLength));
    expect(() => new SharedMemEndpoint(short, { side: 0 })).toThrow(ErrInvalidOptionValue);
    const forged = new SharedArrayBuffer(buffer.byteLength);
    new Uint8Array(forged).set(new Uint8Array(buffer));
    new Uint32Array(forged)[7] = 1 << 30; // buffer count past the region
    expect(() => new SharedMemEndpoint(forged, { side: 0 })).toThrow(ErrInvalidOptionValue);
    expect(() => createSharedMemRegion({ mtu: 20 })).toThrow(ErrInvalidOptionValue);
    expect(sharedMemRegionSize()).toBe(buffer.byteLength);
  });

  test("both directions at once; the protocol is inferred from the IP version when unset", async () => {
    const [a, b] = track(createSharedMemPair());
    const ra = new Recorder();
    const rb = new Recorder();
    a.attach(ra);
    b.attach(rb);
    for (let i = 0; i < 100; i++) {
      expect(a.writePackets([out(ipv4Packet(i, i * 10))])).toBe(1);
      expect(b.writePackets([out(ipv6Packet(i, 1400 - i))])).toBe(1);
    }
    await until(() => ra.got.length === 100 && rb.got.length === 100);
    expect(rb.got.map((g) => packetSeq(g.bytes))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(ra.got.every((g) => g.protocol === IPV6_PROTOCOL_NUMBER)).toBe(true);
    expect(rb.got.every((g) => g.protocol === IPV4_PROTOCOL_NUMBER)).toBe(true);
    expect(rb.got[42]!.bytes).toEqual(ipv4Packet(42, 420));
    expect(a.stats.txPackets).toBe(100);
    expect(b.stats.rxPackets).toBe(100);
  });

  test("a full lane drops the rest of the batch and says so; waitWritable resolves once buffers return", async () => {
    const [a, b] = track(createSharedMemPair({ bufferCount: 8 }));
    const batch = Array.from({ length: 20 }, (_, i) => out(ipv4Packet(i, 1000), IPV4_PROTOCOL_NUMBER));
    expect(a.writePackets(batch)).toBe(8); // b is detached: nothing is read
    expect(a.stats.txFull).toBe(1);
    const writable = a.waitWritable();
    const rb = new Recorder();
    b.attach(rb);
    await writable;
    await until(() => rb.got.length === 8);
    expect(rb.got.map((g) => packetSeq(g.bytes))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.writePackets(batch.slice(8))).toBe(8);
  });

  test("a huge transfer with a small lane: the sender waits for buffers, nothing is lost or reordered", async () => {
    const [a, b] = track(createSharedMemPair({ bufferCount: 16 }));
    const rb = new Recorder();
    b.attach(rb);
    const total = 2000;
    let sent = 0;
    while (sent < total) {
      const batch: PacketBuffer[] = [];
      for (let i = sent; i < Math.min(total, sent + 32); i++) batch.push(out(ipv4Packet(i, 200)));
      sent += a.writePackets(batch);
      if (sent < total) await a.waitWritable();
    }
    await until(() => rb.got.length === total);
    expect(rb.got.map((g) => packetSeq(g.bytes))).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  test("an idle reader sleeps: it wakes once per batch, not once per poll", async () => {
    const [a, b] = track(createSharedMemPair());
    const rb = new Recorder();
    b.attach(rb);
    for (let i = 0; i < 20; i++) await settle();
    expect(b.stats.rxWakeups).toBe(0);
    a.writePackets(Array.from({ length: 50 }, (_, i) => out(ipv4Packet(i))));
    await until(() => rb.got.length === 50);
    expect(b.stats.rxWakeups).toBe(1);
  });

  test("a busy reader drains in batches of batchSize and yields in between", async () => {
    const [a, b] = track(createSharedMemPair({ batchSize: 10 }));
    const rb = new Recorder();
    a.writePackets(Array.from({ length: 100 }, (_, i) => out(ipv4Packet(i))));
    b.attach(rb);
    await new Promise((r) => setImmediate(r));
    expect(rb.got.length).toBe(10);
    await until(() => rb.got.length === 100);
    expect(b.stats.rxBatchLimited).toBeGreaterThanOrEqual(9);
  });

  test("with spinMs the reader keeps polling for a while after traffic, then sleeps again", async () => {
    const [a, b] = track(createSharedMemPair({ spinMs: 2 }));
    const rb = new Recorder();
    b.attach(rb);
    a.writePackets([out(ipv4Packet(1))]);
    await until(() => rb.got.length === 1);
    a.writePackets([out(ipv4Packet(2))]);
    await until(() => rb.got.length === 2);
    const wakeups = b.stats.rxWakeups;
    // Well after the spin it sleeps: the next packet needs exactly one wake-up.
    for (let i = 0; i < 20; i++) await settle();
    a.writePackets([out(ipv4Packet(3))]);
    await until(() => rb.got.length === 3);
    expect(b.stats.rxWakeups).toBe(wakeups + 1);
    expect(rb.got.map((g) => packetSeq(g.bytes))).toEqual([1, 2, 3]);
  });

  test("a dispatcher that throws is counted and does not stop the link", async () => {
    const errors: unknown[] = [];
    const [a, b] = track(createSharedMemPair({ onError: (e) => errors.push(e) }));
    let n = 0;
    b.attach({
      deliverNetworkPacket: () => {
        if (n++ === 0) throw new Error("boom");
      },
    });
    a.writePackets([out(ipv4Packet(1)), out(ipv4Packet(2))]);
    await until(() => n === 2);
    expect(n).toBe(2);
    expect(b.stats.rxErrors).toBe(1);
    expect(errors.length).toBe(1);
  });

  test("packets without an IP version or empty are counted as malformed, not delivered", async () => {
    const buffer = createSharedMemRegion();
    const [link] = track([new SharedMemEndpoint(buffer, { side: 0 })]);
    const peer = rawPeer(buffer);
    const r = new Recorder();
    link.attach(r);
    peer.send(0, Uint8Array.of(0x12, 0, 0, 0));
    peer.send(0x800, new Uint8Array(0));
    peer.send(0, ipv4Packet(5));
    await until(() => r.got.length === 1);
    await settle();
    expect(r.got.map((g) => [g.protocol, packetSeq(g.bytes)])).toEqual([[IPV4_PROTOCOL_NUMBER, 5]]);
    expect(link.stats.rxMalformed).toBe(2);
  });

  test("a peer that corrupts the rings is counted (peerBroken) and never makes the link throw", async () => {
    const buffer = createSharedMemRegion();
    const [link] = track([new SharedMemEndpoint(buffer, { side: 0 })]);
    const info = readSharedMemRegion(buffer);
    const r = new Recorder();
    link.attach(r);
    const i32 = new Int32Array(buffer);
    // Their descriptor tail jumps far ahead, then so does their completion tail.
    Atomics.store(i32, (info.lanes[1].descriptorBase + 64) >>> 2, 1 << 20);
    rawPeer(buffer).tx.dataNotifier.signal();
    await until(() => link.stats.peerBroken >= 1);
    expect(link.stats.peerBroken).toBe(1);
    Atomics.store(i32, (info.lanes[0].completionBase + 64) >>> 2, 1 << 20);
    for (let i = 0; i < 300; i++) link.writePackets([out(ipv4Packet(i, 1400))]);
    expect(link.stats.peerBroken).toBe(2);
    expect(r.got.length).toBe(0);
  });

  test("while detached nothing is read; on re-attach the waiting packets arrive", async () => {
    const [a, b] = track(createSharedMemPair());
    const rb = new Recorder();
    b.attach(rb);
    b.attach(undefined);
    a.writePackets([out(ipv4Packet(1)), out(ipv4Packet(2))]);
    for (let i = 0; i < 5; i++) await settle();
    expect(rb.got.length).toBe(0);
    b.attach(rb);
    await until(() => rb.got.length === 2);
    expect(rb.got.map((g) => packetSeq(g.bytes))).toEqual([1, 2]);
  });

  test("after close writes are refused and nothing is delivered", async () => {
    const [a, b] = track(createSharedMemPair());
    const rb = new Recorder();
    b.attach(rb);
    await settle();
    b.close();
    expect(b.writePackets([out(ipv4Packet(1))])).toBe(0);
    a.writePackets([out(ipv4Packet(2))]);
    for (let i = 0; i < 5; i++) await settle();
    expect(rb.got.length).toBe(0);
    expect(b.isAttached()).toBe(false);
    await b.waitWritable();
  });
});

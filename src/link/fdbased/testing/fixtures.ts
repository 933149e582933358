/**
 * Fixtures the tests of both fd endpoints share (fd-endpoint.test.ts for
 * `FdEndpoint`, threaded-endpoint.test.ts for `ThreadedFdEndpoint`): a
 * recording dispatcher, endpoints over one end of a SOCK_SEQPACKET pair with
 * the test playing the device on the other, and the packets they exchange.
 */
import { expect } from "bun:test";
import { type GsoInfo, PacketBuffer } from "../../../buffer/packet-buffer.ts";
import {
  encodeVirtioNetHeader,
  VIRTIO_NET_HDR_SIZE,
  type VirtioNetFields,
} from "../../../header/virtio-net.ts";
import type { NetworkDispatcher } from "../../link-endpoint.ts";
import {
  AF_UNIX,
  close,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socketpair,
  writeFd,
} from "../../rawfile/index.ts";

/** One delivered packet: its protocol, its bytes (copied at delivery) and the packet itself. */
export interface Delivered {
  protocol: number;
  bytes: Uint8Array;
  pkt: PacketBuffer;
}

/** A dispatcher that records packets and batches, and resolves `until(n)` once `n` packets have arrived. */
export class Recorder implements NetworkDispatcher {
  readonly got: Delivered[] = [];
  batches = 0;
  /** Bytes (`pkt.size`) of each ended batch, in order. */
  readonly batchBytes: number[] = [];
  private openBytes = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    this.openBytes += pkt.size;
    this.got.push({ protocol, bytes: pkt.data.slice(pkt.head, pkt.tail), pkt });
    this.waiters = this.waiters.filter((w) => {
      if (this.got.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  beginBatch(): void {
    this.batches++;
    this.openBytes = 0;
  }

  endBatch(): void {
    this.batchBytes.push(this.openBytes);
  }

  until(n: number): Promise<void> {
    if (this.got.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ n, resolve });
      setTimeout(() => reject(new Error(`only ${this.got.length} of ${n} packets arrived`)), 10_000);
    });
  }
}

/** What `SocketPairs` needs of an endpoint to shut it down. */
export interface Closable {
  close(): void;
  wait(): Promise<void>;
}

/**
 * Endpoints over one end of a SOCK_SEQPACKET pair (boundary-preserving like a
 * TUN, no root needed); the test plays the device on `peer`. Call `closeAll`
 * from `afterEach`.
 */
export class SocketPairs<E extends Closable> {
  private readonly live: { ep: E; peer: number }[] = [];

  /** `make` gets the endpoint's end (nonblocking, close-on-exec) and must take ownership of it. */
  open(make: (fd: number) => E): { ep: E; peer: number } {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    let ep: E;
    try {
      ep = make(a);
    } catch (e) {
      close(a);
      close(b);
      throw e;
    }
    this.live.push({ ep, peer: b });
    return { ep, peer: b };
  }

  async closeAll(): Promise<void> {
    for (const { ep, peer } of this.live.splice(0)) {
      ep.close();
      await ep.wait();
      close(peer);
    }
  }
}

/** `body` behind a virtio-net header with these fields (the others zero). */
export function vnet(fields: Partial<VirtioNetFields>, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(VIRTIO_NET_HDR_SIZE + body.length);
  encodeVirtioNetHeader(b, 0, {
    flags: 0,
    gsoType: 0,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: 0,
    ...fields,
  });
  b.set(body, VIRTIO_NET_HDR_SIZE);
  return b;
}

/** An IPv4 TCP segment (ACK, 20-byte header) of `len` payload bytes at `seq`, 32 bytes of headroom; checksums left zero. */
export function tcpSegment(seq: number, len: number): PacketBuffer {
  const b = new Uint8Array(40 + len);
  const dv = new DataView(b.buffer);
  b[0] = 0x45;
  dv.setUint16(2, b.length);
  b[8] = 64;
  b[9] = 6;
  b.set([198, 18, 0, 1, 198, 18, 0, 2], 12);
  dv.setUint16(20, 7);
  dv.setUint16(22, 40000);
  dv.setUint32(24, seq);
  dv.setUint32(28, 1);
  b[32] = 5 << 4;
  b[33] = 0x10;
  dv.setUint16(34, 1000);
  b.fill(seq & 0xff, 40);
  return PacketBuffer.withPayload(32, b);
}

/**
 * The offload of an IPv4 TCP super-packet as the stack describes it (`pkt.gso`):
 * 20 + 32 header bytes, 1448-byte segments, checksum partial at the TCP header.
 * A fresh object each call.
 */
export function tcp4Gso(): GsoInfo {
  return {
    type: 1,
    size: 1448,
    headerLength: 52,
    needsChecksum: true,
    checksumStart: 20,
    checksumOffset: 16,
  };
}

/** The virtio header of `tcp4Gso()` on a TUN (the kernel counts from the IP header, as the stack does). */
export const TCP4_GSO_VIRTIO: Readonly<VirtioNetFields> = {
  flags: 1,
  gsoType: 1,
  hdrLen: 52,
  gsoSize: 1448,
  csumStart: 20,
  csumOffset: 16,
};

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What `expectSlabsReused` needs of an endpoint with receive slabs (receive-slabs.ts). */
export interface SlabEndpoint {
  attach(dispatcher: NetworkDispatcher | undefined): void;
  readonly stats: { rxSlabs: number };
}

/**
 * The receive-slab properties both fd endpoints share: a slab nothing holds is
 * rewound; a held one keeps its bytes until released, then is reused instead
 * of a new allocation. Attaches its own dispatcher to `ep` and writes 6,000
 * packets `packet(i)` into `peer`; they must be distinct and about 1,400 bytes
 * (3,000 of them: four 1 MiB slabs' worth).
 */
export async function expectSlabsReused(
  ep: SlabEndpoint,
  peer: number,
  packet: (i: number) => Uint8Array,
): Promise<void> {
  const rec = new Recorder();
  /** Packets to hold when they arrive, like TCP keeping a view of a segment: it holds the lease first. */
  const holdAt = new Set([0, 3000]);
  ep.attach({
    deliverNetworkPacket(protocol, pkt) {
      if (holdAt.has(rec.got.length)) pkt.lease!.hold();
      rec.deliverNetworkPacket(protocol, pkt);
    },
  });
  const send = async (from: number, n: number): Promise<void> => {
    let sent = from;
    const pump = (): void => {
      while (sent < from + n && writeFd(peer, packet(sent)) > 0) sent++;
      if (sent < from + n) setImmediate(pump);
    };
    pump();
    await rec.until(from + n);
  };
  await send(0, 3000);
  // The first packet's slab is held (retired); one more slab is rewound again and again.
  expect(ep.stats.rxSlabs).toBe(2);
  const first = rec.got[0]!.pkt;
  for (const g of rec.got)
    if (g.pkt.data.buffer === first.data.buffer) expect(g.pkt.bytes()).toEqual(g.bytes);
  // The rewound slab's earlier packets now show later bytes: the memory really is reused.
  const overwritten = rec.got.filter(
    (g) => g.pkt.data.buffer !== first.data.buffer && !equalBytes(g.pkt.bytes(), g.bytes),
  );
  expect(overwritten.length).toBeGreaterThan(0);
  // Released, the first slab is free again: when packet 3000 holds the current slab, the first one
  // takes its place instead of a third allocation.
  first.lease!.release();
  await send(3000, 3000);
  expect(ep.stats.rxSlabs).toBe(2);
  const second = rec.got[3000]!.pkt;
  expect(second.data.buffer).not.toBe(first.data.buffer);
  expect(second.bytes()).toEqual(rec.got[3000]!.bytes);
}

/**
 * Checks a run of `count` packets of `size` bytes delivered with `batchBytes` set to `limit`: each
 * batch stopped at the first packet that reached `limit`, and all arrived.
 */
export function expectBatchBytesLimited(rec: Recorder, limit: number, count: number, size: number): void {
  for (const b of rec.batchBytes) expect(b).toBeLessThan(limit + size);
  expect(rec.batchBytes.reduce((a, b) => a + b, 0)).toBe(count * size);
}

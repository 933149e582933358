import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  VirtioNetHeader,
} from "../../header/virtio-net.ts";
import { TcpGsoCoalescer } from "./tcp-gso-coalescer.ts";

const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;

interface Seg {
  seq: number;
  len: number;
  flags?: number;
  ack?: number;
  id?: number;
  window?: number;
  v6?: boolean;
}

/** A fully checksummed IPv4 or IPv6 TCP segment with a 12-byte option block (NOP NOP TS). */
function segment(s: Seg): Uint8Array {
  const ihl = s.v6 ? 40 : 20;
  const doff = 32;
  const b = new Uint8Array(ihl + doff + s.len);
  const dv = new DataView(b.buffer);
  if (s.v6) {
    dv.setUint32(0, 0x60000000);
    dv.setUint16(4, doff + s.len);
    b[6] = 6;
    b[7] = 64;
    b.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 8);
    b.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 24);
  } else {
    b[0] = 0x45;
    dv.setUint16(2, b.length);
    dv.setUint16(4, s.id ?? 7);
    dv.setUint16(6, 0x4000); // DF
    b[8] = 64;
    b[9] = 6;
    b.set([198, 18, 0, 2, 198, 18, 0, 1], 12);
    dv.setUint16(10, finishChecksum(checksum(b, 0, 20)));
  }
  const t = ihl;
  dv.setUint16(t, 19);
  dv.setUint16(t + 2, 40000);
  dv.setUint32(t + 4, s.seq >>> 0);
  dv.setUint32(t + 8, s.ack ?? 1000);
  b[t + 12] = (doff / 4) << 4;
  b[t + 13] = s.flags ?? ACK;
  dv.setUint16(t + 14, s.window ?? 500);
  b.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t + 20);
  for (let i = 0; i < s.len; i++) b[ihl + doff + i] = (s.seq + i) & 0xff;
  dv.setUint16(t + 16, finishChecksum(checksum(b, t, b.length - t, pseudo(b, s.v6 === true, b.length - t))));
  return b;
}

function pseudo(b: Uint8Array, v6: boolean, tcpLength: number): number {
  const sum = v6 ? checksum(b, 8, 32) : checksum(b, 12, 8);
  const s = sum + 6 + tcpLength;
  return (s & 0xffff) + (s >>> 16);
}

/**
 * The kernel's side (Linux tcp_gso_segment) as a reference: cuts a super-packet
 * back into gso_size segments, each with its own lengths, sequence number,
 * IPv4 ID and full checksums; PSH and FIN only on the last.
 */
function cut(pkt: Uint8Array): Uint8Array[] {
  const vh = new VirtioNetHeader(pkt, 0);
  const ip = pkt.subarray(VIRTIO_NET_HDR_SIZE);
  const hdrLen = vh.hdrLen;
  const ihl = vh.csumStart;
  const v6 = ip[0]! >>> 4 === 6;
  const out: Uint8Array[] = [];
  const dvIn = new DataView(ip.buffer, ip.byteOffset);
  const seq0 = dvIn.getUint32(ihl + 4);
  for (let off = hdrLen, k = 0; off < ip.length; off += vh.gsoSize, k++) {
    const len = Math.min(vh.gsoSize, ip.length - off);
    const s = new Uint8Array(hdrLen + len);
    s.set(ip.subarray(0, hdrLen));
    s.set(ip.subarray(off, off + len), hdrLen);
    const dv = new DataView(s.buffer);
    const last = off + len >= ip.length;
    if (v6) dv.setUint16(4, s.length - 40);
    else {
      dv.setUint16(2, s.length);
      dv.setUint16(4, dvIn.getUint16(4) + k);
      dv.setUint16(10, 0);
      dv.setUint16(10, finishChecksum(checksum(s, 0, ihl)));
    }
    dv.setUint32(ihl + 4, (seq0 + (off - hdrLen)) >>> 0);
    if (!last) s[ihl + 13] = s[ihl + 13]! & ~(PSH | FIN);
    dv.setUint16(ihl + 16, 0);
    dv.setUint16(ihl + 16, finishChecksum(checksum(s, ihl, s.length - ihl, pseudo(s, v6, s.length - ihl))));
    out.push(s);
  }
  return out;
}

function collect(max?: number): { c: TcpGsoCoalescer; writes: { pkt: Uint8Array; segments: number }[] } {
  const writes: { pkt: Uint8Array; segments: number }[] = [];
  const c = new TcpGsoCoalescer(
    (buf, len, segments) => writes.push({ pkt: buf.slice(0, len), segments }),
    max,
  );
  return { c, writes };
}

function add(c: TcpGsoCoalescer, p: Uint8Array): boolean {
  return c.add(p, 0, p.length);
}

describe("TcpGsoCoalescer", () => {
  test("consecutive full segments and a short last one become one GSO packet the kernel cuts back into the same segments", () => {
    const { c, writes } = collect();
    const segs = [
      segment({ seq: 5000, len: 1448, id: 10 }),
      segment({ seq: 6448, len: 1448, id: 11 }),
      segment({ seq: 7896, len: 1448, id: 12 }),
      segment({ seq: 9344, len: 300, id: 13, flags: ACK | PSH }),
    ];
    for (const s of segs) expect(add(c, s)).toBe(true);
    expect(writes.length).toBe(0);
    c.flush();
    expect(writes.length).toBe(1);
    const w = writes[0]!;
    expect(w.segments).toBe(4);
    const vh = new VirtioNetHeader(w.pkt, 0);
    expect(vh.flags).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(vh.gsoType).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vh.gsoSize).toBe(1448);
    expect(vh.hdrLen).toBe(52);
    expect(vh.csumStart).toBe(20);
    expect(vh.csumOffset).toBe(16);
    expect(w.pkt.length).toBe(VIRTIO_NET_HDR_SIZE + 52 + 3 * 1448 + 300);
    const again = cut(w.pkt);
    expect(again).toEqual(segs);
  });

  test("IPv6 segments merge the same way", () => {
    const { c, writes } = collect();
    const segs = [segment({ seq: 1, len: 1000, v6: true }), segment({ seq: 1001, len: 1000, v6: true })];
    for (const s of segs) add(c, s);
    c.flush();
    expect(writes.length).toBe(1);
    const vh = new VirtioNetHeader(writes[0]!.pkt, 0);
    expect(vh.gsoType).toBe(VIRTIO_NET_HDR_GSO_TCPV6);
    expect(vh.csumStart).toBe(40);
    expect(cut(writes[0]!.pkt)).toEqual(segs);
  });

  test("a single segment goes out unchanged behind a zero virtio header", () => {
    const { c, writes } = collect();
    const s = segment({ seq: 1, len: 100 });
    add(c, s);
    c.flush();
    c.flush();
    expect(writes.length).toBe(1);
    expect(writes[0]!.segments).toBe(1);
    expect(writes[0]!.pkt.subarray(0, VIRTIO_NET_HDR_SIZE)).toEqual(new Uint8Array(VIRTIO_NET_HDR_SIZE));
    expect(writes[0]!.pkt.subarray(VIRTIO_NET_HDR_SIZE)).toEqual(s);
  });

  test("a gap, another ACK number or window, or a short segment before the end starts a new run", () => {
    const { c, writes } = collect();
    add(c, segment({ seq: 0, len: 1000 }));
    add(c, segment({ seq: 2000, len: 1000 })); // gap
    add(c, segment({ seq: 3000, len: 1000, ack: 1001 })); // new ACK number
    add(c, segment({ seq: 4000, len: 1000, ack: 1001, window: 501 })); // new window
    add(c, segment({ seq: 5000, len: 500, ack: 1001, window: 501 })); // short: ends the run...
    add(c, segment({ seq: 5500, len: 500, ack: 1001, window: 501 })); // ...so this opens the next
    c.flush();
    expect(writes.map((w) => w.segments)).toEqual([1, 1, 1, 2, 1]);
  });

  test("SYN, RST and segments without payload are not taken; a FIN ends the run", () => {
    const { c, writes } = collect();
    expect(add(c, segment({ seq: 0, len: 0 }))).toBe(false);
    expect(add(c, segment({ seq: 0, len: 10, flags: SYN }))).toBe(false);
    expect(add(c, segment({ seq: 0, len: 10, flags: 0x04 }))).toBe(false);
    expect(writes.length).toBe(0);
    const segs = [
      segment({ seq: 0, len: 1000, id: 7 }),
      segment({ seq: 1000, len: 10, id: 8, flags: ACK | FIN }),
    ];
    add(c, segs[0]!);
    add(c, segs[1]!);
    expect(writes.length).toBe(1); // flushed by the FIN
    expect(cut(writes[0]!.pkt)).toEqual(segs);
    add(c, segment({ seq: 1011, len: 10 }));
    c.flush();
    expect(writes.length).toBe(2);
  });

  test("not TCP, or IPv4 fragments, are not taken", () => {
    const { c } = collect();
    const udp = segment({ seq: 0, len: 100 });
    udp[9] = 17;
    expect(add(c, udp)).toBe(false);
    const frag = segment({ seq: 0, len: 100 });
    frag[6] = 0x20; // MF
    expect(add(c, frag)).toBe(false);
    expect(c.add(new Uint8Array([0x10, 0, 0]), 0, 3)).toBe(false);
  });

  test("a run stops below the largest IP packet (or the configured size)", () => {
    const { c, writes } = collect(10_000);
    for (let i = 0; i < 10; i++) add(c, segment({ seq: i * 1448, len: 1448 }));
    c.flush();
    // 52 header bytes + 6 × 1448 = 8740 fit in 10,000; a seventh would not.
    expect(writes.map((w) => w.segments)).toEqual([6, 4]);
    for (const w of writes) expect(w.pkt.length - VIRTIO_NET_HDR_SIZE).toBeLessThanOrEqual(10_000);
  });

  test("offer: segments join the run and onTurnEnd runs once at the end of the turn; a packet with a gso request ends the run first", async () => {
    const writes: number[] = [];
    let turnEnds = 0;
    const c = new TcpGsoCoalescer(
      (_buf, _len, segments) => writes.push(segments),
      undefined,
      () => {
        turnEnds++;
        c.flush();
      },
    );
    const pkt = (b: Uint8Array): PacketBuffer => PacketBuffer.withPayload(0, b);
    expect(c.offer(pkt(segment({ seq: 0, len: 1000 })), 1052)).toBe(true);
    expect(c.offer(pkt(segment({ seq: 1000, len: 1000 })), 1052)).toBe(true);
    expect(writes).toEqual([]);
    await Promise.resolve();
    expect(turnEnds).toBe(1);
    expect(writes).toEqual([2]);

    expect(c.offer(pkt(segment({ seq: 2000, len: 1000 })), 1052)).toBe(true);
    const partial = pkt(segment({ seq: 3000, len: 1000 }));
    partial.gso = {
      type: 0,
      size: 0,
      headerLength: 52,
      needsChecksum: true,
      checksumStart: 20,
      checksumOffset: 16,
    };
    expect(c.offer(partial, 1052)).toBe(false);
    expect(writes).toEqual([2, 1]);
    await Promise.resolve();
    expect(turnEnds).toBe(2);
    expect(writes).toEqual([2, 1]);
  });
});

import { describe, expect, test } from "bun:test";
import { LinkAddress } from "../tcpip/link-address.ts";
import { PacketBuffer } from "./packet-buffer.ts";

const bytes = (...xs: number[]) => Uint8Array.from(xs);

describe("PacketBuffer", () => {
  test("withPayload copies the payload once behind the headroom", () => {
    const payload = bytes(1, 2, 3);
    const pkt = PacketBuffer.withPayload(10, payload);
    payload[0] = 99;
    expect(pkt.headroom).toBe(10);
    expect(pkt.size).toBe(3);
    expect(Array.from(pkt.bytes())).toEqual([1, 2, 3]);
    expect(pkt.data.length).toBe(13);
  });

  test("alloc gives zeros; wrap shares the bytes", () => {
    const a = PacketBuffer.alloc(4, 6);
    expect(a.headroom).toBe(4);
    expect(Array.from(a.bytes())).toEqual([0, 0, 0, 0, 0, 0]);
    const raw = bytes(5, 6, 7);
    const w = PacketBuffer.wrap(raw);
    raw[0] = 8;
    expect(w.bytes()[0]).toBe(8);
    expect(w.headroom).toBe(0);
    expect(new PacketBuffer(raw, 1).size).toBe(2);
  });

  test("prepend writes headers in front without moving the payload", () => {
    const pkt = PacketBuffer.withPayload(28, bytes(0xaa, 0xbb));
    const payloadData = pkt.data;
    const udp = pkt.prepend(8);
    pkt.data.fill(0x11, udp, udp + 8);
    pkt.transportHeader = udp;
    const ip = pkt.prepend(20);
    pkt.data.fill(0x22, ip, ip + 20);
    pkt.networkHeader = ip;
    expect(pkt.data).toBe(payloadData);
    expect(pkt.headroom).toBe(0);
    expect(pkt.size).toBe(30);
    expect(pkt.bytes()[0]).toBe(0x22);
    expect(pkt.bytes()[20]).toBe(0x11);
    expect(Array.from(pkt.bytesFrom(pkt.transportHeader + 8))).toEqual([0xaa, 0xbb]);
    expect(Array.from(pkt.payloadFrom(pkt.transportHeader + 8))).toEqual([0xaa, 0xbb]);
  });

  test("prepend grows with one copy when headroom is short, and keeps offsets pointing at their bytes", () => {
    const pkt = PacketBuffer.withPayload(8, bytes(1, 2, 3));
    const t = pkt.prepend(8);
    pkt.data[t] = 0x77;
    pkt.transportHeader = t;
    pkt.networkHeader = -1;
    const n = pkt.prepend(20);
    pkt.data[n] = 0x45;
    pkt.networkHeader = n;
    expect(pkt.data[pkt.transportHeader]).toBe(0x77);
    expect(pkt.data[pkt.networkHeader]).toBe(0x45);
    expect(pkt.size).toBe(31);
    expect(Array.from(pkt.bytes().subarray(28))).toEqual([1, 2, 3]);
    // Grown with slack so the link header fits without another copy.
    expect(pkt.headroom).toBeGreaterThanOrEqual(14);
    const before = pkt.data;
    const link = pkt.prepend(14);
    pkt.linkHeader = link;
    expect(pkt.data).toBe(before);
    // Growing again moves every known offset with the bytes.
    pkt.prepend(pkt.headroom + 1);
    expect(pkt.data[pkt.networkHeader]).toBe(0x45);
    expect(pkt.data[pkt.transportHeader]).toBe(0x77);
    expect(pkt.linkHeader).toBeGreaterThanOrEqual(0);
  });

  test("consume drops parsed headers from the front; too much is a RangeError", () => {
    const pkt = PacketBuffer.wrap(bytes(1, 2, 3, 4, 5));
    pkt.consume(2);
    expect(Array.from(pkt.bytes())).toEqual([3, 4, 5]);
    expect(pkt.headroom).toBe(2);
    expect(() => pkt.consume(4)).toThrow(RangeError);
    expect(() => pkt.consume(4)).toThrow("Cannot consume 4 bytes of a 3-byte packet");
    pkt.consume(3);
    expect(pkt.size).toBe(0);
  });

  test("truncate keeps the first n bytes and never extends", () => {
    const pkt = PacketBuffer.wrap(bytes(1, 2, 3, 4, 5, 0, 0));
    pkt.consume(1);
    pkt.truncate(4);
    expect(Array.from(pkt.bytes())).toEqual([2, 3, 4, 5]);
    pkt.truncate(10);
    expect(pkt.size).toBe(4);
  });

  test("clone is deep: bytes, offsets and metadata", () => {
    const pkt = PacketBuffer.withPayload(4, bytes(1, 2));
    pkt.networkHeader = 4;
    pkt.transportHeader = 5;
    pkt.linkHeader = 0;
    pkt.networkProtocol = 0x0800;
    pkt.transportProtocol = 17;
    pkt.nic = 3;
    pkt.linkSrc = LinkAddress.BROADCAST;
    pkt.checksumVerified = true;
    pkt.linkBroadcastOrMulticast = true;
    pkt.gso = {
      type: 1,
      size: 1460,
      headerLength: 54,
      needsChecksum: true,
      checksumStart: 34,
      checksumOffset: 16,
    };
    const c = pkt.clone();
    expect(c.data).not.toBe(pkt.data);
    expect(Array.from(c.bytes())).toEqual([1, 2]);
    c.data[4] = 9;
    expect(pkt.data[4]).toBe(1);
    expect([c.head, c.tail, c.linkHeader, c.networkHeader, c.transportHeader]).toEqual([4, 6, 0, 4, 5]);
    expect([c.networkProtocol, c.transportProtocol, c.nic]).toEqual([0x0800, 17, 3]);
    expect(c.linkSrc).toBe(LinkAddress.BROADCAST);
    expect(c.linkDst).toBeUndefined();
    expect(c.checksumVerified).toBe(true);
    expect(c.linkBroadcastOrMulticast).toBe(true);
    expect(c.gso).toEqual(pkt.gso);
    expect(c.gso).not.toBe(pkt.gso);
    expect(PacketBuffer.wrap(bytes(1)).clone().gso).toBeUndefined();
  });

  test("compact copies only the live bytes, shifting offsets; consumed headers are gone", () => {
    const data = new Uint8Array(100);
    data.set([0xee, 0xee], 50); // link header at 50
    data.set([0x45, 0, 0x11, 0, 0xaa], 52); // network header at 52, transport at 54
    const pkt = new PacketBuffer(data, 50, 57);
    pkt.linkHeader = 50;
    pkt.networkHeader = 52;
    pkt.transportHeader = 54;
    pkt.consume(2); // the link layer parsed its header
    const c = pkt.compact(4);
    expect(c.data.length).toBe(4 + 5);
    expect(c.head).toBe(4);
    expect(Array.from(c.bytes())).toEqual([0x45, 0, 0x11, 0, 0xaa]);
    expect(c.networkHeader).toBe(4);
    expect(c.data[c.networkHeader]).toBe(0x45);
    expect(c.transportHeader).toBe(6);
    expect(c.data[c.transportHeader]).toBe(0x11);
    expect(c.linkHeader).toBe(-1);
    // Unknown offsets stay unknown.
    const q = PacketBuffer.withPayload(10, bytes(1)).compact(0);
    expect([q.linkHeader, q.networkHeader, q.transportHeader]).toEqual([-1, -1, -1]);
    expect(q.headroom).toBe(0);
  });

  test("reuse makes a packet new over the same array: range set, every offset and metadata field reset", () => {
    const pkt = PacketBuffer.alloc(8, 4);
    const data = pkt.data;
    pkt.prepend(4);
    pkt.linkHeader = 0;
    pkt.networkHeader = 4;
    pkt.transportHeader = 8;
    pkt.networkProtocol = 0x0800;
    pkt.transportProtocol = 6;
    pkt.nic = 3;
    pkt.linkSrc = LinkAddress.BROADCAST;
    pkt.linkDst = LinkAddress.BROADCAST;
    pkt.checksumVerified = true;
    pkt.gso = { type: 1, size: 4, headerLength: 4, needsChecksum: true, checksumStart: 0, checksumOffset: 0 };
    pkt.linkBroadcastOrMulticast = true;
    pkt.consumedByLink = true;
    data[10] = 0x99;
    pkt.reuse(6, 9);
    expect(pkt.data).toBe(data);
    expect([pkt.head, pkt.tail, pkt.size]).toEqual([6, 9, 3]);
    const fresh = new PacketBuffer(data, 6, 9);
    for (const k of Object.keys(fresh) as (keyof PacketBuffer)[]) expect(pkt[k]).toEqual(fresh[k]);
    // The bytes are the writer's to overwrite: reuse does not clear them.
    expect(data[10]).toBe(0x99);
  });
});

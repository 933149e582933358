import { afterEach, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { close } from "../rawfile/index.ts";
import { ftruncate, mapShared, memfdCreate } from "../rawfile/mem.ts";
import { ipv4Packet, packetSeq } from "../testing/conformance.ts";
import { createMemfdRegion, openMemfdRegion } from "./memfd.ts";
import { SharedMemEndpoint } from "./sharedmem.ts";

const END_MARKER = 0xffffffff;
const fds: number[] = [];
const children: { kill(): void; exitCode: number | null }[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  for (const fd of fds.splice(0)) close(fd);
});

test("a memfd region opens in the same process through its fd and through /proc", () => {
  const r = createMemfdRegion({ mtu: 1500, bufferCount: 16 });
  fds.push(r.fd);
  const again = openMemfdRegion(r.fd);
  const viaProc = openMemfdRegion(`/proc/${process.pid}/fd/${r.fd}`);
  new Uint8Array(r.buffer)[100] = 0x5a;
  expect(new Uint8Array(again)[100]).toBe(0x5a);
  expect(new Uint8Array(viaProc)[100]).toBe(0x5a);
  // Sealed: the other side cannot shrink the file under our mapping.
  expect(() => ftruncate(r.fd, 4096)).toThrow();
});

test("an unsealed or foreign memfd is refused", () => {
  const fd = memfdCreate("not-a-region");
  fds.push(fd);
  ftruncate(fd, 65536);
  expect(() => openMemfdRegion(fd)).toThrow(ErrInvalidOptionValue);
  expect(new Uint8Array(mapShared(fd, 4096)).length).toBe(4096);
});

test("over a memfd mapping an idle reader sleeps in futex(2): no wake-ups until the peer writes", async () => {
  const r = createMemfdRegion({ mtu: 1500, bufferCount: 16 });
  fds.push(r.fd);
  // Two separate mappings of the same pages, as two processes would have.
  const a = new SharedMemEndpoint(r.buffer, { side: 0 });
  const b = new SharedMemEndpoint(openMemfdRegion(r.fd), { side: 1 });
  const got: number[] = [];
  b.attach({ deliverNetworkPacket: (_p, pkt) => got.push(packetSeq(pkt.bytes())) });
  const tick = () => new Promise((res) => setTimeout(res, 1));
  for (let i = 0; i < 30; i++) await tick();
  expect(b.stats.rxWakeups).toBe(0);
  for (let round = 1; round <= 3; round++) {
    a.writePackets([PacketBuffer.wrap(ipv4Packet(round))]);
    for (let i = 0; i < 2000 && got.length < round; i++) await tick();
    expect(got.length).toBe(round);
  }
  expect(got).toEqual([1, 2, 3]);
  expect(b.stats.rxWakeups).toBe(3);
  a.close();
  b.close();
});

test('with crossProcessWait: "poll" an idle reader re-checks on a timer instead', async () => {
  const r = createMemfdRegion({ mtu: 1500, bufferCount: 16 });
  fds.push(r.fd);
  const b = new SharedMemEndpoint(openMemfdRegion(r.fd), { side: 1, crossProcessWait: "poll", pollMs: 1 });
  b.attach({ deliverNetworkPacket: () => {} });
  for (let i = 0; i < 30; i++) await new Promise((res) => setTimeout(res, 1));
  expect(b.stats.rxWakeups).toBeGreaterThan(0);
  b.close();
});

test("two processes exchange packets over a memfd region: a child echoes 5000 packets back in order", async () => {
  const r = createMemfdRegion({ mtu: 1500, bufferCount: 64 });
  fds.push(r.fd);
  const child = Bun.spawn(
    [process.execPath, new URL("./testing/process-peer.ts", import.meta.url).pathname, "3"],
    { stdio: ["ignore", "inherit", "inherit", r.fd] },
  );
  children.push(child);
  const link = new SharedMemEndpoint(r.buffer, { side: 0 });
  const got: Uint8Array[] = [];
  link.attach({ deliverNetworkPacket: (_p, pkt) => got.push(pkt.bytes().slice()) });
  const total = 5000;
  let sent = 0;
  while (sent < total) {
    const batch: PacketBuffer[] = [];
    for (let i = sent; i < Math.min(total, sent + 32); i++)
      batch.push(PacketBuffer.wrap(ipv4Packet(i, 100 + (i % 1000))));
    sent += link.writePackets(batch);
    if (sent < total) await link.waitWritable(1);
  }
  while (link.writePackets([PacketBuffer.wrap(ipv4Packet(END_MARKER))]) === 0) await link.waitWritable(1);
  expect(await child.exited).toBe(0);
  for (let i = 0; i < 2000 && got.length < total + 1; i++) await new Promise((res) => setTimeout(res, 1));
  link.close();
  expect(got.length).toBe(total + 1);
  expect(got.slice(0, total).map(packetSeq)).toEqual(Array.from({ length: total }, (_, i) => i));
  expect(got[4321]).toEqual(ipv4Packet(4321, 100 + 321));
  expect(packetSeq(got[total]!)).toBe(END_MARKER);
}, 60_000);

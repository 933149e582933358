import { ptr, toArrayBuffer } from "bun:ffi";
import { afterEach, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { close, ERRNO, Errno, readFd, writeFd } from "../rawfile/index.ts";
import { FdEndpoint } from "./fd-endpoint.ts";
import { SocketPairs } from "./testing/fixtures.ts";
import { openUringIo, URING_BATCH, type UringIo } from "./uring-io.ts";

const ios: UringIo[] = [];
const pairs = new SocketPairs<{ close(): void; wait(): Promise<void> }>();
const endpoints = new SocketPairs<FdEndpoint>();
afterEach(async () => {
  for (const io of ios.splice(0)) io.close();
  await pairs.closeAll();
  await endpoints.closeAll();
});

function uringPair(): { io: UringIo; peer: number } {
  let io: UringIo | undefined;
  const { peer } = pairs.open((fd) => {
    io = openUringIo(fd);
    if (!io) throw new Error("io_uring unavailable");
    ios.push(io);
    // closeAll closes this end of the pair through the stand-in.
    return { close: () => close(fd), wait: async () => {} };
  });
  return { io: io!, peer };
}

test("reads: one enter fills consecutive slots, -EAGAIN once the queue is empty", () => {
  const { io, peer } = uringPair();
  for (let i = 1; i <= 3; i++) expect(writeFd(peer, new Uint8Array(10 * i).fill(i))).toBe(10 * i);
  const slab = new Uint8Array(8 * 64);
  expect(io.reads(ptr(slab), 64, 64, 5)).toBe(0);
  expect(Array.from(io.results.subarray(0, 5))).toEqual([10, 20, 30, -ERRNO.EAGAIN, -ERRNO.EAGAIN]);
  for (let i = 1; i <= 3; i++)
    expect(slab.subarray((i - 1) * 64, (i - 1) * 64 + 10 * i)).toEqual(new Uint8Array(10 * i).fill(i));
});

test("writes: queued and submitted in one enter, in order; a full socket gives -EAGAIN instead of blocking", () => {
  const { io, peer } = uringPair();
  const a = Uint8Array.of(1, 2, 3);
  const b = Uint8Array.of(4, 5);
  io.queueWrite(ptr(a), 3);
  io.queueWrite(ptr(b), 2);
  expect(io.queuedWrites).toBe(2);
  expect(io.flushWrites()).toBe(2);
  expect(Array.from(io.results.subarray(0, 2))).toEqual([3, 2]);
  const buf = new Uint8Array(16);
  expect(readFd(peer, buf)).toBe(3);
  expect(buf.subarray(0, 3)).toEqual(a);
  expect(readFd(peer, buf)).toBe(2);
  // Fill the peer's receive queue until a write would block.
  const big = new Uint8Array(4000);
  let eagain = false;
  for (let round = 0; round < 200 && !eagain; round++) {
    for (let i = 0; i < URING_BATCH; i++) io.queueWrite(ptr(big), big.length);
    expect(io.flushWrites()).toBe(URING_BATCH);
    eagain = io.results.includes(-ERRNO.EAGAIN);
  }
  expect(eagain).toBe(true);
});

test("io_uring_setup failing (EPERM, ENOSYS) falls back: undefined, logged once", () => {
  const lines: string[] = [];
  const failing = () => {
    throw new Errno(ERRNO.EPERM, "io_uring_setup");
  };
  expect(openUringIo(0, (l) => lines.push(l), failing)).toBeUndefined();
  expect(openUringIo(0, (l) => lines.push(l), failing)).toBeUndefined();
  expect(lines.length).toBeLessThanOrEqual(1);
});

test("FdEndpoint ioUring: used for a plain fd; not with a virtio-net header or an MTU too large to batch", () => {
  const plain = endpoints.open(
    (fd) => new FdEndpoint({ fd, mtu: 1500, framing: "ip", ioUring: true, ownsFd: true }),
  );
  expect(plain.ep.usesIoUring).toBe(true);
  const vnet = endpoints.open(
    (fd) => new FdEndpoint({ fd, mtu: 1500, framing: "ip", vnetHdr: true, ioUring: true, ownsFd: true }),
  );
  expect(vnet.ep.usesIoUring).toBe(false);
  const jumbo = endpoints.open(
    (fd) => new FdEndpoint({ fd, mtu: 65000, framing: "ip", ioUring: true, ownsFd: true }),
  );
  expect(jumbo.ep.usesIoUring).toBe(false);
  const off = endpoints.open((fd) => new FdEndpoint({ fd, mtu: 1500, framing: "ip", ownsFd: true }));
  expect(off.ep.usesIoUring).toBe(false);
  // Written through the ring, read by the peer.
  expect(plain.ep.writePackets([PacketBuffer.withPayload(0, Uint8Array.of(0x45, 0, 0, 4))])).toBe(1);
  const buf = new Uint8Array(16);
  expect(readFd(plain.peer, buf)).toBe(4);
});

test("FdEndpoint ioUring: a packet after an empty read of the same batch is delivered (not dropped)", async () => {
  const { ep, peer } = endpoints.open(
    (fd) =>
      new FdEndpoint({ fd, mtu: 1500, framing: "ip", ioUring: true, ownsFd: true, readiness: "signal" }),
  );
  const real = (ep as unknown as { uring: UringIo }).uring;
  expect(real).toBeDefined();
  // A stand-in for the ring's first batch: read 0 finds the queue empty, read 1 a 20-byte packet
  // that came in between (what the kernel can return); later batches go to the real ring.
  let first = true;
  const fake = Object.create(real) as UringIo;
  fake.reads = (address, stride, len, count) => {
    if (!first) return real.reads(address, stride, len, count);
    first = false;
    const pkt = Uint8Array.of(0x45, 0, 0, 20, ...new Array<number>(16).fill(7));
    new Uint8Array(toArrayBuffer(address + stride, 0, 20)).set(pkt);
    real.results[0] = -ERRNO.EAGAIN;
    real.results[1] = 20;
    for (let i = 2; i < count; i++) real.results[i] = -ERRNO.EAGAIN;
    return 0;
  };
  (ep as unknown as { uring: UringIo }).uring = fake;
  const got: Uint8Array[] = [];
  ep.attach({ deliverNetworkPacket: (_p, pkt) => void got.push(pkt.bytes()) });
  writeFd(peer, Uint8Array.of(0x45, 0, 0, 20, ...new Array<number>(16).fill(9)));
  for (let i = 0; i < 100 && got.length < 2; i++) await Bun.sleep(5);
  expect(got.length).toBe(2);
  expect(got[0]![19]).toBe(7);
  expect(got[1]![19]).toBe(9);
});

test("FdEndpoint's behaviour tests pass with ioUring on (fd-endpoint.test.ts, FD_ENDPOINT_IO_URING=1)", async () => {
  const p = Bun.spawn([process.execPath, "test", "fd-endpoint.test.ts"], {
    cwd: import.meta.dir,
    env: { ...process.env, FD_ENDPOINT_IO_URING: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  const text = out + err;
  if (code !== 0) console.error(text.slice(-3000));
  expect(code).toBe(0);
  expect(text).toMatch(/\b0 fail\b/);
  expect(text).toMatch(/\b[1-9]\d* pass\b/);
}, 120_000);

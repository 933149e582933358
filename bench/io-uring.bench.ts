/**
 * Issue 10: does io_uring cut the per-packet syscall cost on a plain TUN
 * (no IFF_VNET_HDR, MTU 1500)? A micro-benchmark outside the stack: a TUN
 * device in a namespace this script creates, the kernel sending UDP into it
 * (a small C sender, sendmmsg) or receiving UDP from it, and a Bun loop that
 *
 *   rx read        read(2) per packet until EAGAIN, then poll(2)       (what FdEndpoint does)
 *   rx uring-nw B  after poll, B IORING_OP_READ with RWF_NOWAIT in one io_uring_enter
 *   rx uring-arm B B reads kept armed in the ring (the kernel polls), one enter reaps what came
 *   tx write       write(2) per packet                                 (what FdEndpoint does)
 *   tx uring B     B IORING_OP_WRITE per io_uring_enter (waits for all B)
 *   tx uring-async B  the same with IOSQE_ASYNC (io-wq threads do the writes)
 *
 * Figures: packets/s of the Bun loop and CPU (user+system of the whole Bun
 * process, io-wq threads included) per packet. Needs root; without it, it
 * says so and exits 0. Addresses: a random /24 in 198.18.0.0/15; the
 * namespace is deleted at the end, also on failure.
 *
 *   bun bench/io-uring.bench.ts [--secs 3] [--rounds 2] [--batch 32] [--rate PPS] [--only rx|tx]
 *
 * Measured 2026-11-25 (shared 2-vCPU VM, Linux 6.18, load 0.7-1.1; batch 32, 3 s per run, 2 rounds
 * each; CPU is the whole Bun process per packet):
 *
 *   rx read             480 / 528k pkt/s   1985 / 1890 ns CPU/packet
 *   rx uring-nw 32      765 / 750k pkt/s   1289 / 1315 ns   (+45-60 %, -31..-35 % CPU)
 *   rx uring-arm 32     518 / 533k pkt/s   1911 / 1861 ns   (no gain flat out: every arrival wakes
 *                                                            the pending polls)
 *   --rate 200000 (the sender paced; CPU per packet at the same load):
 *   rx read             200k pkt/s         2016 / 2059 ns
 *   rx uring-nw 32      200k pkt/s         1077 / 1150 ns
 *   rx uring-arm 32     200k pkt/s         1047 / 1082 ns
 *   tx write            403 / 438k; 434 / 457k pkt/s   2494 / 2282; 2319 / 2207 ns
 *   tx uring 32        1256 /1502k; 1487 /1370k pkt/s    810 /  677;  682 /  741 ns  (3-3.4x)
 *   tx uring-nw 32     1476 / 1494k pkt/s                688 / 681 ns  (RWF_NOWAIT: the same)
 *   tx uring-async      296 / 321k; 317 / 325k pkt/s   4862 / 4497; 4478 / 4385 ns  (IOSQE_ASYNC:
 *                                                            the io-wq hand-off costs more than it
 *                                                            saves on 2 vCPUs; not used)
 * (tx: the kernel's UDP counters saw every written packet but the last few in flight.)
 *
 * A syscall's entry/exit on this hypervisor is most of a small packet's cost, and one
 * io_uring_enter for many reads or writes pays it once. Note: io_uring ignores a file's
 * O_NONBLOCK (it arms a poll and waits), so reads and writes need RWF_NOWAIT to end a batch
 * with -EAGAIN like read(2) does. The stack's path: FdEndpoint `ioUring` (uring-io.ts),
 * `netstack serve --io-uring`; see the commit that added it for tun.bench figures.
 */
import { ptr } from "bun:ffi";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AF_INET,
  bind,
  ERRNO,
  POLLIN,
  PollFds,
  poll,
  readAddress,
  SOCK_DGRAM,
  socket,
  writeAddress,
} from "../src/link/rawfile/index.ts";
import {
  IORING_OP_READ,
  IORING_OP_WRITE,
  IORING_SETUP_COOP_TASKRUN,
  IORING_SETUP_DEFER_TASKRUN,
  IORING_SETUP_SINGLE_ISSUER,
  IOSQE_ASYNC,
  IoUring,
  RWF_NOWAIT,
} from "../src/link/rawfile/io-uring.ts";
import { openTun } from "../src/link/tun/index.ts";
import {
  cleanupAll,
  installCleanupHandlers,
  isRoot,
  Netns,
  run,
  spawn,
  uniqueName,
  uniqueSubnet24,
} from "./lib/ns.ts";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const SENDER_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
  double secs = atof(argv[3]); double rate = atof(argv[4]);
  int size = 1472, batch = rate > 0 && rate < 64000 ? 8 : 64;
  static char buf[1472]; struct mmsghdr m[64]; struct iovec v[64];
  memset(m, 0, sizeof m);
  for (int i = 0; i < batch; i++) { v[i].iov_base = buf; v[i].iov_len = size; m[i].msg_hdr.msg_iov = &v[i]; m[i].msg_hdr.msg_iovlen = 1; }
  long long sent = 0; double t0 = now(), end = t0 + secs;
  for (;;) {
    double t = now();
    if (t >= end) break;
    if (rate > 0 && sent >= (t - t0) * rate) { usleep(200); continue; }
    int n = sendmmsg(s, m, batch, 0);
    if (n > 0) sent += n;
  }
  printf("%lld\n", sent);
  return 0;
}
`;

interface Result {
  mode: string;
  packets: number;
  seconds: number;
  cpuSeconds: number;
  sent?: number;
  delivered?: number;
}

// ------------------------------------------------------------------ child: one mode, inside the namespace

const SIZE = 2048;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function rxRead(fd: number, end: number): number {
  const buf = new Uint8Array(SIZE);
  const addr = ptr(buf);
  const fds = new PollFds(1);
  fds.set(0, fd, POLLIN);
  let packets = 0;
  for (;;) {
    const n = readAddress(fd, addr, SIZE);
    if (n > 0) {
      packets++;
      continue;
    }
    if (n !== -ERRNO.EAGAIN) throw new Error(`read: ${n}`);
    if (performance.now() >= end) return packets;
    poll(fds, 50);
  }
}

function rxUringNowait(fd: number, end: number, batch: number): number {
  const ring = IoUring.setup({
    entries: batch,
    flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
  });
  const slab = new Uint8Array(batch * SIZE);
  const base = ptr(slab);
  const fds = new PollFds(1);
  fds.set(0, fd, POLLIN);
  let packets = 0;
  for (;;) {
    for (let i = 0; i < batch; i++) ring.prep(IORING_OP_READ, fd, base + i * SIZE, SIZE, i, 0, RWF_NOWAIT);
    const r = ring.submit(batch);
    if (r < 0) throw new Error(`io_uring_enter: ${r}`);
    const ready = ring.cqReady();
    let empty = false;
    for (let i = 0; i < ready; i++) {
      const res = ring.cqeRes(i);
      if (res > 0) packets++;
      else if (res === -ERRNO.EAGAIN) empty = true;
      else throw new Error(`read cqe: ${res}`);
    }
    ring.cqAdvance(ready);
    if (empty) {
      if (performance.now() >= end) break;
      poll(fds, 50);
    }
  }
  ring.close();
  return packets;
}

function rxUringArmed(fd: number, end: number, batch: number): number {
  const ring = IoUring.setup({
    entries: batch,
    flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
  });
  const slab = new Uint8Array(batch * SIZE);
  const base = ptr(slab);
  for (let i = 0; i < batch; i++) ring.prep(IORING_OP_READ, fd, base + i * SIZE, SIZE, i);
  let packets = 0;
  let rounds = 0;
  for (;;) {
    const r = ring.submit(1);
    if (r < 0 && r !== -ERRNO.EINTR) throw new Error(`io_uring_enter: ${r}`);
    const ready = ring.cqReady();
    for (let i = 0; i < ready; i++) {
      const res = ring.cqeRes(i);
      const slot = ring.cqeUserData(i);
      if (res > 0) packets++;
      else if (res !== -ERRNO.EAGAIN) throw new Error(`read cqe: ${res}`);
      ring.prep(IORING_OP_READ, fd, base + slot * SIZE, SIZE, slot);
    }
    ring.cqAdvance(ready);
    if ((++rounds & 63) === 0 && performance.now() >= end) break;
  }
  // The armed reads die with the ring (closing it cancels them).
  ring.close();
  return packets;
}

/** An IPv4/UDP packet of `size` bytes from `src` to `dst`:`port` (UDP checksum 0: none, RFC 768). */
function udpPacket(src: string, dst: string, port: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, size);
  p[8] = 64;
  p[9] = 17;
  src.split(".").forEach((o, i) => {
    p[12 + i] = Number(o);
  });
  dst.split(".").forEach((o, i) => {
    p[16 + i] = Number(o);
  });
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += dv.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  dv.setUint16(10, ~sum & 0xffff);
  dv.setUint16(20, 40000);
  dv.setUint16(22, port);
  dv.setUint16(24, size - 20);
  return p;
}

function txWrite(fd: number, end: number, pkt: Uint8Array): number {
  const addr = ptr(pkt);
  let packets = 0;
  for (;;) {
    const n = writeAddress(fd, addr, pkt.length);
    if (n < 0) throw new Error(`write: ${n}`);
    if ((++packets & 255) === 0 && performance.now() >= end) return packets;
  }
}

function txUring(
  fd: number,
  end: number,
  pkt: Uint8Array,
  batch: number,
  sqeFlags: number,
  rwFlags = 0,
): number {
  const ring = IoUring.setup({
    entries: batch,
    flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
  });
  const addr = ptr(pkt);
  let packets = 0;
  for (;;) {
    for (let i = 0; i < batch; i++) ring.prep(IORING_OP_WRITE, fd, addr, pkt.length, i, sqeFlags, rwFlags);
    const r = ring.submit(batch);
    if (r < 0) throw new Error(`io_uring_enter: ${r}`);
    let ready = ring.cqReady();
    while (ready < batch) {
      ring.submit(batch - ready);
      ready = ring.cqReady();
    }
    for (let i = 0; i < ready; i++) {
      const res = ring.cqeRes(i);
      if (res < 0) throw new Error(`write cqe: ${res}`);
      packets++;
    }
    ring.cqAdvance(ready);
    if (performance.now() >= end) break;
  }
  ring.close();
  return packets;
}

/** Udp InDatagrams + RcvbufErrors of this namespace (/proc/net/snmp). */
function udpDelivered(): number {
  const lines = readFileSync("/proc/net/snmp", "utf8")
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const names = (lines[0] ?? "").split(/\s+/);
  const values = (lines[1] ?? "").split(/\s+/).map(Number);
  return (values[names.indexOf("InDatagrams")] ?? 0) + (values[names.indexOf("RcvbufErrors")] ?? 0);
}

async function child(): Promise<void> {
  const mode = option("--mode")!;
  const secs = Number(option("--secs") ?? 3);
  const batch = Number(option("--batch") ?? 32);
  const rate = Number(option("--rate") ?? 0);
  const sender = option("--sender")!;
  const net = option("--net")!;
  const tunName = option("--tun")!;
  const tun = openTun({ name: tunName, mode: "tun", mtu: 1500 });
  const sh = (cmd: string[]) => {
    const r = Bun.spawnSync(cmd);
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  };
  sh(["ip", "addr", "add", `${net}.1/24`, "dev", tunName]);
  sh(["ip", "link", "set", tunName, "up"]);
  const end = () => performance.now() + secs * 1000;
  let packets = 0;
  let sent: number | undefined;
  let t0: number;
  let c0: number;
  if (mode.startsWith("rx")) {
    const s = Bun.spawn([sender, `${net}.2`, "9", String(secs + 1), String(rate)], { stdout: "pipe" });
    await Bun.sleep(100);
    // Drain what queued before the clock starts.
    const scratch = new Uint8Array(SIZE);
    for (let i = 0; i < 10_000 && readAddress(tun.fd, ptr(scratch), SIZE) > 0; i++);
    t0 = performance.now();
    c0 = cpuSeconds();
    const until = t0 + secs * 1000;
    if (mode === "rx-read") packets = rxRead(tun.fd, until);
    else if (mode === "rx-uring-nw") packets = rxUringNowait(tun.fd, until, batch);
    else if (mode === "rx-uring-arm") packets = rxUringArmed(tun.fd, until, batch);
    else throw new Error(`mode ${mode}`);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - c0;
    sent = Number((await new Response(s.stdout).text()).trim());
    await s.exited;
    const sentInWindow = Math.round((sent * secs) / (secs + 1));
    console.log(JSON.stringify({ mode, packets, seconds, cpuSeconds: cpu, sent: sentInWindow }));
  } else {
    // A socket on the far side so the kernel's receive path is the usual one (it drops once the queue is full).
    const s = socket(AF_INET, SOCK_DGRAM);
    const sa = new Uint8Array(16);
    new DataView(sa.buffer).setUint16(0, AF_INET, true);
    new DataView(sa.buffer).setUint16(2, 9999);
    bind(s, sa);
    const pkt = udpPacket(`${net}.2`, `${net}.1`, 9999, 1500);
    const udpIn0 = udpDelivered();
    t0 = performance.now();
    c0 = cpuSeconds();
    const until = end();
    if (mode === "tx-write") packets = txWrite(tun.fd, until, pkt);
    else if (mode === "tx-uring") packets = txUring(tun.fd, until, pkt, batch, 0);
    else if (mode === "tx-uring-nw") packets = txUring(tun.fd, until, pkt, batch, 0, RWF_NOWAIT);
    else if (mode === "tx-uring-async") packets = txUring(tun.fd, until, pkt, batch, IOSQE_ASYNC);
    else throw new Error(`mode ${mode}`);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - c0;
    // What the kernel's UDP saw (queued or dropped at the full socket): every write must arrive.
    const delivered = udpDelivered() - udpIn0;
    console.log(JSON.stringify({ mode, packets, seconds, cpuSeconds: cpu, delivered }));
  }
  tun.close();
}

// ------------------------------------------------------------------ parent

async function main(): Promise<void> {
  if (!isRoot) {
    console.log("io-uring.bench: needs root (network namespace, TUN); skipped");
    return;
  }
  installCleanupHandlers();
  const secs = Number(option("--secs") ?? 3);
  const rounds = Number(option("--rounds") ?? 2);
  const batch = Number(option("--batch") ?? 32);
  const rate = Number(option("--rate") ?? 0);
  const only = option("--only");
  const dir = mkdtempSync(join(tmpdir(), "netstack-iouring-"));
  const sender = join(dir, "udpsend");
  writeFileSync(join(dir, "udpsend.c"), SENDER_C);
  const cc = await run(["cc", "-O2", "-o", sender, join(dir, "udpsend.c")]);
  if (cc.code !== 0) throw new Error(`cc: ${cc.stderr}`);
  const ns = await Netns.create("niu");
  const ip = uniqueSubnet24();
  const net = ip(0).replace(/\.0$/, "");
  const modes = [
    ...(only === "tx" ? [] : ["rx-read", "rx-uring-nw", "rx-uring-arm"]),
    ...(only === "rx" ? [] : ["tx-write", "tx-uring", "tx-uring-nw", "tx-uring-async"]),
  ];
  const results: Result[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        const argv = ns.argv([
          process.execPath,
          import.meta.path,
          "--child",
          "--mode",
          mode,
          "--secs",
          String(secs),
          "--batch",
          String(batch),
          "--rate",
          String(rate),
          "--sender",
          sender,
          "--net",
          net,
          "--tun",
          uniqueName("tiu"),
        ]);
        const c = spawn(argv);
        const guard = setTimeout(() => void c.stop(), (secs + 15) * 1000);
        const code = await c.proc.exited;
        clearTimeout(guard);
        const line = c.stdout().trim().split("\n").pop() ?? "";
        if (code !== 0 || !line.startsWith("{")) {
          console.log(`${mode}: failed (${code}): ${c.stderr().slice(-500)}`);
          continue;
        }
        const r = JSON.parse(line) as Result;
        results.push(r);
        const pps = r.packets / r.seconds;
        const ext = r.sent
          ? `  (sender ${(r.sent / r.seconds / 1000).toFixed(0)}k/s)`
          : `  (kernel UDP got ${r.delivered} of ${r.packets})`;
        console.log(
          `round ${round + 1} ${mode.padEnd(15)} ${(pps / 1000).toFixed(1).padStart(7)} kpps  ${((r.cpuSeconds / r.packets) * 1e9).toFixed(0).padStart(6)} ns CPU/packet  CPU ${(r.cpuSeconds / r.seconds).toFixed(2)}${ext}`,
        );
      }
    }
  } finally {
    await ns.delete();
    await cleanupAll();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nbatch ${batch}, ${secs}s per run, ${rounds} rounds${rate ? `, sender rate ${rate}/s` : ""}: median`,
  );
  for (const mode of modes) {
    const rs = results.filter((r) => r.mode === mode);
    if (rs.length === 0) continue;
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const pps = med(rs.map((r) => r.packets / r.seconds));
    const cpp = med(rs.map((r) => r.cpuSeconds / r.packets));
    console.log(
      `${mode.padEnd(15)} ${(pps / 1000).toFixed(1).padStart(7)} kpps  ${(cpp * 1e9).toFixed(0).padStart(6)} ns CPU/packet`,
    );
  }
}

if (args.includes("--child")) await child();
else await main();

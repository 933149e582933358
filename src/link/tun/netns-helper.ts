/**
 * Test helper for `tun.test.ts`, run as a child process inside a network
 * namespace (`ip netns exec NS bun netns-helper.ts SCENARIO NAME`): the TUN
 * belongs to the namespace of the thread that opens /dev/net/tun, so the
 * test process itself never enters the namespace. Each scenario opens a
 * device, drives the kernel with `ip`, `ping` or `socat` (children inherit the
 * namespace), plays a tiny hand-written peer, and prints one JSON line.
 *
 * Addresses: 198.18.0.0/15 and fd00::/8 only (docs/TEAM.md).
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { NetworkDispatcher } from "../link-endpoint.ts";
import { Errno } from "../rawfile/index.ts";
import { openTun } from "./open-tun.ts";
import { run, sh } from "./testing/shell.ts";
import { openTunEndpoint } from "./tun-endpoint.ts";

const [scenario = "", name = "tun0"] = process.argv.slice(2);
/** Bytes the kernel sends in the vnet scenario (more for a throughput figure). */
const BULK = Number(process.env.BULK_BYTES ?? 3_000_000);

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** RFC 1071 one's-complement sum, folded, not inverted. */
function sum16(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  let i = 0;
  for (; i + 1 < len; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) s += b[off + len - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const put16 = (b: Uint8Array, off: number, v: number): void => {
  b[off] = v >>> 8;
  b[off + 1] = v & 0xff;
};
const get16 = (b: Uint8Array, off: number): number => (b[off]! << 8) | b[off + 1]!;
const get32 = (b: Uint8Array, off: number): number =>
  ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
const put32 = (b: Uint8Array, off: number, v: number): void => {
  put16(b, off, v >>> 16);
  put16(b, off + 2, v & 0xffff);
};

function ipChecksum(ip: Uint8Array): void {
  put16(ip, 10, 0);
  put16(ip, 10, ~sum16(ip, 0, (ip[0]! & 0xf) * 4) & 0xffff);
}

/** An ICMPv4 echo reply for the echo request `req` (an IPv4 packet): addresses swapped, type 0. */
function echoReply(req: Uint8Array): Uint8Array {
  const r = req.slice();
  r.set(req.subarray(16, 20), 12);
  r.set(req.subarray(12, 16), 16);
  const ihl = (r[0]! & 0xf) * 4;
  r[ihl] = 0;
  put16(r, ihl + 2, 0);
  put16(r, ihl + 2, ~sum16(r, ihl, r.length - ihl) & 0xffff);
  ipChecksum(r);
  return r;
}

function isEchoRequest(b: Uint8Array): boolean {
  return b.length >= 28 && b[0]! >> 4 === 4 && b[9] === 1 && b[(b[0]! & 0xf) * 4] === 8;
}

function output(o: unknown): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** (a)+(b): kernel ping → echo requests at the dispatcher; our hand-built replies → ping succeeds. Plus IPv6. */
async function tunPing(): Promise<void> {
  const { device, endpoint } = openTunEndpoint({ name, mode: "tun" });
  sh("ip", "addr", "add", "198.18.0.1/24", "dev", device.name);
  sh("ip", "-6", "addr", "add", "fd00:1::1/64", "dev", device.name, "nodad");
  const seen: { protocol: number; hex: string }[] = [];
  endpoint.attach({
    deliverNetworkPacket(protocol, pkt) {
      const b = pkt.bytes();
      seen.push({ protocol, hex: hex(b) });
      if (isEchoRequest(b)) endpoint.writePackets([PacketBuffer.withPayload(0, echoReply(b))]);
    },
  });
  const count = process.env.PING_COUNT ?? "3";
  const ping = await run([
    "ping",
    "-n",
    "-c",
    count,
    "-i",
    count === "3" ? "0.2" : "0.01",
    "-W",
    "2",
    "198.18.0.2",
  ]);
  const ping6 = await run(["ping", "-6", "-n", "-c", "1", "-W", "1", "fd00:1::2"]);
  output({
    name: device.name,
    mtu: device.mtu,
    txQueueLen: device.txQueueLen,
    link: sh("ip", "-o", "link", "show", device.name),
    seen,
    ping,
    ping6,
    stats: endpoint.stats,
  });
  endpoint.close();
  await endpoint.wait();
}

/** (c): TAP with Ethernet framing: the kernel's ARP request arrives; our ARP and echo replies are accepted. */
async function tapArp(): Promise<void> {
  const { device, endpoint } = openTunEndpoint({ name, mode: "tap" });
  sh("ip", "addr", "add", "198.18.1.1/24", "dev", device.name);
  const ours = endpoint.linkAddress;
  const seen: {
    protocol: number;
    hex: string;
    linkSrc: string;
    linkDst: string;
    group: boolean;
    frameHex: string;
  }[] = [];
  const dispatcher: NetworkDispatcher = {
    deliverNetworkPacket(protocol, pkt) {
      const b = pkt.bytes();
      seen.push({
        protocol,
        hex: hex(b),
        linkSrc: String(pkt.linkSrc),
        linkDst: String(pkt.linkDst),
        group: pkt.linkBroadcastOrMulticast,
        frameHex: hex(pkt.data.subarray(pkt.linkHeader, pkt.tail)),
      });
      let reply: Uint8Array | undefined;
      if (protocol === ARP_PROTOCOL_NUMBER && b.length >= 28 && get16(b, 6) === 1) {
        // RFC 826: answer "who has 198.18.1.2" with our MAC.
        if (b[24] === 198 && b[25] === 18 && b[26] === 1 && b[27] === 2) {
          reply = b.slice(0, 28);
          put16(reply, 6, 2);
          reply.set(ours.bytes, 8);
          reply.set(b.subarray(24, 28), 14);
          reply.set(b.subarray(8, 14), 18);
          reply.set(b.subarray(14, 18), 24);
        }
      } else if (protocol === IPV4_PROTOCOL_NUMBER && isEchoRequest(b)) {
        reply = echoReply(b);
      }
      if (reply) {
        const out = PacketBuffer.withPayload(endpoint.maxHeaderLength, reply);
        out.networkProtocol = protocol;
        out.linkDst = pkt.linkSrc ?? LinkAddress.BROADCAST;
        endpoint.writePackets([out]);
      }
    },
  };
  endpoint.attach(dispatcher);
  const ping = await run(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "198.18.1.2"]);
  output({
    name: device.name,
    deviceMac: device.mac.toString(),
    ourMac: ours.toString(),
    neigh: sh("ip", "neigh", "show", "dev", device.name),
    seen,
    ping,
    stats: endpoint.stats,
  });
  endpoint.close();
  await endpoint.wait();
}

/**
 * (d): a vnet-header TUN. A minimal hand-written TCP peer at 198.18.2.2
 * accepts a connection from socat in the namespace (SYN-ACK with window
 * scaling, then cumulative ACKs), so the kernel's TSO sends GSO super-packets
 * bigger than the MTU. On port 5002 it sends one 20 000-byte super-segment
 * with a GSO virtio header and a partial checksum, then FIN; the kernel
 * receiver must get all of it.
 */
async function vnetTcp(): Promise<void> {
  const { device, endpoint } = openTunEndpoint({
    name,
    mode: "tun",
    vnetHdr: true,
    spinMs: Number(process.env.SPIN_MS ?? 0),
  });
  sh("ip", "addr", "add", "198.18.2.1/24", "dev", device.name);
  const SEND = 20000;
  const t0 = performance.now();
  const ISS = 1000;
  const syns: { hex: string; verified: boolean; gso: unknown }[] = [];
  let maxSize = 0;
  let gsoPackets = 0;
  let gsoSample: unknown;
  let bytesIn = 0;
  /** Next expected sequence number from the kernel, per local port. */
  const rcvNxt = new Map<number, number>();

  function segment(
    req: Uint8Array,
    flags: number,
    seq: number,
    ack: number,
    payload: number,
    options: number[] = [],
  ): PacketBuffer {
    const thl = 20 + options.length;
    const total = 20 + thl + payload;
    const pkt = PacketBuffer.alloc(16, total);
    const b = pkt.data.subarray(pkt.head, pkt.tail);
    b[0] = 0x45;
    put16(b, 2, total);
    b[6] = 0x40; // DF
    b[8] = 64;
    b[9] = 6;
    b.set(req.subarray(16, 20), 12);
    b.set(req.subarray(12, 16), 16);
    ipChecksum(b);
    const ihl = (req[0]! & 0xf) * 4;
    put16(b, 20, get16(req, ihl + 2));
    put16(b, 22, get16(req, ihl));
    put32(b, 24, seq);
    put32(b, 28, ack);
    b[32] = (thl / 4) << 4;
    b[33] = flags;
    put16(b, 34, 65535);
    b.set(options, 40);
    for (let i = 0; i < payload; i++) b[20 + thl + i] = 0x61 + (i % 26);
    // Pseudo-header sum (RFC 9293 §3.1) with the TCP length.
    const pseudo = sum16(b, 12, 8, 6 + thl + payload);
    if (payload > 1400) {
      // A super-segment: leave the checksum partial (pseudo-header sum only) and let the kernel finish it.
      put16(b, 36, pseudo);
      pkt.gso = {
        type: 1,
        size: 1400,
        headerLength: 20 + thl,
        needsChecksum: true,
        checksumStart: 20,
        checksumOffset: 16,
      };
    } else {
      put16(b, 36, ~sum16(b, 20, thl + payload, pseudo) & 0xffff);
    }
    return pkt;
  }

  endpoint.attach({
    deliverNetworkPacket(_protocol, pkt) {
      const b = pkt.bytes();
      maxSize = Math.max(maxSize, b.length);
      if (pkt.gso && pkt.gso.type !== 0) {
        gsoPackets++;
        gsoSample ??= pkt.gso;
      }
      if (b[0]! >> 4 !== 4 || b[9] !== 6) return;
      const ihl = (b[0]! & 0xf) * 4;
      const t = ihl;
      const port = get16(b, t + 2);
      const flags = b[t + 13]!;
      const seq = get32(b, t + 4);
      const thl = (b[t + 12]! >> 4) * 4;
      const len = get16(b, 2) - ihl - thl;
      if (flags & 0x02) {
        syns.push({ hex: hex(b), verified: pkt.checksumVerified, gso: pkt.gso ?? null });
        rcvNxt.set(port, (seq + 1) >>> 0);
        // SYN-ACK with MSS 1460 and window scale 7.
        endpoint.writePackets([segment(b, 0x12, ISS, (seq + 1) >>> 0, 0, [2, 4, 0x05, 0xb4, 1, 3, 3, 7])]);
        return;
      }
      let nxt = rcvNxt.get(port);
      if (nxt === undefined) return;
      if (len > 0 && seq === nxt) {
        nxt = (nxt + len) >>> 0;
        if (port === 5001) bytesIn += len;
      }
      if (flags & 0x01 && seq + Math.max(0, len) === nxt) nxt = (nxt + 1) >>> 0;
      rcvNxt.set(port, nxt);
      const ackNo = get32(b, t + 8);
      if (port === 5002 && ackNo === ISS + 1 && len === 0 && !(flags & 0x01)) {
        // The handshake's final ACK: send a super-segment, then FIN.
        endpoint.writePackets([
          segment(b, 0x18, ISS + 1, nxt, SEND),
          segment(b, 0x11, ISS + 1 + SEND, nxt, 0),
        ]);
        return;
      }
      const ourSeq = port === 5002 ? ackNo >>> 0 : ISS + 1;
      if (flags & 0x01) {
        // Their FIN: on 5001 answer FIN+ACK (we have nothing to send); on 5002 our FIN went already.
        endpoint.writePackets([segment(b, port === 5002 ? 0x10 : 0x11, ourSeq, nxt, 0)]);
      } else if (len > 0) {
        endpoint.writePackets([segment(b, 0x10, ourSeq, nxt, 0)]);
      }
    },
  });

  const bulk = await run([
    "socat",
    "-u",
    `OPEN:/dev/zero,readbytes=${BULK}`,
    "TCP:198.18.2.2:5001,connect-timeout=3",
  ]);
  const bulkMs = performance.now() - t0;
  await Bun.sleep(100);
  const recv = Bun.spawn(["socat", "-u", "TCP:198.18.2.2:5002,connect-timeout=3", "STDOUT"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => recv.kill(), 5000);
  const received = await new Response(recv.stdout).arrayBuffer();
  clearTimeout(timer);
  output({
    name: device.name,
    mtu: device.mtu,
    offloads: device.offloads,
    bulk,
    syns,
    maxSize,
    gsoPackets,
    gsoSample,
    bytesIn,
    bulkMs,
    received: received.byteLength,
    receivedOk: Buffer.from(received).every((c, i) => c === 0x61 + (i % 26)),
    recvCode: await recv.exited,
    stats: endpoint.stats,
  });
  endpoint.close();
  await endpoint.wait();
}

/** (e): error messages for a bad name, a flag mismatch and a busy single-queue device. */
async function errors(): Promise<void> {
  const messages: Record<string, { code: string; message: string }> = {};
  const attempt = (key: string, fn: () => void): void => {
    try {
      fn();
      messages[key] = { code: "none", message: "" };
    } catch (e) {
      messages[key] =
        e instanceof Errno ? { code: e.code, message: e.message } : { code: "?", message: String(e) };
    }
  };
  attempt("badName", () => openTun({ name: "bad/name", mode: "tun" }));
  attempt("tooLong", () => openTun({ name: "a-very-long-name-1", mode: "tun" }));
  const held = openTun({ name, mode: "tun" });
  attempt("mismatch", () => openTun({ name, mode: "tap" }));
  attempt("busy", () => openTun({ name, mode: "tun" }));
  attempt("multiQueueMismatch", () => openTun({ name, mode: "tun", multiQueue: true }));
  attempt("notTun", () => openTun({ name: "lo", mode: "tun" }));
  held.close();
  const mq = openTun({ name: `${name}m`, mode: "tun", multiQueue: true });
  const mq2 = openTun({ name: `${name}m`, mode: "tun", multiQueue: true });
  messages.multiQueueSecond = { code: "none", message: mq2.name };
  mq2.close();
  mq.close();
  output(messages);
}

/** (f): an attached TUN endpoint left idle for one second. */
async function idle(): Promise<void> {
  const { endpoint } = openTunEndpoint({ name, mode: "tun", vnetHdr: true });
  endpoint.attach({ deliverNetworkPacket() {} });
  await Bun.sleep(100);
  const before = process.cpuUsage();
  await Bun.sleep(1000);
  const used = process.cpuUsage(before);
  endpoint.close();
  await endpoint.wait();
  output({ cpuMs: (used.user + used.system) / 1000 });
}

/**
 * Not a test: packet rates for the report. TX: `writePackets` of one UDP
 * datagram to the kernel for a second. RX: a second Bun process in the
 * namespace blasts UDP datagrams at 198.18.0.2 (generator-bound on a small VM).
 */
async function rate(): Promise<void> {
  const { device, endpoint } = openTunEndpoint({ name, mode: "tun" });
  sh("ip", "addr", "add", "198.18.0.1/24", "dev", device.name);
  let rx = 0;
  endpoint.attach({ deliverNetworkPacket: () => rx++ });
  const result: Record<string, number> = {};
  for (const size of [92, 1428]) {
    const b = new Uint8Array(size);
    b[0] = 0x45;
    put16(b, 2, size);
    b[8] = 64;
    b[9] = 17;
    b.set([198, 18, 0, 2, 198, 18, 0, 1], 12);
    ipChecksum(b);
    put16(b, 20, 40000);
    put16(b, 22, 9);
    put16(b, 24, size - 20);
    const pkts = Array.from({ length: 64 }, () => PacketBuffer.withPayload(0, b));
    let n = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) n += endpoint.writePackets(pkts);
    const el = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    result[`tx${size}Kpps`] = Math.round(n / el);
    result[`tx${size}Gbps`] = Math.round(((n * size * 8) / el / 1e6) * 100) / 100;
    result[`tx${size}CpuPct`] = Math.round(((cpu.user + cpu.system) / 1000 / el) * 100);
  }
  const blaster = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const s = await Bun.udpSocket({}); const d = new Uint8Array(64); const batch = [];
       for (let i = 0; i < 64; i++) batch.push(d, 9, "198.18.0.2");
       const end = performance.now() + 2500; while (performance.now() < end) s.sendMany(batch);
       s.close(); process.exit(0);`,
    ],
    { stdout: "ignore", stderr: "inherit" },
  );
  await Bun.sleep(500);
  const rx0 = rx;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Bun.sleep(1500);
  const el = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  result.rx92Kpps = Math.round((rx - rx0) / el);
  result.rxCpuPct = Math.round(((cpu.user + cpu.system) / 1000 / el) * 100);
  result.rxWakeups = endpoint.stats.rxWakeups;
  await blaster.exited;
  output(result);
  endpoint.close();
  await endpoint.wait();
}

const scenarios: Record<string, () => Promise<void>> = { tunPing, tapArp, vnetTcp, errors, idle, rate };
const fn = scenarios[scenario];
if (!fn) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
await fn();
process.exit(0);

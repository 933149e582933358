/**
 * Issue 10 (request/response tail): heap allocations per 1-byte round trip on
 * the server's path — link batch → IPv4 → TCP input → echo service read/write →
 * TCP output → link write — of the stack `netstack serve` builds (`buildStack`).
 *
 * The link is a `ChannelEndpoint` in "ip" mode (as a TUN device carries IP
 * packets). A second stack makes the connection; then the client is a template
 * of its data segment whose sequence/acknowledgment numbers and checksum are
 * rewritten per round trip, so only the server's allocations are counted. Each
 * request is delivered as a link batch (`beginBatch`/`endBatch`), in a
 * `PacketBuffer` over a slab as the fdbased link makes one.
 *
 * `bun bench/rr-alloc.ts [round trips, default 100000]`: prints objects by type
 * per round trip (from `bun:jsc` `heapStats()`, between two collections) and
 * the heap bytes and time per round trip over the whole run.
 */
import { gcAndSweep, heapStats } from "bun:jsc";
import { PacketBuffer } from "../src/buffer/packet-buffer.ts";
import { buildStack } from "../src/cli/build-stack.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../src/header/checksum.ts";
import { ChannelEndpoint } from "../src/link/channel/channel.ts";
import type { NetworkDispatcher } from "../src/link/link-endpoint.ts";
import { ServiceManager } from "../src/services/services.ts";
import type { Stack } from "../src/stack/stack.ts";
import { attachConnTable } from "../src/tcpconntrack/attach.ts";
import { ConnTable } from "../src/tcpconntrack/table.ts";
import { Address } from "../src/tcpip/address.ts";
import { ErrConnectStarted } from "../src/tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../src/tcpip/protocols.ts";
import { Subnet } from "../src/tcpip/subnet.ts";
import type { TcpEndpoint } from "../src/transport/tcp/endpoint.ts";
import { Queue } from "../src/waiter/waiter.ts";

const N = Number(process.argv[2] ?? 100_000);
const SAMPLE = 2_000;

function host(cidr: string): { stack: Stack; ch: ChannelEndpoint; addr: Address } {
  const stack = buildStack();
  const ch = new ChannelEndpoint({ mtu: 1500 });
  stack.createNIC(1, ch);
  const [text, bits] = cidr.split("/");
  const addr = Address.parse(text!);
  stack.addAddress(1, IPV4_PROTOCOL_NUMBER, addr, Number(bits));
  stack.addRoute({ destination: Subnet.fromPrefix(addr, Number(bits)), nic: 1 });
  return { stack, ch, addr };
}

const srv = host("198.18.0.2/24");
const cli = host("198.18.0.1/24");
const services = new ServiceManager(srv.stack);
// As netstack serve does (appliance.ts): conntrack on the stack's packet hooks. NOCT=1 leaves it off.
if (!process.env.NOCT) attachConnTable(srv.stack, new ConnTable({ clock: srv.stack.clock }));
await services.start({ kind: "echo", protocol: "tcp", port: 7 });
const sd = (srv.ch as unknown as { dispatcher: NetworkDispatcher }).dispatcher;
const cd = (cli.ch as unknown as { dispatcher: NetworkDispatcher }).dispatcher;

function bytesOf(pkt: PacketBuffer): Uint8Array {
  return pkt.bytes().slice();
}
function move(from: ChannelEndpoint, to: NetworkDispatcher, log?: Uint8Array[]): number {
  let n = 0;
  to.beginBatch?.();
  for (let p = from.read(); p; p = from.read()) {
    const b = bytesOf(p.pkt);
    log?.push(b);
    to.deliverNetworkPacket(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(b));
    n++;
  }
  to.endBatch?.();
  return n;
}
async function shuttle(log?: Uint8Array[]): Promise<void> {
  for (let i = 0; i < 5; i++) {
    move(cli.ch, sd, log);
    move(srv.ch, cd);
    await Promise.resolve();
  }
}

const c = cli.stack.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as TcpEndpoint;
try {
  c.connect({ addr: srv.addr, port: 7 });
} catch (e) {
  if (!(e instanceof ErrConnectStarted)) throw e;
}
await shuttle();
if (c.state !== "ESTABLISHED") throw new Error(`client ${c.state}`);
// Warm-up through the client stack; the last request is the template.
let template: Uint8Array | undefined;
for (let i = 0; i < 3000; i++) {
  c.write(new Uint8Array([i & 0xff]));
  const log: Uint8Array[] = [];
  await shuttle(log);
  const d = c.read().data;
  if (d.length !== 1) throw new Error(`warm-up ${i}: echo of ${d.length} bytes`);
  template = log.find((b) => b.length === (b[0]! & 15) * 4 + (b[(b[0]! & 15) * 4 + 12]! >>> 4) * 4 + 1);
}
if (!template) throw new Error("no data segment seen");
const ihl = (template[0]! & 15) * 4;
const dv = new DataView(template.buffer, template.byteOffset);
let seq = dv.getUint32(ihl + 4);
let ack = dv.getUint32(ihl + 8);
const pseudo = pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, cli.addr, srv.addr, template.length - ihl);

// A slab of request slots, as the fdbased link reads into one.
const SLOTS = 64;
const slot = 2048;
const slab = new Uint8Array(SLOTS * slot);
const sdv = new DataView(slab.buffer);
for (let k = 0; k < SLOTS; k++) slab.set(template, k * slot);
let k = 0;
let bad = 0;

function roundTrip(): void {
  seq = (seq + 1) >>> 0;
  ack = (ack + 1) >>> 0;
  const off = k * slot;
  k = (k + 1) % SLOTS;
  sdv.setUint32(off + ihl + 4, seq);
  sdv.setUint32(off + ihl + 8, ack);
  sdv.setUint16(off + ihl + 16, 0);
  sdv.setUint16(off + ihl + 16, finishChecksum(checksum(slab, off + ihl, template!.length - ihl, pseudo)));
  sd.beginBatch?.();
  sd.deliverNetworkPacket(
    IPV4_PROTOCOL_NUMBER,
    new PacketBuffer(slab.subarray(off, off + template!.length), 0, template!.length),
  );
  sd.endBatch?.();
  if (srv.ch.queued !== 1) bad++;
  srv.ch.drain();
}

// The harness's own allocations: the slab view and the PacketBuffer (the fdbased link makes the same two).
for (let i = 0; i < 20_000; i++) roundTrip();
if (bad) throw new Error(`${bad} requests without exactly one reply`);
gcAndSweep();
const a = heapStats();
for (let i = 0; i < SAMPLE; i++) roundTrip();
const b = heapStats();
const rows: [string, number][] = [];
for (const [t, n] of Object.entries(b.objectTypeCounts)) {
  const d = n - (a.objectTypeCounts[t as keyof typeof a.objectTypeCounts] ?? 0);
  if (d > 0) rows.push([t, d / SAMPLE]);
}
rows.sort((x, y) => y[1] - x[1]);
const objs = rows.reduce((s, r) => s + r[1], 0);
console.log(`objects per round trip (${SAMPLE} sampled, heap ${(b.heapSize - a.heapSize) / SAMPLE} B each):`);
for (const [t, n] of rows) if (n >= 0.01) console.log(`  ${t.padEnd(24)} ${n.toFixed(2)}`);
console.log(`  total ${objs.toFixed(2)} (2 of them the harness's slab view and PacketBuffer)`);

gcAndSweep();
const m0 = process.memoryUsage();
const t0 = performance.now();
for (let i = 0; i < N; i++) roundTrip();
const t1 = performance.now();
if (bad) throw new Error(`${bad} requests without exactly one reply`);
console.log(
  `${N} round trips: ${(((t1 - t0) / N) * 1000).toFixed(2)} us each (server path only); ` +
    `rss ${((process.memoryUsage().rss - m0.rss) / 1048576).toFixed(1)} MiB more`,
);

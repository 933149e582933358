/**
 * Issue 10: "100,000 idle connections in one process without failure".
 *
 *   bun bench/scale.bench.ts [--connections 100000] [--clients 4] [--sample 1000] [--out FILE] [--no-write]
 *
 * Two real Stacks in this process on an Ethernet channel link and a
 * ManualClock: a server stack running the echo service (the one `netstack
 * serve --service echo` runs, src/services) and a client stack with
 * `--clients` addresses in 198.18.1.0/24 (the 4-tuple space of one client
 * address is its ~49,500 ephemeral ports). It opens every connection, checks
 * that all are established and that the server's service counts them, lets
 * them sit idle, measures the heap (after a full GC) and the RSS, has a sample
 * of them echo a few bytes, then closes all of them (client first, the
 * service answers with its FIN) and checks that every server endpoint is gone
 * and no timer is left once TIME-WAIT has run out.
 *
 * Memory is per connection with both ends in this process: the server's
 * endpoint and service connection plus the client's endpoint. `serve` holds
 * only the server end (see tun.bench.ts for its RSS through a TUN device).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { newArpProtocol } from "../src/network/arp/arp.ts";
import { newIpv4Protocol } from "../src/network/ipv4/ipv4.ts";
import { ipv6 } from "../src/network/ipv6/protocol.ts";
import { ServiceManager } from "../src/services/services.ts";
import { Stack } from "../src/stack/stack.ts";
import { Address } from "../src/tcpip/address.ts";
import { ManualClock } from "../src/tcpip/clock.ts";
import { ErrConnectStarted, ErrWouldBlock } from "../src/tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../src/tcpip/protocols.ts";
import { SeededRandom } from "../src/tcpip/random.ts";
import { Subnet } from "../src/tcpip/subnet.ts";
import type { TcpEndpoint } from "../src/transport/tcp/endpoint.ts";
import { TcpProtocol } from "../src/transport/tcp/protocol.ts";
import { ethernetWire } from "../src/transport/udp/testing.ts";
import { Queue } from "../src/waiter/waiter.ts";

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const N = Number(option("--connections") ?? 100_000);
const CLIENTS = Number(option("--clients") ?? Math.max(1, Math.ceil(N / 40_000)));
const SAMPLE = Math.min(N, Number(option("--sample") ?? 1000));
const OUT = resolve(option("--out") ?? join(import.meta.dir, "results/scale.json"));
const BATCH = 500;
const ECHO = 7;

const t0 = performance.now();
const clock = new ManualClock();
const mk = (seed: number) =>
  new Stack({
    networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6()],
    transportProtocols: [TcpProtocol.factory()],
    clock,
    random: new SeededRandom(seed),
  });
const client = mk(1);
const server = mk(2);
const w = ethernetWire(1500, { auto: false });
client.createNIC(1, w.a.link);
server.createNIC(1, w.b.link);
const serverAddr = Address.parse("198.18.0.2");
server.addAddress(1, IPV4_PROTOCOL_NUMBER, serverAddr, 15);
server.addRoute({ destination: Subnet.parse("198.18.0.0/15"), nic: 1 });
const clientAddrs: Address[] = [];
for (let i = 1; i <= CLIENTS; i++) {
  const a = Address.parse(`198.18.1.${i}`);
  client.addAddress(1, IPV4_PROTOCOL_NUMBER, a, 15);
  clientAddrs.push(a);
}
client.addRoute({ destination: Subnet.parse("198.18.0.0/15"), nic: 1 });

const services = new ServiceManager(server);
const echo = await services.start({ kind: "echo", protocol: "tcp", port: ECHO });

/** `ms` steps of 1 ms: frames delivered, then the microtasks the service defers its reads to. */
async function run(ms: number): Promise<void> {
  for (let t = 0; t < ms; t++) {
    w.pipe.flush();
    await Promise.resolve();
    w.pipe.flush();
    clock.advance(1);
  }
}

function open(i: number): TcpEndpoint {
  const c = client.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as TcpEndpoint;
  c.bind({ addr: clientAddrs[i % CLIENTS]!, port: 0 });
  try {
    c.connect({ addr: serverAddr, port: ECHO });
  } catch (e) {
    if (!(e instanceof ErrConnectStarted)) throw e;
  }
  return c;
}

function gcHeap(): number {
  Bun.gc(true);
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
}

// Warm up ARP for every client address and the code paths, then the baseline.
const warm: TcpEndpoint[] = [];
for (let i = 0; i < CLIENTS; i++) warm.push(open(i));
await run(20);
const heap0 = gcHeap();
const rss0 = process.memoryUsage().rss;

const clients: TcpEndpoint[] = [];
const tOpen = performance.now();
for (let i = 0; i < N; i += BATCH) {
  for (let j = i; j < Math.min(N, i + BATCH); j++) clients.push(open(j));
  await run(3);
}
await run(50);
const openSeconds = (performance.now() - tOpen) / 1000;
const established = clients.filter((c) => c.state === "ESTABLISHED").length;
const serverConnections = echo.connections - CLIENTS;
// Idle: nothing buffered, delayed ACKs long gone; a second of idle time on the clock.
await run(1000);
const heap1 = gcHeap();
const rss1 = process.memoryUsage().rss;
const heapPerConn = (heap1 - heap0) / N;
const rssPerConn = (rss1 - rss0) / N;
console.error(
  `opened ${N} connections in ${openSeconds.toFixed(1)} s: ${established} established on the client, ${serverConnections} in the echo service`,
);

// A sample echoes.
const msg = new TextEncoder().encode("ping!");
const step = Math.max(1, Math.floor(N / SAMPLE));
const sample = clients.filter((_, i) => i % step === 0).slice(0, SAMPLE);
let echoed = 0;
for (let i = 0; i < sample.length; i += BATCH) {
  const batch = sample.slice(i, i + BATCH);
  for (const c of batch) c.write(msg);
  const waiting = new Set(batch);
  for (let ms = 0; ms < 2000 && waiting.size > 0; ms++) {
    await run(1);
    for (const c of waiting) {
      let got: Uint8Array;
      try {
        got = c.read().data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) continue;
        throw e;
      }
      if (got.length === msg.length) echoed++;
      waiting.delete(c);
    }
  }
}

// Close: clients first; the echo service closes its side on their FIN.
const tClose = performance.now();
for (let i = 0; i < N; i += BATCH) {
  for (const c of clients.slice(i, i + BATCH)) c.close();
  await run(3);
}
for (const c of warm) c.close();
await run(200);
const closedCleanly = clients.filter((c) => c.state === "TIME-WAIT" || c.state === "CLOSED").length;
const serviceLeft = echo.connections;
// TIME-WAIT runs out: every endpoint and timer goes.
clock.advance(120_000);
await run(5);
const closeSeconds = (performance.now() - tClose) / 1000;
const clientClosed = clients.filter((c) => c.state === "CLOSED").length;
const timersLeft = clock.pendingTimers;
const seconds = (performance.now() - t0) / 1000;
const peakRss = process.memoryUsage().rss;

const ok =
  established === N &&
  serverConnections === N &&
  echoed === sample.length &&
  closedCleanly === N &&
  serviceLeft === 0 &&
  clientClosed === N;
const result = {
  benchmark: "bench/scale.bench.ts (issue 10)",
  date: new Date().toISOString(),
  connections: N,
  clientAddresses: CLIENTS,
  established,
  serverConnections,
  heapPerConnectionKiB: Math.round((heapPerConn / 1024) * 100) / 100,
  rssPerConnectionKiB: Math.round((rssPerConn / 1024) * 100) / 100,
  heapMiB: Math.round((heap1 - heap0) / 2 ** 20),
  rssMiB: Math.round(rss1 / 2 ** 20),
  openSeconds: Math.round(openSeconds * 10) / 10,
  sample: sample.length,
  echoed,
  closedCleanly,
  serviceConnectionsAfterClose: serviceLeft,
  clientEndpointsClosedAfterTimeWait: clientClosed,
  timersLeft,
  closeSeconds: Math.round(closeSeconds * 10) / 10,
  seconds: Math.round(seconds),
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  bun: Bun.version,
  ok,
  note: "memory per connection holds both ends (client and server endpoint, service connection) in one process",
};
console.log(
  [
    `scale: ${N} connections from ${CLIENTS} client addresses to one echo service, one process, ${seconds.toFixed(0)} s`,
    `  established ${established}/${N} (service counts ${serverConnections}); opened in ${openSeconds.toFixed(1)} s`,
    `  idle: heap +${result.heapMiB} MiB = ${result.heapPerConnectionKiB} KiB per connection, RSS ${result.rssMiB} MiB = +${result.rssPerConnectionKiB} KiB per connection (both ends in this process)`,
    `  echo sample: ${echoed}/${sample.length} got their bytes back`,
    `  close: ${closedCleanly}/${N} closed cleanly (client TIME-WAIT), service connections left ${serviceLeft}; after TIME-WAIT ${clientClosed}/${N} client endpoints closed, ${timersLeft} timers pending; ${closeSeconds.toFixed(1)} s`,
    `  ${ok ? "ok" : "FAILED"}`,
  ].join("\n"),
);
if (!args.includes("--no-write")) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${OUT}`);
}
process.exit(ok ? 0 : 1);

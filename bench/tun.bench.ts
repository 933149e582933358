/**
 * Issue 10: `netstack serve` on a TUN device against the Linux kernel, with
 * the kernel alone over a veth pair measured in the same run, and the ratio.
 * Needs root (network namespaces, TUN); without it, it says so and exits 0.
 *
 *   bun bench/tun.bench.ts [--bytes 256MiB] [--quick] [--no-offload] [--pin]
 *                          [--client native|bun] [--bin PATH | --source] [--out FILE] [--no-write]
 *
 * See bench/README.md for what each figure means. Figures: upload into
 * discard, download from chargen, 1-byte request/response on one connection,
 * sequential connect + 1-byte echo + close, ping RTT median, memory per idle
 * connection. Every figure is bounded by a count and a time limit; a figure
 * the stack fails (stall, crash) is reported as such and the run goes on.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { ClientResult } from "./lib/client.ts";
import { buildTcpbench } from "./lib/native.ts";
import {
  type Child,
  cleanupAll,
  installCleanupHandlers,
  isRoot,
  Netns,
  run,
  spawn,
  uniqueName,
  uniqueSubnet24,
} from "./lib/ns.ts";
import { netstackCommand, rssBytes, type StackRun, startStack, tail } from "./lib/stack.ts";

// ------------------------------------------------------------------ options

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g|kib|mib|gib|kb|mb|gb)?$/i.exec(s.trim());
  if (!m) throw new Error(`--bytes: cannot read ${s} (e.g. 256MiB, 1GiB, 1000000)`);
  const mult: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  const unit = (m[2] ?? "").toLowerCase()[0] ?? "";
  return Math.round(Number(m[1]) * (mult[unit] ?? 1));
}

const args = process.argv.slice(2);
function flag(name: string): boolean {
  return args.includes(name);
}
function value(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}
if (flag("--help")) {
  console.log(
    "usage: bun bench/tun.bench.ts [--bytes 256MiB] [--quick] [--no-offload] [--pin] [--client native|bun] [--bin PATH | --source] [--out FILE] [--no-write]",
  );
  process.exit(0);
}
const quick = flag("--quick");
const opts = {
  bytes: parseBytes(value("--bytes") ?? (quick ? "32MiB" : "256MiB")),
  bulkLimitMs: Number(value("--bulk-limit-ms") ?? (quick ? 5000 : 15_000)),
  rrCount: quick ? 5000 : 50_000,
  rrLimitMs: quick ? 2000 : 5000,
  cpsCount: quick ? 2000 : 20_000,
  cpsLimitMs: quick ? 2000 : 5000,
  pingCount: quick ? 50 : 200,
  idle: Number(value("--idle") ?? 1000),
  offload: !flag("--no-offload"),
  pin: flag("--pin"),
  client: value("--client") ?? "native",
  out: resolve(value("--out") ?? join(import.meta.dir, "results/latest.json")),
  write: !flag("--no-write"),
};

// ------------------------------------------------------------------ figures

type Side = "kernel" | "netstack" | "netstack+offload";
interface Figure {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  /** Target ratio netstack/kernel from issue 10, with its direction. */
  target?: { op: ">=" | "<="; ratio: number };
  kernel?: number | undefined;
  netstack?: number | undefined;
  ratio?: number | undefined;
  notes: string[];
  detail: Partial<Record<Side, unknown>>;
}

const figures: Figure[] = [];
function figure(
  key: string,
  label: string,
  unit: string,
  higherIsBetter: boolean,
  target?: Figure["target"],
): Figure {
  const f: Figure = {
    key,
    label,
    unit,
    higherIsBetter,
    notes: [],
    detail: {},
    ...(target ? { target } : {}),
  };
  figures.push(f);
  return f;
}
const observations: string[] = [];
function observe(s: string): void {
  observations.push(s);
  console.error(`  ! ${s}`);
}

// ------------------------------------------------------------------ clients

let native: string | undefined;
const clientTs = join(import.meta.dir, "lib/client.ts");
const kernelServerTs = join(import.meta.dir, "lib/kernel-server.ts");
const CLIENT_CPU = "1";
const SERVER_CPU = "0";

function clientArgv(mode: string, host: string, port: number, n: number, limitMs: number): string[] {
  const pin = opts.pin ? ["taskset", "-c", CLIENT_CPU] : [];
  const a = [mode, host, String(port), String(n), String(limitMs)];
  return native ? [...pin, native, ...a] : [...pin, process.execPath, clientTs, ...a];
}

type Measured = ClientResult & { failure?: string };

async function client(
  ns: Netns,
  mode: string,
  host: string,
  port: number,
  n: number,
  limitMs: number,
): Promise<Measured> {
  const r = await run(ns.argv(clientArgv(mode, host, port, n, limitMs)), limitMs + 15_000);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    const res = JSON.parse(line) as Measured;
    if (r.timedOut) res.failure = "client killed after its limit + 15 s";
    return res;
  } catch {
    return {
      mode,
      count: 0,
      bytes: 0,
      seconds: 0,
      capped: true,
      failure: `client exited ${r.code}${r.timedOut ? " (killed at the time limit)" : ""}: ${tail(r.stderr || r.stdout)}`,
    };
  }
}

function describe(r: Measured): string {
  const parts = [`${r.count} in ${r.seconds.toFixed(2)} s`];
  if (r.capped) parts.push("stopped by the time limit");
  if (r.error) parts.push(`error: ${r.error}`);
  if (r.failure) parts.push(`failure: ${r.failure}`);
  return parts.join(", ");
}

function rate(r: Measured, bits: boolean): number | undefined {
  if (r.failure || r.seconds <= 0 || r.count <= 0) return undefined;
  return bits ? (r.bytes * 8) / r.seconds / 1e9 : r.count / r.seconds;
}

async function ping(ns: Netns, host: string): Promise<{ median?: number; detail: string }> {
  const r = await run(
    ns.argv(["ping", "-n", "-c", String(opts.pingCount), "-i", "0.005", "-W", "1", "-w", "15", host]),
    25_000,
  );
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length === 0)
    return { detail: `no replies (ping exited ${r.code}): ${tail(r.stdout + r.stderr, 200)}` };
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(times.length * p))]!;
  return {
    median: q(0.5),
    detail: `${times.length}/${opts.pingCount} replies, min ${times[0]} p50 ${q(0.5)} p90 ${q(0.9)} max ${times[times.length - 1]} ms`,
  };
}

async function tunCounters(
  ns: Netns,
  dev: string,
): Promise<{ rxP: number; rxB: number; txP: number; txB: number; txDrop: number } | undefined> {
  const r = await ns.run(["ip", "-s", "-j", "link", "show", "dev", dev]);
  try {
    type Dir = { bytes: number; packets: number; dropped: number };
    const s = (JSON.parse(r.stdout) as { stats64: { rx: Dir; tx: Dir } }[])[0]!.stats64;
    return { rxP: s.rx.packets, rxB: s.rx.bytes, txP: s.tx.packets, txB: s.tx.bytes, txDrop: s.tx.dropped };
  } catch {
    return undefined;
  }
}

/** The kernel's TCP counters in a namespace (/proc/net/snmp and /proc/net/netstat), by name. */
async function tcpCounters(ns: Netns): Promise<Record<string, number>> {
  const r = await ns.run(["cat", "/proc/net/snmp", "/proc/net/netstat"]);
  const out: Record<string, number> = {};
  const lines = r.stdout.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [p, ...names] = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/).slice(1);
    if (p !== "Tcp:" && p !== "TcpExt:") continue;
    for (const [j, n] of names.entries()) out[n] = Number(values[j]);
  }
  return out;
}
const WATCH = [
  "RetransSegs",
  "TCPTimeouts",
  "TCPLossProbes",
  "TCPSACKRecovery",
  "TCPFastRetrans",
  "TCPZeroWindowDrop",
];
function delta(a: Record<string, number>, b: Record<string, number>): string {
  const parts = WATCH.filter((k) => (b[k] ?? 0) - (a[k] ?? 0) > 0).map(
    (k) => `${k} +${(b[k] ?? 0) - (a[k] ?? 0)}`,
  );
  return parts.length ? parts.join(", ") : "none";
}

async function slabBytes(): Promise<number> {
  const m = /^Slab:\s+(\d+) kB/m.exec(await Bun.file("/proc/meminfo").text());
  return m ? Number(m[1]) * 1024 : Number.NaN;
}
async function tcpMemPages(ns: Netns): Promise<number> {
  const r = await ns.run(["cat", "/proc/net/sockstat"]);
  const m = /^TCP:.* mem (\d+)/m.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** Waits (≤ 10 s) until no connection in `ns` is still closing, so one figure's teardown does not load the next. */
let settleMs = 10_000;
async function settle(ns: Netns): Promise<string | undefined> {
  const end = Date.now() + settleMs;
  let n = 0;
  while (Date.now() < end) {
    const r = await ns.run([
      "ss",
      "-Htan",
      "state",
      "fin-wait-1",
      "state",
      "closing",
      "state",
      "last-ack",
      "state",
      "syn-sent",
    ]);
    n = r.stdout.trim() ? r.stdout.trim().split("\n").length : 0;
    if (n === 0) return undefined;
    await Bun.sleep(100);
  }
  const msg = `${n} connections still closing after ${settleMs / 1000} s`;
  // Once is enough to wait long: a stalled stack would otherwise add 10 s to every figure.
  settleMs = 2000;
  return msg;
}

/** Opens `opts.idle` idle connections from `ns` to host:port and returns them held open (stop() closes). */
async function openIdle(
  ns: Netns,
  host: string,
  port: number,
): Promise<{ child: Child; open: number; why?: string }> {
  const child = spawn(ns.argv(clientArgv("idle", host, port, opts.idle, 60_000)));
  const end = Date.now() + 30_000;
  for (;;) {
    const m = /open (\d+)/.exec(child.stdout());
    if (m) return { child, open: Number(m[1]) };
    if (child.proc.exitCode !== null || Date.now() > end) {
      await child.stop();
      return { child, open: 0, why: `idle client did not report: ${tail(child.stdout() + child.stderr())}` };
    }
    await Bun.sleep(50);
  }
}

// ------------------------------------------------------------------ runs

const fUp = figure("upload", "upload into discard", "Gbit/s", true, { op: ">=", ratio: 0.2 });
const fDown = figure("download", "download from chargen", "Gbit/s", true, { op: ">=", ratio: 0.2 });
const fRr = figure("rr", "1-byte request/response", "round trips/s", true, { op: ">=", ratio: 0.4 });
const fCps = figure("cps", "connect + 1-byte echo + close", "connections/s", true, { op: ">=", ratio: 0.5 });
const fPing = figure("ping", "ping RTT median", "ms", false, { op: "<=", ratio: 2.5 });
const fMem = figure("memory", "memory per idle connection", "KiB", false);
const fUpO = figure("upload+offload", "upload into discard, --offload", "Gbit/s", true, {
  op: ">=",
  ratio: 0.4,
});
const fDownO = figure("download+offload", "download from chargen, --offload", "Gbit/s", true, {
  op: ">=",
  ratio: 0.4,
});
const fRrO = figure("rr+offload", "1-byte request/response, --offload", "round trips/s", true, {
  op: ">=",
  ratio: 0.4,
});
const fCpsO = figure("cps+offload", "connect + echo + close, --offload", "connections/s", true, {
  op: ">=",
  ratio: 0.5,
});
const fPingO = figure("ping+offload", "ping RTT median, --offload", "ms", false, { op: "<=", ratio: 2.5 });
if (!opts.offload) for (const f of [fUpO, fDownO, fRrO, fCpsO, fPingO]) figures.splice(figures.indexOf(f), 1);

const DISCARD = 9;
const CHARGEN = 19;
const ECHO = 7;

async function kernelRun(): Promise<void> {
  console.error("kernel over veth:");
  const a = await Netns.create("nbk");
  const b = await Netns.create("nbk");
  const ip = uniqueSubnet24();
  const va = uniqueName("vbk");
  const vb = uniqueName("vbk");
  await run([
    "ip",
    "link",
    "add",
    va,
    "netns",
    a.name,
    "type",
    "veth",
    "peer",
    "name",
    vb,
    "netns",
    b.name,
  ]).then((r) => {
    if (r.code !== 0) throw new Error(`veth: ${r.stderr}`);
  });
  await a.sh(["ip", "addr", "add", `${ip(1)}/24`, "dev", va]);
  await b.sh(["ip", "addr", "add", `${ip(2)}/24`, "dev", vb]);
  await a.sh(["ip", "link", "set", va, "up"]);
  await b.sh(["ip", "link", "set", vb, "up"]);
  await a.sh(["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"]);
  const pin = opts.pin ? ["taskset", "-c", SERVER_CPU] : [];
  const server = spawn(
    b.argv(
      native
        ? [...pin, native, "server", "0.0.0.0", String(DISCARD), String(CHARGEN), String(ECHO)]
        : [
            ...pin,
            process.execPath,
            kernelServerTs,
            "0.0.0.0",
            String(DISCARD),
            String(CHARGEN),
            String(ECHO),
          ],
    ),
  );
  const end = Date.now() + 10_000;
  while (!server.stdout().includes("ready")) {
    if (server.proc.exitCode !== null || Date.now() > end)
      throw new Error(`kernel server: ${tail(server.stderr())}`);
    await Bun.sleep(20);
  }
  const host = ip(2);
  try {
    const up = await client(a, "upload", host, DISCARD, opts.bytes, opts.bulkLimitMs);
    fUp.kernel = rate(up, true);
    fUp.detail.kernel = up;
    console.error(`  upload: ${fmt(fUp.kernel)} Gbit/s (${describe(up)})`);
    const down = await client(a, "download", host, CHARGEN, opts.bytes, opts.bulkLimitMs);
    fDown.kernel = rate(down, true);
    fDown.detail.kernel = down;
    console.error(`  download: ${fmt(fDown.kernel)} Gbit/s (${describe(down)})`);
    const rr = await client(a, "rr", host, ECHO, opts.rrCount, opts.rrLimitMs);
    fRr.kernel = rate(rr, false);
    fRr.detail.kernel = rr;
    console.error(`  rr: ${fmt(fRr.kernel)}/s (${describe(rr)}, p50 ${rr.p50us} µs, p99 ${rr.p99us} µs)`);
    const cps = await client(a, "cps", host, ECHO, opts.cpsCount, opts.cpsLimitMs);
    fCps.kernel = rate(cps, false);
    fCps.detail.kernel = cps;
    console.error(`  cps: ${fmt(fCps.kernel)}/s (${describe(cps)})`);
    const p = await ping(a, host);
    fPing.kernel = p.median;
    fPing.detail.kernel = p.detail;
    console.error(`  ping: ${p.detail}`);
    // Memory: both ends are kernel sockets here, so the slab growth is shared by 2 × open sockets.
    await Bun.sleep(300);
    const slab0 = await slabBytes();
    const mem0 = await tcpMemPages(a);
    const idle = await openIdle(a, host, ECHO);
    await Bun.sleep(1000);
    const slab1 = await slabBytes();
    const mem1 = await tcpMemPages(a);
    await idle.child.stop();
    await settle(a);
    if (idle.open > 0) {
      const per = (slab1 - slab0 + (mem1 - mem0) * 4096) / (2 * idle.open);
      fMem.kernel = per / 1024;
      fMem.detail.kernel = {
        open: idle.open,
        slabDeltaBytes: slab1 - slab0,
        tcpMemDeltaPages: mem1 - mem0,
        method: "(Δ Slab in /proc/meminfo + Δ TCP mem pages in /proc/net/sockstat) / (2 × open sockets)",
      };
      console.error(
        `  memory: ${fmt(fMem.kernel)} KiB per socket (${idle.open} connections, 2 sockets each)`,
      );
    } else fMem.notes.push(`kernel: ${idle.why}`);
  } finally {
    await server.stop();
    await a.delete();
    await b.delete();
  }
}

async function stackRun(offload: boolean, cmd: string[]): Promise<void> {
  const tag: Side = offload ? "netstack+offload" : "netstack";
  console.error(`netstack over TUN${offload ? " with --offload (IFF_VNET_HDR)" : ""}:`);
  const ns = await Netns.create("nbs");
  await ns.sh(["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"]);
  const ip = uniqueSubnet24();
  const tun = uniqueName("tbs");
  // One start and at most three restarts (after crashes) per run; after two failed starts, give up:
  // the remaining figures of this run stay empty.
  let starts = 0;
  let failedStarts = 0;
  const start = async (): Promise<StackRun | undefined> => {
    if (++starts > 4 || failedStarts >= 2) return undefined;
    const s = await startStack(ns, cmd, {
      tun,
      addr: ip(2),
      hostAddr: ip(1),
      offload,
      ...(opts.pin ? { cpu: SERVER_CPU } : {}),
    });
    if (s.failure) {
      failedStarts++;
      observe(`${tag}: ${s.failure}`);
      return undefined;
    }
    return s;
  };
  let stack = await start();
  // Before each figure: a stack that died in the previous one is reported and started again.
  const running = () =>
    stack !== undefined && stack.child.proc.exitCode === null && stack.child.proc.signalCode === null;
  let dead = 0;
  const alive = async (what: string): Promise<StackRun | undefined> => {
    if (running()) {
      const unsettled = await settle(ns);
      if (unsettled) observe(`${tag}: before "${what}": ${unsettled}`);
      if (running()) return stack;
    }
    if (stack && dead++ === 0)
      observe(
        `${tag}: netstack serve exited (${stack.child.proc.exitCode ?? stack.child.proc.signalCode}) before "${what}": ${tail(stack.child.stderr())}`,
      );
    stack = await start();
    dead = 0;
    return stack;
  };
  /** A figure measured while the stack died is no figure: drop it and say so. */
  const keep = (f: Figure, what: string): boolean => {
    if (running()) return true;
    f.netstack = undefined;
    f.notes.push(`${tag}: netstack serve died during this figure; figure dropped`);
    observe(
      `${tag}: netstack serve exited (${stack?.child.proc.exitCode ?? stack?.child.proc.signalCode}) during "${what}": ${tail(stack?.child.stderr() ?? "")}`,
    );
    dead++;
    return false;
  };
  const host = ip(2);
  const pick = (plain: Figure, off: Figure) => (offload ? off : plain);
  try {
    // Memory first, on a fresh process: later figures grow the JS heap, whose free room would hide the cost.
    if (!offload) {
      const s = await alive("memory");
      if (s) {
        await Bun.sleep(500);
        const rss0 = await rssBytes(s.child.pid);
        const slab0 = await slabBytes();
        const idle = await openIdle(ns, host, ECHO);
        await Bun.sleep(1000);
        const rss1 = await rssBytes(s.child.pid);
        const slab1 = await slabBytes();
        await idle.child.stop();
        if (!keep(fMem, "memory")) idle.open = 0;
        const unsettled = await settle(ns);
        if (unsettled) observe(`netstack memory: ${unsettled} (closing the idle connections)`);
        if (idle.open > 0 && Number.isFinite(rss0 + rss1)) {
          fMem.netstack = (rss1 - rss0) / idle.open / 1024;
          fMem.detail.netstack = {
            open: idle.open,
            rssBeforeBytes: rss0,
            rssAfterBytes: rss1,
            clientSlabDeltaBytes: slab1 - slab0,
            method: "Δ VmRSS of the netstack serve process (/proc/PID/status) / open connections",
          };
          fMem.notes.push(
            `netstack: VmRSS ${(rss0 / 2 ** 20).toFixed(1)} → ${(rss1 / 2 ** 20).toFixed(1)} MiB for ${idle.open} connections; the kernel client sockets of the same run grew Slab by ${fmt((slab1 - slab0) / idle.open / 1024)} KiB each (cross-check of the kernel figure)`,
          );
          console.error(`  memory: ${fmt(fMem.netstack)} KiB per connection (${idle.open} connections)`);
        } else {
          fMem.notes.push(`netstack: ${idle.why ?? "RSS unreadable"}`);
          observe(`netstack memory: ${idle.why ?? "RSS unreadable"}`);
        }
      }
    }
    for (const [kind, port, f] of [
      ["upload", DISCARD, pick(fUp, fUpO)],
      ["download", CHARGEN, pick(fDown, fDownO)],
    ] as const) {
      const s = await alive(kind);
      if (!s) continue;
      const c0 = await tunCounters(ns, tun);
      const k0 = await tcpCounters(ns);
      const r = await client(ns, kind, host, port, opts.bytes, opts.bulkLimitMs);
      const c1 = await tunCounters(ns, tun);
      const k1 = await tcpCounters(ns);
      f.netstack = rate(r, true);
      keep(f, kind);
      // On the kernel side of the TUN: tx = towards the stack, rx = from the stack.
      let seg = "TUN counters unavailable (device gone?)";
      if (c0 && c1 && c1.txP >= c0.txP && c1.rxP >= c0.rxP) {
        const toStack = {
          packets: c1.txP - c0.txP,
          avgBytes: Math.round((c1.txB - c0.txB) / Math.max(1, c1.txP - c0.txP)),
        };
        const fromStack = {
          packets: c1.rxP - c0.rxP,
          avgBytes: Math.round((c1.rxB - c0.rxB) / Math.max(1, c1.rxP - c0.rxP)),
        };
        f.detail[tag] = { ...r, tun: { toStack, fromStack, droppedToStack: c1.txDrop - c0.txDrop } };
        const dropped = c1.txDrop - c0.txDrop;
        seg = `TUN: ${toStack.packets} packets to the stack (avg ${toStack.avgBytes} B, ${dropped} dropped at the full TUN queue), ${fromStack.packets} from it (avg ${fromStack.avgBytes} B)`;
      } else f.detail[tag] = r;
      seg += `; kernel-side TCP events: ${delta(k0, k1)}`;
      f.notes.push(`${tag}: ${seg}`);
      console.error(`  ${kind}: ${fmt(f.netstack)} Gbit/s (${describe(r)}); ${seg}`);
      if (r.error || r.failure) observe(`${tag} ${kind}: ${describe(r)}`);
    }
    {
      const f = pick(fRr, fRrO);
      if (await alive("rr")) {
        const r = await client(ns, "rr", host, ECHO, opts.rrCount, opts.rrLimitMs);
        f.netstack = rate(r, false);
        f.detail[tag] = r;
        keep(f, "rr");
        console.error(
          `  rr: ${fmt(f.netstack)}/s (${describe(r)}, p50 ${r.p50us ?? "—"} µs, p99 ${r.p99us ?? "—"} µs)`,
        );
        if (r.error || r.failure) observe(`${tag} rr: ${describe(r)}`);
      }
    }
    {
      const f = pick(fCps, fCpsO);
      if (await alive("cps")) {
        const r = await client(ns, "cps", host, ECHO, opts.cpsCount, opts.cpsLimitMs);
        f.netstack = rate(r, false);
        f.detail[tag] = r;
        keep(f, "cps");
        console.error(`  cps: ${fmt(f.netstack)}/s (${describe(r)})`);
        if (r.error || r.failure) observe(`${tag} cps: ${describe(r)}`);
      }
    }
    {
      const f = pick(fPing, fPingO);
      if (await alive("ping")) {
        const p = await ping(ns, host);
        f.netstack = p.median;
        f.detail[tag] = p.detail;
        keep(f, "ping");
        console.error(`  ping: ${p.detail}`);
      }
    }
    if (stack && stack.child.proc.exitCode !== null)
      observe(`${tag}: netstack serve exited at the end: ${tail(stack.child.stderr())}`);
  } finally {
    if (stack) {
      const code = await stack.child.stop(3000);
      if (code !== 0 && code !== 143 && code !== null)
        observe(`${tag}: netstack serve exited ${code} on SIGTERM: ${tail(stack.child.stderr())}`);
    }
    await ns.delete();
  }
}

// ------------------------------------------------------------------ output

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(v >= 1 ? 2 : 3);
}

function table(): string {
  const rows = [["figure", "unit", "kernel", "netstack", "ratio", "target", ""]];
  for (const f of figures) {
    f.ratio = f.kernel && f.netstack !== undefined ? f.netstack / f.kernel : undefined;
    const tgt = f.target ? `${f.target.op} ${f.target.ratio}` : "—";
    let ok = "";
    if (f.target && f.ratio !== undefined)
      ok = (f.target.op === ">=" ? f.ratio >= f.target.ratio : f.ratio <= f.target.ratio) ? "met" : "MISSED";
    else if (f.target) ok = "no figure";
    rows.push([
      f.label,
      f.unit,
      fmt(f.kernel),
      fmt(f.netstack),
      f.ratio === undefined ? "—" : f.ratio.toFixed(2),
      tgt,
      ok,
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(" | ")} |`;
  return [line(rows[0]!), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...rows.slice(1).map(line)].join(
    "\n",
  );
}

async function machine(): Promise<Record<string, unknown>> {
  const sh = async (c: string[]) => (await run(c, 5000)).stdout.trim();
  return {
    nproc: Number(await sh(["nproc"])),
    kernel: await sh(["uname", "-r"]),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    bun: Bun.version,
    loadavgAtStart: (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).map(Number),
    gitCommit: await sh(["git", "-C", import.meta.dir, "rev-parse", "--short", "HEAD"]),
    srcChangesUncommitted:
      (await sh(["git", "-C", import.meta.dir, "status", "--porcelain", "--", "../src"])).length > 0,
  };
}

// ------------------------------------------------------------------ main

if (!isRoot || !existsSync("/dev/net/tun") || !Bun.which("ip") || !Bun.which("ping")) {
  console.log("tun.bench: skipped (needs root, /dev/net/tun, ip and ping; see bench/README.md)");
  process.exit(0);
}
installCleanupHandlers();
const t0 = performance.now();
const mach = await machine();
let exitCode = 0;
try {
  if (opts.client === "native") {
    const b = await buildTcpbench();
    native = b.path;
    if (!native)
      observe(`native client unavailable (${b.why}); using the Bun clients in bench/lib/client.ts`);
  }
  const cmd = await netstackCommand({
    ...(value("--bin") ? { bin: value("--bin")! } : {}),
    source: flag("--source"),
  });
  console.error(`netstack: ${cmd.what}`);
  console.error(
    `client: ${native ? "native (bench/lib/tcpbench.c)" : "Bun (bench/lib/client.ts)"}; ${opts.bytes} bytes per bulk figure; load average ${(mach.loadavgAtStart as number[]).join(" ")}`,
  );
  await kernelRun();
  // The offload rows compare against the same kernel figures.
  for (const [plain, off] of [
    [fUp, fUpO],
    [fDown, fDownO],
    [fRr, fRrO],
    [fCps, fCpsO],
    [fPing, fPingO],
  ] as const) {
    if (plain.kernel !== undefined) off.kernel = plain.kernel;
    if (plain.detail.kernel !== undefined) off.detail.kernel = plain.detail.kernel;
  }
  await stackRun(false, cmd.argv);
  if (opts.offload) await stackRun(true, cmd.argv);
} catch (e) {
  observe(`run aborted: ${e instanceof Error ? e.message : String(e)}`);
  exitCode = 1;
} finally {
  await cleanupAll();
}

console.log(table());
for (const f of figures) for (const n of f.notes) console.log(`  ${f.label}: ${n}`);
if (observations.length) {
  console.log("observations:");
  for (const o of observations) console.log(`  - ${o}`);
}
const seconds = (performance.now() - t0) / 1000;
console.log(
  `machine: ${mach.nproc} CPUs (${mach.cpu}), Linux ${mach.kernel}, Bun ${mach.bun}, load average at start ${(mach.loadavgAtStart as number[]).join(" ")}; took ${seconds.toFixed(0)} s`,
);
console.log(
  "Numbers on a shared VM are noisy (other work runs at the same time): compare ratios of one run, not absolute values across runs.",
);

if (opts.write) {
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(
    opts.out,
    `${JSON.stringify(
      {
        benchmark: "bench/tun.bench.ts (issue 10)",
        date: new Date().toISOString(),
        seconds: Math.round(seconds),
        machine: mach,
        options: { ...opts, out: undefined, client: native ? "native" : "bun" },
        figures: figures.map((f) => ({
          key: f.key,
          label: f.label,
          unit: f.unit,
          higherIsBetter: f.higherIsBetter,
          kernel: f.kernel ?? null,
          netstack: f.netstack ?? null,
          ratio: f.ratio ?? null,
          target: f.target ? `${f.target.op} ${f.target.ratio}` : null,
          notes: f.notes,
          detail: f.detail,
        })),
        observations,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${opts.out}`);
}
process.exit(exitCode);

/**
 * Issue 10: `netstack serve` on a TUN device against the Linux kernel, with
 * the kernel alone over a veth pair measured in the same run, and the ratio.
 * Needs root (network namespaces, TUN); without it, it says so and exits 0.
 *
 *   bun bench/tun.bench.ts [--bytes 256MiB] [--quick] [--repeat N] [--no-offload] [--pin]
 *                          [--idle N] [--idle-cpu-conns N] [--scale N]
 *                          [--client native|bun] [--bin PATH | --source] [--out FILE] [--no-write]
 *
 * See bench/README.md for what each figure means. Figures: upload into
 * discard, download from chargen, 1-byte request/response on one connection
 * and its p99 / median, sequential connect + 1-byte echo + close, ping RTT
 * median, memory per idle connection (10,000 connections), CPU of the server
 * with 1,000 idle connections. The three sides (kernel over veth, netstack, netstack with
 * --offload) are set up once and measured figure by figure, back to back;
 * with --repeat N each figure is the median of N rounds. Every figure is
 * bounded by a count and a time limit; a figure the stack fails (stall,
 * crash) is reported as such and the run goes on.
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
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}
if (flag("--help")) {
  console.log(
    "usage: bun bench/tun.bench.ts [--bytes 256MiB] [--quick] [--no-offload] [--io-threads] [--io-uring] [--pin] [--repeat N] [--idle N] [--idle-cpu-conns N] [--scale N] [--client native|bun] [--bin PATH | --source] [--out FILE] [--no-write]",
  );
  process.exit(0);
}
const quick = flag("--quick");
const opts = {
  bytes: parseBytes(option("--bytes") ?? (quick ? "32MiB" : "256MiB")),
  bulkLimitMs: Number(option("--bulk-limit-ms") ?? (quick ? 5000 : 15_000)),
  rrCount: quick ? 5000 : 50_000,
  rrLimitMs: quick ? 2000 : 5000,
  cpsCount: quick ? 2000 : 20_000,
  cpsLimitMs: quick ? 2000 : 5000,
  pingCount: quick ? 50 : 200,
  // Issue 10: memory "measured with 10,000 connections" (also with --quick: fewer would show fixed costs).
  idle: Number(option("--idle") ?? 10_000),
  idleCpuConns: Number(option("--idle-cpu-conns") ?? 1000),
  idleCpuMs: quick ? 3000 : 5000,
  /** Off by default: N idle connections held through one netstack serve (issue 10: 100,000). */
  scale: Number(option("--scale") ?? 0),
  offload: !flag("--no-offload"),
  /** `--io-threads`: also measure `netstack serve --io-threads` (TUN syscalls on worker threads). */
  ioThreads: flag("--io-threads"),
  /** `--io-uring`: also measure `netstack serve --io-uring` (plain TUN reads/writes batched through io_uring). */
  ioUring: flag("--io-uring"),
  pin: flag("--pin"),
  client: option("--client") ?? "native",
  out: resolve(option("--out") ?? join(import.meta.dir, "results/latest.json")),
  write: !flag("--no-write"),
  repeat: Math.max(1, Number(option("--repeat") ?? 1)),
  /** `--only upload,download`: measure only these figures (no memory figure either), for quick A/B runs. */
  only: option("--only")?.split(","),
};

// ------------------------------------------------------------------ figures

type Side = "kernel" | "netstack" | "netstack+offload" | "netstack+io-threads" | "netstack+io-uring";
/** The netstack sides besides the plain one: each is `netstack serve` with one more flag. */
const VARIANTS: { side: Side; flag: string }[] = [
  { side: "netstack+offload", flag: "--offload" },
  { side: "netstack+io-threads", flag: "--io-threads" },
  { side: "netstack+io-uring", flag: "--io-uring" },
];
type Kind = "upload" | "download" | "rr" | "tail" | "cps" | "ping" | "memory" | "idlecpu" | "scale";

/**
 * `target` is on the ratio netstack ÷ kernel, except with `absolute`: then it is on netstack's own
 * figure (the "p99 at most 5 times its median", "below 2% of a core", "at most 8 KiB").
 */
const KINDS: Record<
  Kind,
  { label: string; unit: string; higherIsBetter: boolean; target?: number; absolute?: boolean }
> = {
  upload: { label: "upload into discard", unit: "Gbit/s", higherIsBetter: true, target: 0.2 },
  download: { label: "download from chargen", unit: "Gbit/s", higherIsBetter: true, target: 0.2 },
  rr: { label: "1-byte request/response", unit: "round trips/s", higherIsBetter: true, target: 0.4 },
  tail: {
    label: "request/response tail: p99 / median",
    unit: "×",
    higherIsBetter: false,
    target: 5,
    absolute: true,
  },
  cps: { label: "connect + 1-byte echo + close", unit: "connections/s", higherIsBetter: true, target: 0.5 },
  ping: { label: "ping RTT median", unit: "ms", higherIsBetter: false, target: 2.5 },
  memory: {
    label: `memory per idle connection (${opts.idle.toLocaleString("en-US")})`,
    unit: "KiB",
    higherIsBetter: false,
    target: 8,
    absolute: true,
  },
  idlecpu: {
    label: `idle CPU, ${opts.idleCpuConns.toLocaleString("en-US")} idle connections`,
    unit: "% of a core",
    higherIsBetter: false,
    target: 2,
    absolute: true,
  },
  scale: {
    label: `idle connections held in one process (of ${opts.scale.toLocaleString("en-US")})`,
    unit: "connections",
    higherIsBetter: true,
    target: opts.scale,
    absolute: true,
  },
};
/** Figures measured on the plain stack only (not repeated for --offload). */
const PLAIN_ONLY: Kind[] = ["memory", "idlecpu", "scale"];
/** Issue 10 asks ≥ 0.4 of the kernel for bulk transfers with IFF_VNET_HDR offload. */
function targetOf(kind: Kind, side: Side): number | undefined {
  if (side === "netstack+offload" && (kind === "upload" || kind === "download")) return 0.4;
  // --io-threads is still a plain TUN (one syscall per 1500-byte packet), so the plain targets apply.
  return KINDS[kind].target;
}

interface Sample {
  value?: number | undefined;
  detail: unknown;
}
/** samples[kind][side]: one entry per round (undefined value = the figure failed that round). */
const samples: Record<Kind, Partial<Record<Side, Sample[]>>> = {
  upload: {},
  download: {},
  rr: {},
  tail: {},
  cps: {},
  ping: {},
  memory: {},
  idlecpu: {},
  scale: {},
};
const notes: string[] = [];
function record(kind: Kind, side: Side, value: number | undefined, detail: unknown): void {
  let list = samples[kind][side];
  if (!list) {
    list = [];
    samples[kind][side] = list;
  }
  list.push({ value, detail });
}
function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}
function figureOf(kind: Kind, side: Side): { v?: number | undefined; n: number; of: number } {
  const list = samples[kind][side] ?? [];
  const ok = list.map((x) => x.value).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return { v: median(ok), n: ok.length, of: list.length };
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
  // An unmeasured burst first, on every side alike: the figure is the RTT of a
  // running host, not of ICMP code that the JIT has not compiled yet (200
  // pings alone are mostly interpreted in JavaScriptCore).
  await run(ns.argv(["ping", "-n", "-q", "-c", "2000", "-i", "0.001", "-W", "1", "-w", "10", host]), 15_000);
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
  // The client as a receiver: data it dropped, held out of order, or got twice (a retransmission it did not need).
  "TCPRcvQDrop",
  "TCPBacklogDrop",
  "TCPOFOQueue",
  "TCPOFODrop",
  "TCPDSACKOldSent",
  "TCPDSACKOfoSent",
  "InErrs",
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

/** Opens `n` (default `opts.idle`) idle connections from `ns` to host:port and returns them held open (stop() closes). */
async function openIdle(
  ns: Netns,
  host: string,
  port: number,
  n = opts.idle,
): Promise<{ child: Child; open: number; why?: string }> {
  // Held for at most 120 s (the client closes them by itself after that); stop() closes them sooner.
  const child = spawn(ns.argv(clientArgv("idle", host, port, n, 120_000)));
  const end = Date.now() + 60_000;
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

// ------------------------------------------------------------------ environments

const DISCARD = 9;
const CHARGEN = 19;
const ECHO = 7;

/** Where one side runs: the client's namespace and the address it talks to. */
interface Env {
  side: Side;
  ns: Netns;
  host: string;
  tun?: string;
  /** Host `k` of the side's /24 (the stack's side: extra client addresses on the TUN). */
  addrOf?: (k: number) => string;
  /** Before a figure: waits for the previous figure's connections to close; restarts a dead stack. */
  ready(what: string): Promise<boolean>;
  /** After a figure: false when the server died during it (the figure is then dropped). */
  survived(what: string): boolean;
  pid(): number | undefined;
  close(): Promise<void>;
}

/** Waits until no connection in `ns` is still closing (at most `ms`); returns how many still are. */
async function settle(ns: Netns, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = 0;
  do {
    const r = await ns.run(["ss", "-Htan", "state", "fin-wait-1", "state", "closing", "state", "last-ack"]);
    n = r.stdout.trim() ? r.stdout.trim().split("\n").length : 0;
    if (n === 0) return 0;
    await Bun.sleep(100);
  } while (Date.now() < end);
  return n;
}

/** Waits for the previous figure's connections to finish closing; a stalled peer costs 10 s once, then 2 s. */
function settler(ns: Netns, side: Side): (what: string) => Promise<void> {
  let ms = 10_000;
  return async (what) => {
    const n = await settle(ns, ms);
    if (n > 0) {
      observe(`${side}: before "${what}": ${n} connections still closing after ${ms / 1000} s`);
      ms = 2000;
    }
  };
}

async function kernelEnv(): Promise<Env> {
  const a = await Netns.create("nbk");
  const b = await Netns.create("nbk");
  const ip = uniqueSubnet24();
  const va = uniqueName("vbk");
  const vb = uniqueName("vbk");
  const link = [
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
  ];
  const r = await run(link);
  if (r.code !== 0) throw new Error(`${link.join(" ")}: ${r.stderr.trim()}`);
  await a.sh(["ip", "addr", "add", `${ip(1)}/24`, "dev", va]);
  await b.sh(["ip", "addr", "add", `${ip(2)}/24`, "dev", vb]);
  await a.sh(["ip", "link", "set", va, "up"]);
  await b.sh(["ip", "link", "set", vb, "up"]);
  await a.sh(["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"]);
  // Tens of thousands of client TIME-WAIT sockets from earlier rounds slow connect() to ~100/s
  // on either side; reuse them (RFC 6191 timestamps make that safe), as busy clients do.
  await a.sh(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
  const pin = opts.pin ? ["taskset", "-c", SERVER_CPU] : [];
  const ports = [String(DISCARD), String(CHARGEN), String(ECHO)];
  const server = spawn(
    b.argv(
      native
        ? [...pin, native, "server", "0.0.0.0", ...ports]
        : [...pin, process.execPath, kernelServerTs, "0.0.0.0", ...ports],
    ),
  );
  const end = Date.now() + 10_000;
  while (!server.stdout().includes("ready")) {
    if (server.proc.exitCode !== null || Date.now() > end)
      throw new Error(`kernel server did not start: ${tail(server.stderr())}`);
    await Bun.sleep(20);
  }
  const up = () => server.proc.exitCode === null && server.proc.signalCode === null;
  const wait = settler(a, "kernel");
  return {
    side: "kernel",
    ns: a,
    host: ip(2),
    ready: async (what) => {
      await wait(what);
      return up();
    },
    survived: (what) => {
      if (!up()) observe(`kernel: the baseline server exited during "${what}": ${tail(server.stderr())}`);
      return up();
    },
    pid: () => server.pid,
    close: async () => {
      await server.stop();
      await a.delete();
      await b.delete();
    },
  };
}

async function stackEnv(side: Side, cmd: string[]): Promise<Env> {
  const extra = VARIANTS.find((v) => v.side === side)?.flag;
  const ns = await Netns.create("nbs");
  await ns.sh(["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"]);
  await ns.sh(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
  const ip = uniqueSubnet24();
  const tun = uniqueName("tbs");
  // One start and at most three restarts after crashes; after two failed starts the side gives up
  // and its remaining figures stay empty.
  let starts = 0;
  let failedStarts = 0;
  const start = async (): Promise<StackRun | undefined> => {
    if (++starts > 4 || failedStarts >= 2) return undefined;
    const s = await startStack(ns, cmd, {
      tun,
      addr: ip(2),
      hostAddr: ip(1),
      ...(extra ? { extraArgs: [extra] } : {}),
      ...(opts.pin ? { cpu: SERVER_CPU } : {}),
    });
    if (s.failure) {
      failedStarts++;
      observe(`${side}: ${s.failure}`);
      return undefined;
    }
    return s;
  };
  let stack = await start();
  const running = () =>
    stack !== undefined && stack.child.proc.exitCode === null && stack.child.proc.signalCode === null;
  const exit = () => stack?.child.proc.exitCode ?? stack?.child.proc.signalCode;
  let reported = false;
  const wait = settler(ns, side);
  return {
    side,
    ns,
    host: ip(2),
    tun,
    addrOf: ip,
    ready: async (what) => {
      if (running()) {
        await wait(what);
        if (running()) return true;
      }
      if (stack && !reported)
        observe(`${side}: netstack serve exited (${exit()}) before "${what}": ${tail(stack.child.stderr())}`);
      if (stack === undefined && starts > 0 && (starts > 4 || failedStarts >= 2)) return false;
      stack = await start();
      reported = false;
      return stack !== undefined;
    },
    survived: (what) => {
      if (running()) return true;
      observe(
        `${side}: netstack serve exited (${exit()}) during "${what}": ${tail(stack?.child.stderr() ?? "")}`,
      );
      reported = true;
      return false;
    },
    pid: () => (running() ? stack?.child.pid : undefined),
    close: async () => {
      if (stack) {
        const code = await stack.child.stop(3000);
        if (code !== 0 && code !== 143 && !reported)
          observe(`${side}: netstack serve exited ${code} on SIGTERM: ${tail(stack.child.stderr())}`);
      }
      await ns.delete();
    },
  };
}

// ------------------------------------------------------------------ measurements

async function measure(kind: Exclude<Kind, "memory" | "tail">, env: Env): Promise<void> {
  const side = env.side;
  if (!(await env.ready(kind))) {
    record(kind, side, undefined, "server not running");
    if (kind === "rr") record("tail", side, undefined, "server not running");
    return;
  }
  if (kind === "idlecpu") {
    await idleCpu(env);
    return;
  }
  if (kind === "ping") {
    const p = await ping(env.ns, env.host);
    const ok = env.survived(kind);
    record(kind, side, ok ? p.median : undefined, p.detail);
    console.error(`  ${side} ping: ${p.detail}`);
    return;
  }
  if (kind === "rr" || kind === "cps") {
    // Unmeasured warm-up on every side: the figure is a running host's rate, not
    // that of connect/close code the JIT has not compiled yet.
    await client(env.ns, kind, env.host, ECHO, kind === "rr" ? 2000 : 500, 2000);
    const r =
      kind === "rr"
        ? await client(env.ns, "rr", env.host, ECHO, opts.rrCount, opts.rrLimitMs)
        : await client(env.ns, "cps", env.host, ECHO, opts.cpsCount, opts.cpsLimitMs);
    const v = env.survived(kind) ? rate(r, false) : undefined;
    record(kind, side, v, r);
    if (kind === "rr") {
      // Issue 10: "p99 of request/response at most 5 times its median", from the same round trips.
      const t = v !== undefined && r.p50us && r.p99us !== undefined ? r.p99us / r.p50us : undefined;
      record("tail", side, t, {
        p50us: r.p50us,
        p90us: r.p90us,
        p99us: r.p99us,
        p999us: r.p999us,
        maxus: r.maxus,
      });
    }
    const lat =
      kind === "rr"
        ? `, p50 ${r.p50us ?? "—"} µs, p90 ${r.p90us ?? "—"}, p99 ${r.p99us ?? "—"}, p99.9 ${r.p999us ?? "—"}, max ${r.maxus ?? "—"} µs`
        : "";
    console.error(`  ${side} ${kind}: ${fmt(v)}/s (${describe(r)}${lat})`);
    if (kind === "rr" && v !== undefined) notes.push(`${side} rr round trip${lat.slice(1)}`);
    if (r.error || r.failure) observe(`${side} ${kind}: ${describe(r)}`);
    return;
  }
  const port = kind === "upload" ? DISCARD : CHARGEN;
  const c0 = env.tun ? await tunCounters(env.ns, env.tun) : undefined;
  const k0 = await tcpCounters(env.ns);
  const r = await client(env.ns, kind, env.host, port, opts.bytes, opts.bulkLimitMs);
  const c1 = env.tun ? await tunCounters(env.ns, env.tun) : undefined;
  const k1 = await tcpCounters(env.ns);
  const v = env.survived(kind) ? rate(r, true) : undefined;
  let seg = "";
  let tun: unknown;
  if (env.tun) {
    seg = "TUN counters unavailable (device gone?); ";
    // On the kernel side of the TUN: tx = towards the stack, rx = from the stack.
    if (c0 && c1 && c1.txP >= c0.txP && c1.rxP >= c0.rxP) {
      const toP = c1.txP - c0.txP;
      const fromP = c1.rxP - c0.rxP;
      tun = {
        toStack: { packets: toP, avgBytes: Math.round((c1.txB - c0.txB) / Math.max(1, toP)) },
        fromStack: { packets: fromP, avgBytes: Math.round((c1.rxB - c0.rxB) / Math.max(1, fromP)) },
        droppedToStack: c1.txDrop - c0.txDrop,
      };
      seg = `TUN: ${toP} packets to the stack (avg ${Math.round((c1.txB - c0.txB) / Math.max(1, toP))} B, ${c1.txDrop - c0.txDrop} dropped at the full TUN queue), ${fromP} from it (avg ${Math.round((c1.rxB - c0.rxB) / Math.max(1, fromP))} B); `;
    }
  }
  const events = delta(k0, k1);
  record(kind, side, v, { ...r, ...(tun ? { tun } : {}), clientTcpEvents: events });
  const line = `${seg}kernel client TCP events: ${events}`;
  if (env.tun) notes.push(`${side} ${kind}: ${line}`);
  console.error(`  ${side} ${kind}: ${fmt(v)} Gbit/s (${describe(r)}); ${line}`);
  if (r.error || r.failure) observe(`${side} ${kind}: ${describe(r)}`);
}

/** utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15), or NaN. */
async function cpuTicks(pid: number): Promise<number> {
  try {
    const s = await Bun.file(`/proc/${pid}/stat`).text();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return Number.NaN;
  }
}
let clkTck = 100;

/**
 * Issue 10: "Idle CPU below 2% of a core with 1,000 idle connections; no packet-handling work runs
 * while nothing arrives." The server process's CPU time (all its threads) over a quiet interval
 * while `opts.idleCpuConns` established connections sit idle, as % of one core; the kernel side is
 * its epoll server (the kernel's own work for idle sockets is none: no timer runs on them).
 */
async function idleCpu(env: Env): Promise<void> {
  const side = env.side;
  const idle = await openIdle(env.ns, env.host, ECHO, opts.idleCpuConns);
  const pid = env.pid();
  if (idle.open === 0 || pid === undefined) {
    await idle.child.stop(15_000);
    record("idlecpu", side, undefined, idle.why ?? "server not running");
    observe(`${side} idle CPU: ${idle.why ?? "server not running"}`);
    return;
  }
  // Let the handshakes' delayed ACKs and any after-effects of the connects pass first.
  await Bun.sleep(1000);
  const c0 = await cpuTicks(pid);
  const t0 = performance.now();
  await Bun.sleep(opts.idleCpuMs);
  const c1 = await cpuTicks(pid);
  const secs = (performance.now() - t0) / 1000;
  await idle.child.stop(15_000);
  const ok = env.survived("idle CPU");
  const v = ok && Number.isFinite(c0 + c1) ? ((c1 - c0) / clkTck / secs) * 100 : undefined;
  record("idlecpu", side, v, {
    open: idle.open,
    cpuTicks: c1 - c0,
    clkTck,
    seconds: secs,
    method: "Δ (utime + stime) of the server process (/proc/PID/stat) over the interval, % of one core",
  });
  console.error(
    `  ${side} idle CPU: ${fmt(v)} % of a core (${idle.open} idle connections, ${c1 - c0} ticks in ${secs.toFixed(1)} s)`,
  );
}

/**
 * Kernel: both ends of each connection are kernel sockets over the veth, so the growth of
 * Slab (plus TCP buffer pages) is shared by 2 × open sockets: the figure is per socket.
 */
async function memoryKernel(env: Env): Promise<void> {
  if (!(await env.ready("memory"))) return;
  await Bun.sleep(300);
  const slab0 = await slabBytes();
  const mem0 = await tcpMemPages(env.ns);
  const idle = await openIdle(env.ns, env.host, ECHO);
  await Bun.sleep(1000);
  const slab1 = await slabBytes();
  const mem1 = await tcpMemPages(env.ns);
  await idle.child.stop(15_000);
  if (idle.open === 0) {
    observe(`kernel memory: ${idle.why}`);
    return;
  }
  const v = (slab1 - slab0 + (mem1 - mem0) * 4096) / (2 * idle.open) / 1024;
  record("memory", "kernel", v, {
    open: idle.open,
    slabDeltaBytes: slab1 - slab0,
    tcpMemDeltaPages: mem1 - mem0,
    method: "(Δ Slab in /proc/meminfo + Δ TCP mem pages in /proc/net/sockstat) / (2 × open sockets)",
  });
  console.error(`  kernel memory: ${fmt(v)} KiB per socket (${idle.open} connections, 2 sockets each)`);
}

/**
 * `--scale N` (issue 10: "100,000 idle connections in one process without failure"): N connections
 * from the kernel to one `netstack serve`, from as many client addresses on the TUN as the 4-tuple
 * space needs (~50,000 per address), held idle; then a sample of 1,000 of them, spread over all,
 * each echo a byte. Reported as "held" (the figure), with the serve process's RSS per connection.
 */
async function scaleStack(env: Env): Promise<void> {
  const n = opts.scale;
  if (!(await env.ready("scale")) || !env.tun || !env.addrOf) return;
  const pid = env.pid();
  if (pid === undefined) return;
  if (!native) {
    observe("scale: needs the native client");
    return;
  }
  // One client process per 18,000 connections (a process may hold 20,000 descriptors here), each
  // from its own address on the TUN, opened one after another.
  const PER = 18_000;
  const parts = Math.ceil(n / PER);
  const rss0 = await rssBytes(pid);
  const t0 = performance.now();
  const pin = opts.pin ? ["taskset", "-c", CLIENT_CPU] : [];
  const children: Child[] = [];
  let open = 0;
  let failure = "";
  for (let k = 0; k < parts && !failure; k++) {
    const a = env.addrOf(100 + k);
    await env.ns.run(["ip", "addr", "add", `${a}/24`, "dev", env.tun]);
    const count = Math.min(PER, n - k * PER);
    const sample = Math.round((1000 * count) / n);
    const child = spawn(
      env.ns.argv([
        ...pin,
        "env",
        `TCPBENCH_SRC=${a}`,
        `TCPBENCH_ECHO_SAMPLE=${sample}`,
        // 1,000 closes per second: a stack holding 100,000 connections has long GC pauses, and the
        // kernel's FINs would overflow the TUN queue (see bench/README.md).
        "TCPBENCH_CLOSE_BATCH=20",
        native,
        "idle",
        env.host,
        String(ECHO),
        String(count),
        "600000",
      ]),
    );
    children.push(child);
    const end = Date.now() + 300_000;
    for (;;) {
      const m = /open (\d+)/.exec(child.stdout());
      if (m) {
        open += Number(m[1]);
        if (Number(m[1]) < count) failure = `client ${k + 1} opened ${m[1]} of ${count}`;
        break;
      }
      if (child.proc.exitCode !== null || Date.now() > end || !env.survived("scale")) {
        failure = `client ${k + 1} did not report: ${tail(child.stdout() + child.stderr(), 200)}`;
        break;
      }
      await Bun.sleep(200);
    }
  }
  const openSeconds = (performance.now() - t0) / 1000;
  await Bun.sleep(1000);
  const rss1 = await rssBytes(pid);
  // The samples echo once each client has opened all of its connections.
  let echoed = 0;
  let sampled = 0;
  for (const c of children) {
    const end = Date.now() + 60_000;
    for (;;) {
      const e = /echoed (\d+)\/(\d+)/.exec(c.stdout());
      if (e) {
        echoed += Number(e[1]);
        sampled += Number(e[2]);
        break;
      }
      if (c.proc.exitCode !== null || Date.now() > end) break;
      await Bun.sleep(100);
    }
  }
  const ok = env.survived("scale");
  const errors: string[] = [];
  for (const c of children) {
    await c.stop(60_000);
    try {
      const r = JSON.parse(c.stdout().trim().split("\n").pop() ?? "") as { error?: string };
      if (r.error) errors.push(r.error);
    } catch {}
  }
  const per = (rss1 - rss0) / Math.max(1, open) / 1024;
  record("scale", env.side, ok ? open : undefined, {
    asked: n,
    open,
    echoed: `${echoed}/${sampled}`,
    clients: children.length,
    rssBeforeBytes: rss0,
    rssAfterBytes: rss1,
    openSeconds,
    ...(failure ? { failure } : {}),
    ...(errors.length ? { clientErrors: errors } : {}),
  });
  notes.push(
    `${env.side} scale: ${open.toLocaleString("en-US")} of ${n.toLocaleString("en-US")} connections held idle from ${children.length} client processes and addresses (opened in ${openSeconds.toFixed(0)} s), VmRSS ${(rss0 / 2 ** 20).toFixed(0)} → ${(rss1 / 2 ** 20).toFixed(0)} MiB = ${fmt(per)} KiB per connection; echo sample ${echoed}/${sampled}`,
  );
  if (failure || errors.length)
    observe(`${env.side} scale: ${[failure, ...errors].filter(Boolean).join("; ")}`);
  console.error(
    `  ${env.side} scale: ${open} held, echo sample ${echoed}/${sampled}, ${fmt(per)} KiB RSS per connection`,
  );
}

/** netstack: growth of the serve process's VmRSS, measured first, on a fresh process. */
async function memoryStack(env: Env): Promise<void> {
  if (!(await env.ready("memory"))) return;
  await Bun.sleep(500);
  const pid = env.pid();
  if (pid === undefined) return;
  const rss0 = await rssBytes(pid);
  const slab0 = await slabBytes();
  const idle = await openIdle(env.ns, env.host, ECHO);
  await Bun.sleep(1000);
  const rss1 = await rssBytes(pid);
  const slab1 = await slabBytes();
  await idle.child.stop(15_000);
  const ok = env.survived("memory");
  if (!ok || idle.open === 0 || !Number.isFinite(rss0 + rss1)) {
    observe(`${env.side} memory: ${idle.why ?? "the stack's RSS could not be read"}`);
    return;
  }
  const v = (rss1 - rss0) / idle.open / 1024;
  record("memory", env.side, v, {
    open: idle.open,
    rssBeforeBytes: rss0,
    rssAfterBytes: rss1,
    clientSlabDeltaBytes: slab1 - slab0,
    method: "Δ VmRSS of the netstack serve process (/proc/PID/status) / open connections",
  });
  notes.push(
    `${env.side} memory: VmRSS ${(rss0 / 2 ** 20).toFixed(1)} → ${(rss1 / 2 ** 20).toFixed(1)} MiB for ${idle.open} connections; the kernel client sockets of the same run grew Slab by ${fmt((slab1 - slab0) / idle.open / 1024)} KiB each (cross-check of the kernel figure)`,
  );
  console.error(`  ${env.side} memory: ${fmt(v)} KiB per connection (${idle.open} connections)`);
}

// ------------------------------------------------------------------ output

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(v >= 1 ? 2 : 3);
}

interface Row {
  key: string;
  kind: Kind;
  side: Side;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  kernel?: number | undefined;
  netstack?: number | undefined;
  ratio?: number | undefined;
  target?: string | undefined;
  met?: boolean | undefined;
  runs: string;
}

function rows(): Row[] {
  const out: Row[] = [];
  const sides = envs.map((e) => e.side).filter((s) => s !== "kernel");
  for (const side of sides)
    for (const kind of Object.keys(KINDS) as Kind[]) {
      if (side !== "netstack" && PLAIN_ONLY.includes(kind)) continue;
      if (kind === "scale" && opts.scale === 0) continue;
      const k = figureOf(kind, "kernel");
      const s = figureOf(kind, side);
      const ratio = k.v && s.v !== undefined ? s.v / k.v : undefined;
      const t = targetOf(kind, side);
      const info = KINDS[kind];
      // An absolute target is met by netstack's own figure; the others by the ratio.
      const judged = info.absolute ? s.v : ratio;
      out.push({
        key: side === "netstack" ? kind : `${kind}+${side.slice("netstack+".length)}`,
        kind,
        side,
        label:
          side === "netstack" ? info.label : `${info.label}, ${VARIANTS.find((v) => v.side === side)?.flag}`,
        unit: info.unit,
        higherIsBetter: info.higherIsBetter,
        kernel: k.v,
        netstack: s.v,
        ratio,
        target:
          t === undefined
            ? undefined
            : `${info.absolute ? "netstack " : ""}${info.higherIsBetter ? ">=" : "<="} ${t}`,
        met:
          t === undefined || judged === undefined
            ? undefined
            : info.higherIsBetter
              ? judged >= t
              : judged <= t,
        runs: `${k.n}/${k.of}, ${s.n}/${s.of}`,
      });
    }
  return out;
}

function table(rs: Row[]): string {
  const head = ["figure", "unit", "kernel", "netstack", "ratio", "target", ""];
  if (opts.repeat > 1) head.push("runs ok (kernel, netstack)");
  const body = rs.map((r) => {
    const cells = [
      r.label,
      r.unit,
      fmt(r.kernel),
      fmt(r.netstack),
      r.ratio === undefined ? "—" : r.ratio.toFixed(2),
      r.target ?? "—",
      r.met === undefined ? (r.target ? "no figure" : "") : r.met ? "met" : "MISSED",
    ];
    if (opts.repeat > 1) cells.push(r.runs);
    return cells;
  });
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
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

if (!isRoot || !existsSync("/dev/net/tun") || !Bun.which("ip") || !Bun.which("ping") || !Bun.which("ss")) {
  console.log("tun.bench: skipped (needs root, /dev/net/tun, ip, ping and ss; see bench/README.md)");
  process.exit(0);
}
installCleanupHandlers();
const t0 = performance.now();
const mach = await machine();
let exitCode = 0;
let what = "";
const envs: Env[] = [];
try {
  if (opts.client === "native") {
    const b = await buildTcpbench();
    native = b.path;
    if (!native)
      observe(`native client unavailable (${b.why}); using the Bun clients in bench/lib/client.ts`);
  }
  if (!native)
    observe(
      "Bun clients: the kernel baseline is bounded by the JavaScript client, so every ratio is inflated (bench/README.md)",
    );
  const cmd = await netstackCommand({
    ...(option("--bin") ? { bin: option("--bin")! } : {}),
    source: flag("--source"),
  });
  what = cmd.what;
  console.error(`netstack: ${cmd.what}`);
  console.error(
    `client: ${native ? "native (bench/lib/tcpbench.c)" : "Bun (bench/lib/client.ts)"}; ${opts.bytes} bytes per bulk figure; ${opts.repeat} round(s); load average ${(mach.loadavgAtStart as number[]).join(" ")}`,
  );
  const kernel = await kernelEnv();
  envs.push(kernel);
  const stack = await stackEnv("netstack", cmd.argv);
  envs.push(stack);
  clkTck = Number((await run(["getconf", "CLK_TCK"], 5000)).stdout.trim()) || 100;
  // Memory first, on a fresh stack process: later figures grow the JS heap, whose free room would hide the cost.
  if (!opts.only || opts.only.includes("memory")) {
    await memoryKernel(kernel);
    await memoryStack(stack);
  }
  if (opts.offload) envs.push(await stackEnv("netstack+offload", cmd.argv));
  if (opts.ioThreads) envs.push(await stackEnv("netstack+io-threads", cmd.argv));
  if (opts.ioUring) envs.push(await stackEnv("netstack+io-uring", cmd.argv));
  // Interleaved: each figure is measured on every side back to back, so a burst of load from
  // other work on the machine hits the sides of one ratio alike as far as possible.
  for (let round = 1; round <= opts.repeat; round++) {
    if (opts.repeat > 1) console.error(`round ${round}/${opts.repeat}:`);
    for (const kind of ["upload", "download", "rr", "cps", "ping", "idlecpu"] as const)
      for (const env of envs) {
        if (kind === "idlecpu" && env.side !== "netstack" && env.side !== "kernel") continue;
        if (opts.only && !opts.only.includes(kind)) continue;
        await measure(kind, env);
      }
  }
  // Last: 100,000 connections take minutes to close, and their closing would disturb other figures.
  if (opts.scale > 0) {
    await scaleStack(stack);
  }
} catch (e) {
  observe(`run aborted: ${e instanceof Error ? e.message : String(e)}`);
  exitCode = 1;
} finally {
  for (const env of envs) await env.close();
  await cleanupAll();
}

const rs = rows();
console.log(table(rs));
for (const n of notes) console.log(`  ${n}`);
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
  const { out: _out, ...options } = opts;
  writeFileSync(
    opts.out,
    `${JSON.stringify(
      {
        benchmark: "bench/tun.bench.ts (issue 10)",
        date: new Date().toISOString(),
        seconds: Math.round(seconds),
        machine: mach,
        netstack: what,
        options: { ...options, client: native ? "native" : "bun" },
        figures: rs.map((r) => ({
          ...r,
          kernel: r.kernel ?? null,
          netstack: r.netstack ?? null,
          ratio: r.ratio ?? null,
          target: r.target ?? null,
          met: r.met ?? null,
          samples: { kernel: samples[r.kind].kernel ?? [], [r.side]: samples[r.kind][r.side] ?? [] },
        })),
        notes,
        observations,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${opts.out}`);
}
process.exit(exitCode);

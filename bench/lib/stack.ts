/**
 * Finding and running `netstack serve` for the benchmark.
 *
 * The executable is, in this order: `--bin PATH`; `--source` (bun src/index.ts);
 * `dist/netstack` when it is newer than every file under src/; otherwise a
 * fresh `bun build --compile` as test/build.ts does it.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compiledBinary } from "../../test/build.ts";
import { type Child, type Netns, spawn } from "./ns.ts";

const root = resolve(import.meta.dir, "../..");

function newestMtime(dir: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const m = statSync(join(e.parentPath, e.name)).mtimeMs;
    if (m > max) max = m;
  }
  return max;
}

export async function netstackCommand(opts: { bin?: string; source?: boolean }): Promise<{
  argv: string[];
  what: string;
}> {
  if (opts.bin) return { argv: [resolve(opts.bin)], what: `${opts.bin} (--bin)` };
  if (opts.source) {
    // NETSTACK_BENCH_BUN_ARGS: extra runtime flags for a profile, e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/prof"
    // (the profile is written when the harness stops the stack with SIGTERM).
    const extra = process.env.NETSTACK_BENCH_BUN_ARGS?.split(" ").filter((a) => a !== "") ?? [];
    return {
      argv: [process.execPath, ...extra, join(root, "src/index.ts")],
      what: `bun ${[...extra, "src/index.ts"].join(" ")}`,
    };
  }
  const dist = join(root, "dist/netstack");
  try {
    if (statSync(dist).mtimeMs > newestMtime(join(root, "src")))
      return { argv: [dist], what: "dist/netstack (newer than src/)" };
  } catch {
    // No dist/netstack: build one.
  }
  const t0 = performance.now();
  const bin = await compiledBinary();
  return {
    argv: [bin],
    what: `bun build --compile of the working tree (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  };
}

export interface StackRun {
  child: Child;
  tun: string;
  addr: string;
  hostAddr: string;
  /** Why it did not become ready, if it did not. */
  failure?: string;
}

let apiPort = 17000 + Math.floor(Math.random() * 2000);

/** Starts `netstack serve` in `ns` on a new TUN and waits for its `ready` line and a ping reply. */
export async function startStack(
  ns: Netns,
  cmd: string[],
  o: { tun: string; addr: string; hostAddr: string; extraArgs?: string[]; cpu?: string },
): Promise<StackRun> {
  const dir = mkdtempSync(join(tmpdir(), "netstack-bench-serve-"));
  const argv = ns.argv([
    ...(o.cpu ? ["taskset", "-c", o.cpu] : []),
    ...cmd,
    "serve",
    "--tun",
    o.tun,
    "--addr",
    `${o.addr}/24`,
    "--host-addr",
    `${o.hostAddr}/24`,
    "--service",
    "discard",
    "--service",
    "chargen",
    "--service",
    "echo",
    "--api",
    `127.0.0.1:${apiPort++}`,
    "--db",
    join(dir, "netstack.db"),
    "--token-file",
    join(dir, "token"),
    "--stats-interval",
    "0",
    "--conntrack-interval",
    "0",
    "--log-level",
    "warn",
    ...(o.extraArgs ?? []),
  ]);
  const child = spawn(argv);
  void child.proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  const run: StackRun = { child, tun: o.tun, addr: o.addr, hostAddr: o.hostAddr };
  const end = Date.now() + 30_000;
  while (!child.stdout().includes("ready")) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      run.failure = `netstack serve exited ${child.proc.exitCode ?? child.proc.signalCode} before ready: ${tail(child.stderr())}`;
      return run;
    }
    if (Date.now() > end) {
      run.failure = `no ready line within 30 s: ${tail(child.stderr())}`;
      await child.stop();
      return run;
    }
    await Bun.sleep(50);
  }
  // The stack answers ping once its link is up (a failing poll worker shows here first).
  for (let i = 0; i < 20; i++) {
    const r = await ns.run(["ping", "-c", "1", "-W", "1", o.addr], 5000);
    if (r.code === 0) return run;
    if (child.proc.exitCode !== null) break;
  }
  run.failure = `ready, but no ping reply within 20 s: ${tail(child.stderr())}`;
  await child.stop();
  return run;
}

export function tail(s: string, n = 600): string {
  const t = s.trim().replace(/\s+/g, " ");
  return t.length > n ? `…${t.slice(-n)}` : t || "(no stderr)";
}

/** VmRSS of a process in bytes (from /proc/PID/status), or NaN. */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const s = await Bun.file(`/proc/${pid}/status`).text();
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Namespaces and child processes for the TUN benchmark, with cleanup that
 * also runs on failure and on Ctrl-C: every namespace this process created
 * is deleted (which removes the veth/TUN devices inside) and every process it
 * started is stopped by its PID (SIGTERM, then SIGKILL). Nothing else is
 * touched. Names are unique per run; addresses stay inside 198.18.0.0/15.
 */

export const isRoot = process.getuid?.() === 0;

let counter = 0;
/** A unique name of at most 15 characters (the interface name limit): prefix, pid, random, counter. */
export function uniqueName(prefix: string): string {
  const rand = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  return `${prefix}${(process.pid % 36 ** 3).toString(36)}${rand}${(counter++).toString(36)}`.slice(0, 15);
}

/** A random /24 inside 198.18.0.0/15. */
export function uniqueSubnet24(): (host: number) => string {
  const n = Math.floor(Math.random() * 510);
  const base = `198.${18 + (n >> 8)}.${n & 255}`;
  return (h: number) => `${base}.${h}`;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const children = new Set<ReturnType<typeof Bun.spawn>>();
const namespaces = new Set<string>();

/** Runs a command to completion (SIGKILL by PID after timeoutMs). */
export async function run(cmd: string[], timeoutMs = 30_000): Promise<RunResult> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  children.add(p);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([
    new Response(p.stdout as ReadableStream).text(),
    new Response(p.stderr as ReadableStream).text(),
  ]);
  const code = await p.exited;
  clearTimeout(timer);
  children.delete(p);
  return { code, stdout, stderr, timedOut };
}

export async function mustRun(cmd: string[], timeoutMs = 30_000): Promise<string> {
  const r = await run(cmd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A long-running child whose output is collected as it comes. */
export interface Child {
  proc: ReturnType<typeof Bun.spawn>;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM by PID, then SIGKILL after graceMs; resolves with the exit code. */
  stop: (graceMs?: number) => Promise<number>;
}

export function spawn(cmd: string[]): Child {
  let out = "";
  let err = "";
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  children.add(proc);
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder();
    try {
      for await (const c of s) add(dec.decode(c, { stream: true }));
    } catch {
      // The child went away; what was read is kept.
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>, (t) => {
    out += t;
  });
  void pump(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    // Keep the tail only: a crashing child can print a lot.
    err = (err + t).slice(-20_000);
  });
  void proc.exited.then(() => children.delete(proc));
  return {
    proc,
    pid: proc.pid,
    stdout: () => out,
    stderr: () => err,
    stop: async (graceMs = 2000) => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        const code = await proc.exited;
        clearTimeout(t);
        return code;
      }
      return await proc.exited;
    },
  };
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(prefix: string): Promise<Netns> {
    const name = uniqueName(prefix);
    await mustRun(["ip", "netns", "add", name]);
    namespaces.add(name);
    const ns = new Netns(name);
    await ns.sh(["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  argv(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...cmd];
  }

  sh(cmd: string[], timeoutMs?: number): Promise<string> {
    return mustRun(this.argv(cmd), timeoutMs);
  }

  run(cmd: string[], timeoutMs?: number): Promise<RunResult> {
    return run(this.argv(cmd), timeoutMs);
  }

  async delete(): Promise<void> {
    namespaces.delete(this.name);
    await run(["ip", "netns", "del", this.name]);
  }
}

/** Stops every child still running (by PID) and deletes every namespace still there. */
export async function cleanupAll(): Promise<void> {
  const procs = [...children];
  for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
  await Promise.race([Promise.all(procs.map((p) => p.exited)), Bun.sleep(2000)]);
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const n of [...namespaces]) {
    namespaces.delete(n);
    Bun.spawnSync(["ip", "netns", "del", n]);
  }
}

/** Runs cleanupAll on SIGINT/SIGTERM (then exits 130/143) and synchronously on exit as a last resort. */
export function installCleanupHandlers(): void {
  let busy = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (busy) return;
    busy = true;
    process.stderr.write(`\n${sig}: stopping children and deleting namespaces\n`);
    void cleanupAll().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => {
    for (const p of children) if (p.exitCode === null) p.kill("SIGKILL");
    for (const n of namespaces) Bun.spawnSync(["ip", "netns", "del", n]);
  });
}

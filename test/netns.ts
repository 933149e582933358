/**
 * Network namespaces for integration tests (root). Every name is unique per
 * run (`<prefix>-<pid36><rand>`) so parallel runs cannot collide, and every
 * namespace is deleted in `cleanup()`, which tests call from `afterAll` (also
 * on failure). Only 198.18.0.0/15 and fd00::/8 are used inside.
 */
import { existsSync } from "node:fs";

export const isRoot = process.getuid?.() === 0;
export const hasTun = existsSync("/dev/net/tun");
export const canNetns = isRoot && hasTun && Bun.which("ip") !== null;

let counter = 0;
/** A short unique name (≤ 15 chars, the Linux interface name limit). */
export function uniqueName(prefix: string): string {
  const rand = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  return `${prefix}${(process.pid % 36 ** 3).toString(36)}${rand}${(counter++).toString(36)}`.slice(0, 15);
}

/** A unique /24 inside 198.18.0.0/15 for this run: 198.18.x.0/24 or 198.19.x.0/24. */
export function uniqueSubnet24(): { base: string; host: (n: number) => string } {
  const n = Math.floor(Math.random() * 510);
  const base = `198.${18 + (n >> 8)}.${n & 255}`;
  return { base, host: (h: number) => `${base}.${h}` };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string[],
  opts: { timeoutMs?: number; stdin?: string } = {},
): Promise<RunResult> {
  const p = Bun.spawn(cmd, {
    stdout: "pipe",
    stderr: "pipe",
    stdin: opts.stdin === undefined ? "ignore" : "pipe",
  });
  if (opts.stdin !== undefined && p.stdin) {
    p.stdin.write(opts.stdin);
    await p.stdin.end();
  }
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export async function mustRun(
  cmd: string[],
  opts: { timeoutMs?: number; stdin?: string } = {},
): Promise<string> {
  const r = await run(cmd, opts);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(prefix = "nst"): Promise<Netns> {
    const name = uniqueName(prefix);
    await mustRun(["ip", "netns", "add", name]);
    const ns = new Netns(name);
    created.add(ns);
    await ns.sh(["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** argv to run `cmd` inside the namespace. */
  argv(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...cmd];
  }

  sh(cmd: string[], opts: { timeoutMs?: number; stdin?: string } = {}): Promise<string> {
    return mustRun(this.argv(cmd), opts);
  }

  run(cmd: string[], opts: { timeoutMs?: number; stdin?: string } = {}): Promise<RunResult> {
    return run(this.argv(cmd), opts);
  }

  async delete(): Promise<void> {
    created.delete(this);
    await run(["ip", "netns", "del", this.name]);
  }
}

const created = new Set<Netns>();

/** Deletes every namespace this process created and has not deleted yet. */
export async function cleanupNetns(): Promise<void> {
  await Promise.all([...created].map((n) => n.delete()));
}

/** Waits until `fn` returns a truthy value, polling; throws with `what` after `timeoutMs`. */
export async function until<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * One network namespace per test file and run, for tests that put a TUN or
 * TAP device between the user-space stack and the Linux kernel. Needs root,
 * /dev/net/tun and iproute2 (CI runs as root); `canRun` says whether they are
 * here. The namespace is named `<prefix>-<random>`, made in beforeAll and
 * deleted in afterAll, also when a test failed (docs/TEAM.md network rules).
 *
 * Scenarios run in a child process under `ip netns exec` (`helper`), because
 * a TUN belongs to the namespace of the thread that opened it: the test
 * process itself never enters the namespace. A helper prints one JSON line last.
 */
import { afterAll, beforeAll } from "bun:test";
import { existsSync } from "node:fs";
import { sh } from "./shell.ts";

export const isRoot = process.getuid?.() === 0;
export const canRun = isRoot && existsSync("/dev/net/tun") && Bun.which("ip") !== null;

/** Installs ping/socat when missing (CI images may lack them); retries while another apt holds the lock. */
export function ensureTools(): void {
  const need: string[] = [];
  if (!Bun.which("ping")) need.push("iputils-ping");
  if (!Bun.which("socat")) need.push("socat");
  if (need.length === 0) return;
  for (let attempt = 1; ; attempt++) {
    try {
      sh("apt-get", "update", "-qq");
      sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", ...need);
      return;
    } catch (e) {
      if (attempt >= 6) throw e;
      Bun.sleepSync(10_000);
    }
  }
}

export interface TestNamespace {
  readonly name: string;
  /** Runs `bun helperPath ...args` in the namespace (killed after the timeout); the JSON of its last stdout line. */
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the helper, checked field by field by the test
  helper(...args: string[]): Promise<any>;
}

/**
 * Registers beforeAll/afterAll that make and delete a namespace (with `lo` up)
 * when `canRun`. `helperTimeoutMs` bounds each helper run, `setupTimeoutMs`
 * the setup (installing tools may take minutes).
 */
export function useTestNamespace(
  prefix: string,
  helperPath: string,
  opts: { helperTimeoutMs: number; setupTimeoutMs: number },
): TestNamespace {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  let created = false;
  beforeAll(() => {
    if (!canRun) return;
    ensureTools();
    sh("ip", "netns", "add", name);
    created = true;
    sh("ip", "-n", name, "link", "set", "lo", "up");
  }, opts.setupTimeoutMs);
  afterAll(() => {
    if (created) sh("ip", "netns", "del", name);
  });
  return {
    name,
    async helper(...args: string[]) {
      const p = Bun.spawn(["ip", "netns", "exec", name, process.execPath, helperPath, ...args], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => p.kill(), opts.helperTimeoutMs);
      const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
      const code = await p.exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`helper ${args.join(" ")} exited ${code}: ${err}${out}`);
      const lines = out.trim().split("\n");
      return JSON.parse(lines[lines.length - 1]!);
    },
  };
}

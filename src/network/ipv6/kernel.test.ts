/**
 * IPv6 against the Linux kernel over a TAP and a TUN device in a network
 * namespace made per run (root only; CI runs as root). The stack runs in a
 * child process under `ip netns exec` (a TUN belongs to the namespace of the
 * thread that opens it): see testing/kernel-helper.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const HELPER = join(import.meta.dir, "testing", "kernel-helper.ts");
const isRoot = process.getuid?.() === 0;
const canRun = isRoot && existsSync("/dev/net/tun") && Bun.which("ip") !== null;
const ns = `ip6-${Math.random().toString(36).slice(2, 8)}`;
let nsCreated = false;

function sh(...cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
}

/** Installs ping/socat when missing (CI images may lack them). */
function ensureTools(): void {
  const need: string[] = [];
  if (!Bun.which("ping")) need.push("iputils-ping");
  if (!Bun.which("socat")) need.push("socat");
  if (need.length === 0) return;
  sh("apt-get", "update", "-qq");
  sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", ...need);
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the helper, checked field by field below
async function helper(scenario: string, device: string): Promise<any> {
  const p = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, HELPER, scenario, device], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(), 40_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`helper ${scenario} exited ${code}: ${err}${out}`);
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

beforeAll(() => {
  if (!canRun) return;
  ensureTools();
  sh("ip", "netns", "add", ns);
  nsCreated = true;
  sh("ip", "-n", ns, "link", "set", "lo", "up");
}, 120_000);

afterAll(() => {
  if (nsCreated) sh("ip", "netns", "del", ns);
});

const noLoss = (out: string) => / 0% packet loss/.test(out);

describe("IPv6 with the Linux kernel as peer", () => {
  test.skipIf(!canRun)(
    "TAP: DAD, NDP both ways, ping6 both ways (also 3000-byte fragmented), link-local, UDP fragments",
    async () => {
      const r = await helper("tap", "ns6tap0");
      expect(r.assigned).toBe(true);
      expect(r.linkLocal).toMatch(/^fe80::/);
      expect(noLoss(r.kernelPing.out)).toBe(true);
      expect(noLoss(r.bigPing.out)).toBe(true);
      expect(noLoss(r.llPing.out)).toBe(true);
      expect(r.reply?.[0]).toBe(129);
      expect(r.udpReceived).toBe(4000);
      // The kernel resolved us through our Neighbor Advertisements.
      expect(r.neigh).toMatch(/fd00:6::2 lladdr [0-9a-f:]+ /);
      expect(r.stats.fragments.reassembled).toBeGreaterThanOrEqual(2);
      expect(r.stats.fragments.fragmentsSent).toBeGreaterThanOrEqual(6);
      expect(r.stats.v6.neighborAdvert.sent).toBeGreaterThanOrEqual(1);
      expect(r.stats.v6.dadConflicts).toBe(0);
      expect(r.stats.v6.checksumErrors).toBe(0);
    },
    60_000,
  );

  test.skipIf(!canRun)(
    "TUN: no NDP, ping6 both ways, fragments",
    async () => {
      const r = await helper("tun", "ns6tun0");
      expect(r.assigned).toBe(true);
      expect(noLoss(r.kernelPing.out)).toBe(true);
      expect(noLoss(r.bigPing.out)).toBe(true);
      expect(r.reply?.[0]).toBe(129);
      expect(r.udpReceived).toBe(4000);
      expect(r.stats.v6.neighborSolicit.sent).toBe(0);
      expect(r.stats.v6.checksumErrors).toBe(0);
    },
    60_000,
  );
});

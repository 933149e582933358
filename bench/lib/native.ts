/**
 * Builds bench/lib/tcpbench.c (the native kernel-socket client and baseline
 * server) with the system C compiler into a temporary folder, once per run.
 * Returns undefined when there is no compiler; the benchmark then falls back
 * to the Bun clients in bench/lib/client.ts and kernel-server.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./ns.ts";

const dirs: string[] = [];
process.on("exit", () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export async function buildTcpbench(): Promise<{ path?: string; why?: string }> {
  const cc = Bun.which("cc") ?? Bun.which("gcc") ?? Bun.which("clang");
  if (!cc) return { why: "no C compiler (cc/gcc/clang) found" };
  const dir = mkdtempSync(join(tmpdir(), "netstack-bench-"));
  dirs.push(dir);
  const out = join(dir, "tcpbench");
  const r = await run([cc, "-O2", "-Wall", "-o", out, join(import.meta.dir, "tcpbench.c")], 60_000);
  if (r.code !== 0) return { why: `${cc} failed: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}` };
  return { path: out };
}

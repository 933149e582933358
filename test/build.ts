/**
 * Builds the compiled executable once per test process (`bun build --compile`,
 * as `npm run build` does) into a temporary folder with nothing else in it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run } from "./netns.ts";

let built: Promise<string> | undefined;
const dirs: string[] = [];

export function compiledBinary(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "netstack-bin-"));
    dirs.push(dir);
    const out = join(dir, "netstack");
    const root = resolve(import.meta.dir, "..");
    const b = await run(
      [
        process.execPath,
        "build",
        "--compile",
        "--minify",
        join(root, "src/index.ts"),
        join(root, "src/link/fdbased/poll-worker.ts"),
        join(root, "src/link/fdbased/io-worker.ts"),
        "--outfile",
        out,
      ],
      { timeoutMs: 120_000 },
    );
    if (b.code !== 0) throw new Error(`bun build --compile failed: ${b.stderr}`);
    return out;
  })();
  return built;
}

process.on("exit", () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * `npm run bench`: runs every benchmark in bench/ one after another and prints
 * their tables. `npm run bench -- NAME` runs the ones whose file name contains NAME.
 * Benchmarks that need root and network namespaces say so and skip themselves
 * when run without them.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
const filter = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();

let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const p = Bun.spawn([process.execPath, join(dir, f)], { stdout: "inherit", stderr: "inherit" });
  const code = await p.exited;
  if (code !== 0) {
    failed++;
    console.log(`${f} exited ${code}`);
  }
}
process.exit(failed ? 1 : 0);

/**
 * Fails when a module imports upward (DESIGN.md "Layers, bottom to top"), or
 * when the pure core imports runtime modules (`bun:*`, `node:fs`, `hono`,
 * `drizzle-orm`). Run by `npm run check`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** Rank of each layer: a file may import only from its own rank or lower. */
const RANKS: [prefix: string, rank: number][] = [
  ["src/index.ts", 100],
  ["src/cli", 95],
  ["src/http", 90],
  ["src/store", 85],
  ["src/services", 80],
  ["src/adapters", 75],
  ["src/tcpconntrack", 70],
  ["src/transport", 60],
  ["src/network", 50],
  ["src/stack", 40],
  ["src/link", 30],
  ["src/checker", 25],
  ["src/header", 20],
  ["src/buffer", 15],
  ["src/tcpip", 10],
  ["src/seqnum", 10],
  ["src/waiter", 10],
  ["src/ports", 10],
];

/** Impure places: syscalls, SQL, HTTP, the CLI (DESIGN.md rules). Everything else under src/ is the pure core. */
const IMPURE = [
  "src/index.ts",
  "src/cli",
  "src/http",
  "src/store",
  "src/link/rawfile",
  "src/link/tun",
  "src/link/fdbased",
  "src/link/sharedmem",
];
const FORBIDDEN_IN_CORE = [
  /^bun:/,
  /^bun$/,
  /^node:fs/,
  /^fs$/,
  /^fs\//,
  /^hono/,
  /^drizzle-orm/,
  /^@hono\//,
];

const root = resolve(import.meta.dir, "..");

function rankOf(rel: string): number | undefined {
  let best: [string, number] | undefined;
  for (const [p, r] of RANKS) {
    if (rel === p || rel.startsWith(`${p}/`)) {
      if (!best || p.length > best[0].length) best = [p, r];
    }
  }
  return best?.[1];
}

function isImpure(rel: string): boolean {
  return IMPURE.some((p) => rel === p || rel.startsWith(`${p}/`));
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith(".ts")) out.push(full);
  }
  return out;
}

const importRe =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g;

const errors: string[] = [];
for (const file of walk(join(root, "src"), [])) {
  const rel = relative(root, file);
  const isTest = rel.endsWith(".test.ts") || rel.includes("/testing/");
  const myRank = rankOf(rel);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec) continue;
    if (spec.startsWith(".")) {
      const target = relative(root, resolve(dirname(file), spec));
      const theirRank = rankOf(target);
      // Tests may reach up to build fixtures (a TCP test builds a stack); production code may not.
      if (!isTest && myRank !== undefined && theirRank !== undefined && theirRank > myRank) {
        errors.push(`${rel}: imports upward from rank ${myRank} to ${target} (rank ${theirRank})`);
      }
    } else if (!isImpure(rel) && !isTest && FORBIDDEN_IN_CORE.some((re) => re.test(spec))) {
      errors.push(
        `${rel}: pure core imports "${spec}" (only src/link/{rawfile,tun,fdbased,sharedmem}, src/store, src/http, src/cli and src/index.ts may)`,
      );
    }
  }
}

if (errors.length > 0) {
  for (const e of errors) console.error(e);
  console.error(`layer check: ${errors.length} violation(s)`);
  process.exit(1);
}
console.log("layer check: ok");

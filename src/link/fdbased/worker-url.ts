import { readdirSync, statSync } from "node:fs";

const EMBEDDED_ROOT = "/$bunfs/root";

/** The Worker scripts of this folder (each a `bun build --compile` extra entrypoint). */
export type FdbasedWorker = "poll-worker" | "io-worker";

/**
 * Where to start the worker script `<name>.ts` of this folder from
 * (poll-worker.ts for `FdEndpoint`, io-worker.ts for `ThreadedFdEndpoint`).
 *
 * From source (`bun test`, `bun src/index.ts`) it sits beside this module.
 * Inside a `bun build --compile` executable every module is bundled into
 * `/$bunfs/root/<entry>`, and `import.meta.url` names the executable, not
 * this file; an extra entrypoint is embedded under `/$bunfs/root/` at its
 * path relative to the common folder of all entrypoints (for
 * `bun build --compile src/index.ts src/link/fdbased/poll-worker.ts` that is
 * `/$bunfs/root/link/fdbased/poll-worker.js`; paths outside that folder
 * appear under `..` entries). So we look it up there by name.
 */
export function workerUrl(name: FdbasedWorker): string {
  const here = import.meta.url;
  if (!here.startsWith(`file://${EMBEDDED_ROOT}/`)) return new URL(`./${name}.ts`, here).href;
  const found = findEmbedded(EMBEDDED_ROOT, [`${name}.js`, `${name}.ts`], 0);
  if (found) return found;
  throw new Error(
    `Cannot start the fdbased ${name === "io-worker" ? "I/O" : "poll"} worker: ${name}.ts is not embedded in this executable; ` +
      "build with `bun build --compile src/index.ts src/link/fdbased/poll-worker.ts src/link/fdbased/io-worker.ts --outfile ...`",
  );
}

function findEmbedded(dir: string, basenames: readonly string[], depth: number): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const e of entries) if (basenames.includes(e)) return `${dir}/${e}`;
  if (depth > 8) return undefined;
  for (const e of entries) {
    // Entry paths are kept relative to the build's root folder, so they may start with "..".
    if (e === ".") continue;
    try {
      if (!statSync(`${dir}/${e}`).isDirectory()) continue;
    } catch {
      continue;
    }
    const found = findEmbedded(`${dir}/${e}`, basenames, depth + 1);
    if (found) return found;
  }
  return undefined;
}

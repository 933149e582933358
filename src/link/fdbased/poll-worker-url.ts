import { readdirSync, statSync } from "node:fs";

const EMBEDDED_ROOT = "/$bunfs/root";
const WORKER_BASENAMES = ["poll-worker.js", "poll-worker.ts"];

/**
 * Where to start `poll-worker.ts` from.
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
export function pollWorkerUrl(): string {
  const here = import.meta.url;
  if (!here.startsWith(`file://${EMBEDDED_ROOT}/`)) return new URL("./poll-worker.ts", here).href;
  const found = findEmbedded(EMBEDDED_ROOT, 0);
  if (found) return found;
  throw new Error(
    "Cannot start the fdbased poll worker: poll-worker.ts is not embedded in this executable; " +
      "build with `bun build --compile src/index.ts src/link/fdbased/poll-worker.ts --outfile ...`",
  );
}

function findEmbedded(dir: string, depth: number): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const e of entries) if (WORKER_BASENAMES.includes(e)) return `${dir}/${e}`;
  if (depth > 8) return undefined;
  for (const e of entries) {
    // Entry paths are kept relative to the build's root folder, so they may start with "..".
    if (e === ".") continue;
    try {
      if (!statSync(`${dir}/${e}`).isDirectory()) continue;
    } catch {
      continue;
    }
    const found = findEmbedded(`${dir}/${e}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

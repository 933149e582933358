import { readdirSync, statSync } from "node:fs";

const EMBEDDED_ROOT = "/$bunfs/root";
const WORKER_BASENAMES = ["io-worker.js", "io-worker.ts"];

/**
 * Where to start `io-worker.ts` from, as poll-worker-url.ts does for the poll
 * worker: beside this module when run from source; inside a
 * `bun build --compile` executable, wherever the extra entrypoint was
 * embedded under `/$bunfs/root/` (looked up by name).
 */
export function ioWorkerUrl(): string {
  const here = import.meta.url;
  if (!here.startsWith(`file://${EMBEDDED_ROOT}/`)) return new URL("./io-worker.ts", here).href;
  const found = findEmbedded(EMBEDDED_ROOT, 0);
  if (found) return found;
  throw new Error(
    "Cannot start the fdbased I/O worker: io-worker.ts is not embedded in this executable; " +
      "build with `bun build --compile src/index.ts src/link/fdbased/poll-worker.ts src/link/fdbased/io-worker.ts --outfile ...`",
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

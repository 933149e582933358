/**
 * For the compile tests of both fd endpoints (compile.test.ts, threaded-compile.test.ts):
 * a worker must start inside a `bun build --compile` executable, where its
 * script is an extra entrypoint (see worker-url.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FdbasedWorker } from "../worker-url.ts";

/** What building and running a program printed. */
export interface CompiledRun {
  buildStderr: string;
  buildExitCode: number;
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** An import specifier (a quoted absolute path) for `rel`, relative to src/link/fdbased. */
export function fdbasedModule(rel: string): string {
  return JSON.stringify(join(import.meta.dir, "..", rel));
}

/**
 * Writes `source` as the entry module of a program in a temporary folder,
 * builds it with `bun build --compile` and `worker`'s script as an extra
 * entrypoint, runs it from `/` (up to 20 s) and removes the folder.
 */
export function compileAndRun(source: string, worker: FdbasedWorker): CompiledRun {
  const dir = mkdtempSync(join(tmpdir(), `fdbased-compile-${worker}-`));
  try {
    const entry = join(dir, "entry.ts");
    writeFileSync(entry, source);
    const out = join(dir, "app");
    const build = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "--compile",
        entry,
        join(import.meta.dir, "..", `${worker}.ts`),
        "--outfile",
        out,
      ],
      { cwd: dir, stdout: "pipe", stderr: "pipe" },
    );
    const result: CompiledRun = {
      buildStderr: build.stderr.toString(),
      buildExitCode: build.exitCode,
      stdout: "",
      stderr: "",
      exitCode: null,
    };
    if (build.exitCode !== 0) return result;
    const run = Bun.spawnSync([out], { cwd: "/", stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    result.stdout = run.stdout.toString();
    result.stderr = run.stderr.toString();
    result.exitCode = run.exitCode;
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

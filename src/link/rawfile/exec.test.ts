import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errno } from "./errno.ts";
import { execve } from "./exec.ts";

const dir = mkdtempSync(join(tmpdir(), "netstack-exec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(process.platform !== "linux")("execve", () => {
  test("replaces the process image: the same PID, the new environment and argv", async () => {
    const script = join(dir, "self.ts");
    writeFileSync(
      script,
      `import { execve } from ${JSON.stringify(join(import.meta.dir, "exec.ts"))};
if (process.env.NETSTACK_EXEC_TEST === undefined) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.NETSTACK_EXEC_TEST = "again";
  execve(process.execPath, [process.execPath, process.argv[1]!, "second", "with space"], env);
}
console.log(JSON.stringify({ pid: process.pid, env: process.env.NETSTACK_EXEC_TEST, args: process.argv.slice(2) }));
`,
    );
    const env = { ...process.env };
    delete env.NETSTACK_EXEC_TEST;
    const child = Bun.spawn([process.execPath, script, "first"], { env, stdout: "pipe", stderr: "pipe" });
    const out = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    expect(JSON.parse(out)).toEqual({ pid: child.pid, env: "again", args: ["second", "with space"] });
  });

  test("a failed execve throws the errno and the process goes on", () => {
    let err: unknown;
    try {
      execve(join(dir, "does-not-exist"), ["x"], {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Errno);
    expect((err as Errno).code).toBe("ENOENT");
    expect((err as Errno).syscall).toBe("execve");
  });
});

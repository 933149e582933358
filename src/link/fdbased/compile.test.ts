/**
 * The poll worker must start inside a `bun build --compile` executable too,
 * where it is an extra entrypoint (see worker-url.ts). This builds a tiny
 * program in a temporary folder and runs it.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("an FdEndpoint receives inside a compiled executable (worker as extra entrypoint)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fdbased-compile-"));
  try {
    const here = import.meta.dir;
    const entry = join(dir, "entry.ts");
    writeFileSync(
      entry,
      `import { FdEndpoint } from ${JSON.stringify(join(here, "fd-endpoint.ts"))};
import * as r from ${JSON.stringify(join(here, "../rawfile/index.ts"))};
const [a, b] = r.socketpair(r.AF_UNIX, r.SOCK_SEQPACKET | r.SOCK_NONBLOCK | r.SOCK_CLOEXEC);
const ep = new FdEndpoint({ fd: a, mtu: 1500, framing: "ip", ownsFd: true });
const proto = await new Promise<number>((resolve) => {
  ep.attach({ deliverNetworkPacket: (p) => resolve(p) });
  const pkt = new Uint8Array(40);
  pkt[0] = 0x60;
  r.writeFd(b, pkt);
});
ep.close();
await ep.wait();
r.close(b);
console.log("received protocol 0x" + proto.toString(16));
`,
    );
    const out = join(dir, "app");
    const build = Bun.spawnSync(
      [process.execPath, "build", "--compile", entry, join(here, "poll-worker.ts"), "--outfile", out],
      { cwd: dir, stdout: "pipe", stderr: "pipe" },
    );
    expect(build.stderr.toString()).not.toContain("error");
    expect(build.exitCode).toBe(0);
    const run = Bun.spawnSync([out], { cwd: "/", stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString().trim()).toBe("received protocol 0x86dd");
    expect(run.exitCode).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

/**
 * The I/O workers of `ThreadedFdEndpoint` must start inside a
 * `bun build --compile` executable too, where io-worker.ts is an extra
 * entrypoint (see worker-url.ts). This builds a tiny program in a
 * temporary folder and runs it: one packet in (reader), one out (writer).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("a ThreadedFdEndpoint receives and sends inside a compiled executable (worker as extra entrypoint)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fdbased-threaded-compile-"));
  try {
    const here = import.meta.dir;
    const entry = join(dir, "entry.ts");
    writeFileSync(
      entry,
      `import { ThreadedFdEndpoint } from ${JSON.stringify(join(here, "threaded-endpoint.ts"))};
import { PacketBuffer } from ${JSON.stringify(join(here, "../../buffer/packet-buffer.ts"))};
import * as r from ${JSON.stringify(join(here, "../rawfile/index.ts"))};
const [a, b] = r.socketpair(r.AF_UNIX, r.SOCK_SEQPACKET | r.SOCK_NONBLOCK | r.SOCK_CLOEXEC);
const ep = new ThreadedFdEndpoint({ fd: a, mtu: 1500, ownsFd: true });
const proto = await new Promise<number>((resolve) => {
  ep.attach({ deliverNetworkPacket: (p) => resolve(p) });
  const pkt = new Uint8Array(40);
  pkt[0] = 0x60;
  r.writeFd(b, pkt);
});
const out = new Uint8Array(20);
out[0] = 0x45;
ep.writePackets([new PacketBuffer(out, 0, 20)]);
const buf = new Uint8Array(100);
let n = -1;
for (let i = 0; i < 500 && n < 0; i++) {
  n = r.readFd(b, buf);
  if (n < 0) await Bun.sleep(10);
}
ep.close();
await ep.wait();
r.close(b);
console.log("received protocol 0x" + proto.toString(16) + ", sent " + n + " bytes");
`,
    );
    const out = join(dir, "app");
    const build = Bun.spawnSync(
      [process.execPath, "build", "--compile", entry, join(here, "io-worker.ts"), "--outfile", out],
      { cwd: dir, stdout: "pipe", stderr: "pipe" },
    );
    expect(build.stderr.toString()).not.toContain("error");
    expect(build.exitCode).toBe(0);
    const run = Bun.spawnSync([out], { cwd: "/", stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString().trim()).toBe("received protocol 0x86dd, sent 20 bytes");
    expect(run.exitCode).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

/**
 * The I/O workers of `ThreadedFdEndpoint` must start inside a
 * `bun build --compile` executable too, where io-worker.ts is an extra
 * entrypoint (see worker-url.ts). This builds a tiny program in a
 * temporary folder and runs it: one packet in (reader), one out (writer).
 */
import { expect, test } from "bun:test";
import { compileAndRun, fdbasedModule } from "./testing/compile.ts";

test("a ThreadedFdEndpoint receives and sends inside a compiled executable (worker as extra entrypoint)", () => {
  const r = compileAndRun(
    `import { ThreadedFdEndpoint } from ${fdbasedModule("threaded-endpoint.ts")};
import { PacketBuffer } from ${fdbasedModule("../../buffer/packet-buffer.ts")};
import * as r from ${fdbasedModule("../rawfile/index.ts")};
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
    "io-worker",
  );
  expect(r.buildStderr).not.toContain("error");
  expect(r.buildExitCode).toBe(0);
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe("received protocol 0x86dd, sent 20 bytes");
  expect(r.exitCode).toBe(0);
}, 60_000);

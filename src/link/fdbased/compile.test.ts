/**
 * The poll worker must start inside a `bun build --compile` executable too,
 * where it is an extra entrypoint (see worker-url.ts). This builds a tiny
 * program in a temporary folder and runs it.
 */
import { expect, test } from "bun:test";
import { compileAndRun, fdbasedModule } from "./testing/compile.ts";

test("an FdEndpoint receives inside a compiled executable (worker as extra entrypoint)", () => {
  const r = compileAndRun(
    `import { FdEndpoint } from ${fdbasedModule("fd-endpoint.ts")};
import * as r from ${fdbasedModule("../rawfile/index.ts")};
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
    "poll-worker",
  );
  expect(r.buildStderr).not.toContain("error");
  expect(r.buildExitCode).toBe(0);
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe("received protocol 0x86dd");
  expect(r.exitCode).toBe(0);
}, 60_000);

/**
 * The compiled `netstack serve --io-threads` (packet read()/write() on worker
 * threads, src/link/fdbased/threaded-endpoint.ts) against the Linux kernel on
 * a TUN at MTU 1500, plain and with `--offload` (IFF_VNET_HDR: GRO
 * super-packets in, GSO super-packets out): TCP both ways at once through the echo service
 * (RFC 862) and one way from chargen (RFC 864), byte-exact by SHA-256, pings,
 * and a clean exit on SIGTERM (both workers stop). The compiled binary also
 * proves io-worker.ts is embedded as an extra entrypoint.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../build.ts";
import { Netns, uniqueName, uniqueSubnet24, until } from "../netns.ts";
import { pattern, sha256 } from "./drivers/pattern.ts";
import { BUN, canNetns, KERNEL_TOOL } from "./harness.ts";
import { chargenPrefix, serveArgs } from "./serve-args.ts";

const MB = 1 << 20;
const SIZE = 32 * MB;
const SEED = 0x10ad5eed;

describe.skipIf(!canNetns)("netstack serve --io-threads (compiled) against the kernel over TUN", () => {
  for (const offload of [false, true])
    describe(offload ? "--offload" : "plain TUN", () => configuration(offload));
});

function configuration(offload: boolean): void {
  let ns: Netns | undefined;
  let dir: string | undefined;
  let serve: ReturnType<typeof Bun.spawn> | undefined;
  let err = "";
  const net4 = uniqueSubnet24();
  const net6 = `fd00:${(1 + Math.floor(Math.random() * 0xfffe)).toString(16)}:${(1 + (process.pid % 0xfffe)).toString(16)}::`;
  const stack4 = net4.host(2);
  const stack6 = `${net6}2`;

  beforeAll(async () => {
    const bin = await compiledBinary();
    dir = mkdtempSync(join(tmpdir(), "netstack-iothreads-"));
    ns = await Netns.create("nsio");
    const tun = uniqueName("nsio");
    await ns.sh(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
    await ns.sh(["ip", "addr", "add", `${net4.host(1)}/24`, "dev", tun]);
    await ns.sh(["ip", "-6", "addr", "add", `${net6}1/64`, "dev", tun, "nodad"]);
    await ns.sh(["ip", "link", "set", tun, "up"]);
    let out = "";
    const p = Bun.spawn(
      ns.argv(
        serveArgs({
          bin,
          tun,
          flags: ["--io-threads", ...(offload ? ["--offload"] : [])],
          addrs: [`${stack4}/24`, `${stack6}/64`],
          mtu: 1500,
          dir,
          services: ["chargen", "echo"],
        }),
      ),
      { stdout: "pipe", stderr: "pipe", cwd: dir },
    );
    serve = p;
    void (async () => {
      for await (const ch of p.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(ch);
    })();
    void (async () => {
      for await (const ch of p.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(ch);
    })();
    await until(() => out.includes("ready"), `netstack serve ready (stderr: ${err})`, 20_000);
    const n = ns;
    await until(
      async () => (await n.run(["ping", "-c", "1", "-W", "1", stack6])).code === 0,
      "the stack's IPv6 address",
      15_000,
    );
  }, 90_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill("SIGKILL");
    await serve?.exited;
    await ns?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`the kernel sends ${SIZE / MB} MB to echo and gets every byte back in order`, async () => {
    const r = await ns!.run([BUN, KERNEL_TOOL, "send", stack4, "7", String(SIZE), String(SEED)], {
      timeoutMs: 120_000,
    });
    const res = JSON.parse(r.stdout.trim() || "{}") as { replyBytes?: number; replySha256?: string };
    expect(res.replyBytes).toBe(SIZE);
    expect(res.replySha256).toBe(sha256(pattern(SIZE, SEED)));
  }, 120_000);

  test(`the kernel reads ${SIZE / MB} MB of chargen and checks the pattern`, async () => {
    const r = await ns!.run(
      ["sh", "-c", `socat -u TCP4:${stack4}:19 STDOUT 2>/dev/null | head -c ${SIZE} | sha256sum`],
      { timeoutMs: 120_000 },
    );
    expect(r.stdout.split(" ")[0]).toBe(chargenPrefix(SIZE));
  }, 120_000);

  test("IPv6: the kernel sends 4 MB to echo and gets it back", async () => {
    const r = await ns!.run([BUN, KERNEL_TOOL, "send", stack6, "7", String(4 * MB), "5"], {
      timeoutMs: 60_000,
    });
    expect(JSON.parse(r.stdout.trim() || "{}")).toMatchObject({
      replyBytes: 4 * MB,
      replySha256: sha256(pattern(4 * MB, 5)),
    });
  }, 60_000);

  test("pings, small and fragmented, both families", async () => {
    for (const [flag, to] of [
      ["-4", stack4],
      ["-6", stack6],
    ] as const) {
      for (const size of ["56", "8000"]) {
        const r = await ns!.run(["ping", flag, "-s", size, "-c", "5", "-i", "0.05", "-W", "2", to]);
        expect(r.stdout).toContain("5 received");
      }
    }
  }, 30_000);

  test("SIGTERM stops it cleanly (both I/O workers end)", async () => {
    serve!.kill("SIGTERM");
    expect(await serve!.exited).toBe(0);
    expect(err).not.toContain('"level":"error"');
  }, 20_000);
}

/**
 * The compiled `netstack serve` against the Linux kernel over TUN, without and
 * with `--offload` (IFF_VNET_HDR) at `--mtu 1500` and `--mtu 9000`: pings from
 * the stack through `POST /v1/diagnostics/ping` (8000 bytes: fragmented at
 * 1500), the kernel reading the chargen service (RFC 864) and checking the
 * pattern by SHA-256, the kernel filling the discard service (RFC 863) and the
 * service's byte count over REST, and the echo service for IPv6 (RFC 862).
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
/** Bytes read from chargen and written into discard per configuration. */
const SIZE = 8 * MB;
const API = "http://127.0.0.1:7070";

const dirs: string[] = [];
const procs: ReturnType<typeof Bun.spawn>[] = [];
const namespaces: Netns[] = [];

describe.skipIf(!canNetns)("netstack serve (compiled) against the kernel", () => {
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(namespaces.map((n) => n.delete()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const c of [
    { offload: false, mtu: 1500 },
    { offload: true, mtu: 9000 },
  ]) {
    describe(`${c.offload ? "--offload" : "no offload"}, --mtu ${c.mtu}`, () => {
      let ns: Netns;
      let dir: string;
      let serve: ReturnType<typeof Bun.spawn>;
      const net4 = uniqueSubnet24();
      const net6 = `fd00:${(1 + Math.floor(Math.random() * 0xfffe)).toString(16)}:${(1 + (process.pid % 0xfffe)).toString(16)}::`;
      const stack4 = net4.host(2);
      const stack6 = `${net6}2`;

      async function api(
        method: string,
        path: string,
        body?: unknown,
      ): Promise<{ status: number; body: unknown }> {
        const token = (await Bun.file(join(dir, "token")).text()).trim();
        const args = ["curl", "-s", "-m", "20", "-o", "-", "-w", "\n%{http_code}", "-X", method];
        args.push("-H", `authorization: Bearer ${token}`, "-H", "content-type: application/json");
        if (body !== undefined) args.push("--data-binary", JSON.stringify(body));
        const r = await ns.run([...args, `${API}${path}`], { timeoutMs: 30_000 });
        const nl = r.stdout.lastIndexOf("\n");
        const text = r.stdout.slice(0, nl);
        return { status: Number(r.stdout.slice(nl + 1)), body: text ? JSON.parse(text) : null };
      }

      beforeAll(async () => {
        const bin = await compiledBinary();
        dir = mkdtempSync(join(tmpdir(), "netstack-interop-"));
        dirs.push(dir);
        ns = await Netns.create("nsv");
        namespaces.push(ns);
        const tun = uniqueName("nsv");
        await ns.sh(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
        await ns.sh(["ip", "link", "set", "dev", tun, "mtu", String(c.mtu)]);
        await ns.sh(["ip", "addr", "add", `${net4.host(1)}/24`, "dev", tun]);
        await ns.sh(["ip", "-6", "addr", "add", `${net6}1/64`, "dev", tun, "nodad"]);
        await ns.sh(["ip", "link", "set", tun, "up"]);
        let out = "";
        serve = Bun.spawn(
          ns.argv(
            serveArgs({
              bin,
              tun,
              addrs: [`${stack4}/24`, `${stack6}/64`],
              mtu: c.mtu,
              flags: c.offload ? ["--offload"] : [],
              dir,
              services: ["chargen", "discard", "echo"],
            }),
          ),
          { stdout: "pipe", stderr: "pipe", cwd: dir },
        );
        procs.push(serve);
        let err = "";
        void (async () => {
          for await (const ch of serve.stderr as ReadableStream<Uint8Array>)
            err += new TextDecoder().decode(ch);
        })();
        void (async () => {
          for await (const ch of serve.stdout as ReadableStream<Uint8Array>)
            out += new TextDecoder().decode(ch);
        })();
        await until(() => out.includes("ready"), `netstack serve ready (stderr: ${err})`, 20_000);
        await until(
          async () => (await ns.run(["ping", "-c", "1", "-W", "1", stack6])).code === 0,
          "the stack's IPv6 address",
          15_000,
        );
      }, 60_000);

      test("POST /v1/diagnostics/ping: 8000-byte pings to the kernel, both families", async () => {
        for (const address of [net4.host(1), `${net6}1`]) {
          const r = await api("POST", "/v1/diagnostics/ping", {
            address,
            count: 2,
            size: 8000,
            timeoutMs: 2000,
          });
          expect(r.status).toBe(200);
          expect(r.body).toMatchObject({ address, transmitted: 2, received: 2 });
        }
      });

      test(`the kernel reads ${SIZE / MB} MB of chargen and checks the pattern`, async () => {
        const r = await ns.run(
          ["sh", "-c", `socat -u TCP4:${stack4}:19 STDOUT 2>/dev/null | head -c ${SIZE} | sha256sum`],
          { timeoutMs: 60_000 },
        );
        expect(r.stdout.split(" ")[0]).toBe(chargenPrefix(SIZE));
      }, 60_000);

      test(`the kernel writes ${SIZE / MB} MB into discard; the service counts every byte`, async () => {
        const before = (await api("GET", "/v1/services")).body as { kind: string; bytesIn: number }[];
        const base = before.find((s) => s.kind === "discard")!.bytesIn;
        const r = await ns.run([BUN, KERNEL_TOOL, "send", stack4, "9", String(SIZE), "3"], {
          timeoutMs: 60_000,
        });
        // Discard answers nothing and closes after the kernel's FIN.
        expect(JSON.parse(r.stdout.trim() || "{}")).toMatchObject({ replyBytes: 0 });
        await until(
          async () => {
            const s = (await api("GET", "/v1/services")).body as { kind: string; bytesIn: number }[];
            return s.find((x) => x.kind === "discard")!.bytesIn - base === SIZE;
          },
          "discard's byte count",
          10_000,
        );
      }, 60_000);

      test("IPv6: the kernel sends 4 MB to the echo service and gets it back", async () => {
        const r = await ns.run([BUN, KERNEL_TOOL, "send", stack6, "7", String(4 * MB), "5"], {
          timeoutMs: 60_000,
        });
        expect(JSON.parse(r.stdout.trim() || "{}")).toMatchObject({
          replyBytes: 4 * MB,
          replySha256: sha256(pattern(4 * MB, 5)),
        });
      }, 60_000);

      test("SIGTERM stops it cleanly", async () => {
        serve.kill("SIGTERM");
        expect(await serve.exited).toBe(0);
      });
    });
  }
});

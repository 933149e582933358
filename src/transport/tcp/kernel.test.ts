/**
 * TCP against the Linux kernel through a real TUN device, inside a network
 * namespace this test creates (root only; CI runs as root). The kernel's
 * sockets negotiate window scaling, SACK and timestamps with us, so bulk
 * transfers both ways check that our segments are what Linux expects.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { canNetns, cleanupNetns, Netns, uniqueName, uniqueSubnet24, until } from "../../../test/netns.ts";

const root = resolve(import.meta.dir, "../../..");
const dir = mkdtempSync(join(tmpdir(), "netstack-tcp-kernel-"));

/** Deterministic bytes, their SHA-256, shared by both scripts. */
const GEN = `
import { createHash } from "node:crypto";
export function gen(size) {
  const b = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
export const sha = (b) => createHash("sha256").update(b).digest("hex");
`;

/** Kernel client: sends `size` bytes, half-closes, checks the echo. */
const CLIENT = `
import net from "node:net";
import { createHash } from "node:crypto";
import { gen, sha } from "./gen.mjs";
const [host, port, size] = process.argv.slice(2);
const data = gen(Number(size));
const h = createHash("sha256");
let got = 0;
const s = net.connect({ host, port: Number(port) }, () => s.end(data));
s.on("data", (d) => { h.update(d); got += d.length; });
s.on("end", () => { console.log(got === data.length && h.digest("hex") === sha(data) ? "ok" : "bad " + got); process.exit(0); });
s.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
setTimeout(() => { console.log("timeout " + got); process.exit(1); }, 60000);
`;

/** Kernel listener: reads one connection to its end, answers with the byte count and hash. */
const SERVER = `
import net from "node:net";
import { createHash } from "node:crypto";
const [host, port] = process.argv.slice(2);
const srv = net.createServer((s) => {
  const h = createHash("sha256");
  let n = 0;
  s.on("data", (d) => { h.update(d); n += d.length; });
  s.on("end", () => { s.end(n + " " + h.digest("hex") + "\\n"); srv.close(); });
});
srv.listen(Number(port), host, () => console.log("listening"));
`;

describe.skipIf(!canNetns)("TCP against the Linux kernel over TUN", () => {
  let ns: Netns;

  beforeAll(async () => {
    writeFileSync(join(dir, "gen.mjs"), GEN);
    writeFileSync(join(dir, "client.mjs"), CLIENT);
    writeFileSync(join(dir, "server.mjs"), SERVER);
    ns = await Netns.create("nstk");
  });

  afterAll(async () => {
    await cleanupNetns();
    rmSync(dir, { recursive: true, force: true });
  });

  async function tunDevice() {
    const net = uniqueSubnet24();
    const v6 = `fd00:${Math.floor(Math.random() * 0xffff).toString(16)}:${process.pid.toString(16)}::`;
    const tun = uniqueName("ntk");
    await ns.sh(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
    await ns.sh(["ip", "addr", "add", `${net.host(1)}/24`, "dev", tun]);
    await ns.sh(["ip", "-6", "addr", "add", `${v6}1/64`, "dev", tun, "nodad"]);
    await ns.sh(["ip", "link", "set", tun, "up"]);
    return { net, v6, tun };
  }

  async function echoServer(tun: string, addrs: string[]) {
    const flags = addrs.flatMap((a) => ["--addr", a]);
    const p = Bun.spawn(
      ns.argv([process.execPath, join(root, "src/index.ts"), "tun-tcp-echo", "--tun", tun, ...flags, "7777"]),
      { stdout: "pipe", stderr: "pipe", cwd: root },
    );
    let out = "";
    void (async () => {
      for await (const c of p.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
    })();
    await until(() => out.includes("ready"), "tun-tcp-echo ready", 20_000);
    return p;
  }

  for (const family of ["IPv4", "IPv6"] as const) {
    test(`the kernel sends 4 MB to our echo service and gets it back intact (${family})`, async () => {
      const { net, v6, tun } = await tunDevice();
      const p = await echoServer(tun, [`${net.host(2)}/24`, `${v6}2/64`]);
      const server = family === "IPv4" ? net.host(2) : `${v6}2`;
      try {
        // Our IPv6 address needs DAD (RFC 4862 §5.4) before it answers; retry the first connection.
        const r = await until(
          async () => {
            const r = await ns.run(
              [process.execPath, join(dir, "client.mjs"), server, "7777", String(4 << 20)],
              {
                timeoutMs: 90_000,
              },
            );
            return r.stdout.startsWith("error") ? undefined : r;
          },
          "a connection to the echo service",
          30_000,
        );
        expect(r.stdout.trim()).toBe("ok");
      } finally {
        p.kill("SIGTERM");
        await p.exited;
        await ns.run(["ip", "link", "del", tun]);
      }
    }, 120_000);
  }

  test("our stack sends 2 MB to a kernel listener (tun-tcp-connect)", async () => {
    const { net, tun } = await tunDevice();
    const server = Bun.spawn(ns.argv([process.execPath, join(dir, "server.mjs"), net.host(1), "8888"]), {
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    void (async () => {
      for await (const c of server.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
    })();
    try {
      await until(() => out.includes("listening"), "kernel listener", 10_000);
      const size = 2 << 20;
      let data = "";
      for (let i = 0; i < size / 64; i++) data += `${i.toString(16).padStart(63, ".")}\n`;
      const r = await ns.run(
        [
          process.execPath,
          join(root, "src/index.ts"),
          "tun-tcp-connect",
          "--tun",
          tun,
          "--addr",
          `${net.host(2)}/24`,
          net.host(1),
          "8888",
        ],
        { stdin: data, timeoutMs: 60_000 },
      );
      const hash = new Bun.CryptoHasher("sha256").update(data).digest("hex");
      expect(r.stdout.trim()).toBe(`${size} ${hash}`);
    } finally {
      server.kill();
      await server.exited;
      await ns.run(["ip", "link", "del", tun]);
    }
  }, 90_000);
});

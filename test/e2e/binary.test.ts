/**
 * The compiled executable: built with `bun build --compile` into an empty
 * folder, run there with nothing beside it (no Bun, no node_modules, no
 * migrations/), as the seed's samples: `tun-tcp-echo` answering the kernel's
 * `nc`, and `tun-tcp-connect` reaching a kernel `socat` listener.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../build.ts";
import { canNetns, cleanupNetns, Netns, run, uniqueName, uniqueSubnet24, until } from "../netns.ts";

const dir = mkdtempSync(join(tmpdir(), "netstack-bin-"));
const bin = join(dir, "netstack");

describe.skipIf(!canNetns)("the compiled netstack executable", () => {
  let ns: Netns;

  beforeAll(async () => {
    // The shared build (test/build.ts), copied alone into an empty folder.
    copyFileSync(await compiledBinary(), bin);
    ns = await Netns.create("nsb");
  }, 180_000);

  afterAll(async () => {
    await cleanupNetns();
    rmSync(dir, { recursive: true, force: true });
  });

  test("version and help work with nothing beside the binary", async () => {
    const v = await run([bin, "version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = await run([bin, "serve", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("--service KIND[/udp][:PORT]");
  });

  test("tun-tcp-echo echoes the kernel's connection", async () => {
    const net = uniqueSubnet24();
    const tun = uniqueName("nse");
    await ns.sh(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
    await ns.sh(["ip", "addr", "add", `${net.host(1)}/24`, "dev", tun]);
    await ns.sh(["ip", "link", "set", tun, "up"]);
    const p = Bun.spawn(ns.argv([bin, "tun-tcp-echo", "--tun", tun, "--addr", `${net.host(2)}/24`, "7777"]), {
      stdout: "pipe",
      stderr: "pipe",
      cwd: dir,
    });
    let out = "";
    void (async () => {
      for await (const c of p.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
    })();
    try {
      await until(() => out.includes("ready"), "tun-tcp-echo ready", 15_000);
      const r = await ns.run(["nc", "-q", "1", "-w", "3", net.host(2), "7777"], { stdin: "echo me\n" });
      expect(r.stdout).toBe("echo me\n");
    } finally {
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      await ns.run(["ip", "link", "del", tun]);
    }
  });

  test("tun-tcp-connect copies stdin to a kernel listener and its reply to stdout", async () => {
    const net = uniqueSubnet24();
    const tun = uniqueName("nsc");
    await ns.sh(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
    await ns.sh(["ip", "addr", "add", `${net.host(1)}/24`, "dev", tun]);
    await ns.sh(["ip", "link", "set", tun, "up"]);
    // A kernel listener that replies and closes: socat prints what it got and answers "pong".
    const listener = Bun.spawn(
      ns.argv([
        "socat",
        "-t",
        "2",
        `TCP-LISTEN:8888,bind=${net.host(1)},reuseaddr`,
        "SYSTEM:'read l; echo pong:$l'",
      ]),
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      await Bun.sleep(300);
      const r = await ns.run(
        [bin, "tun-tcp-connect", "--tun", tun, "--addr", `${net.host(2)}/24`, net.host(1), "8888"],
        { stdin: "ping\n", timeoutMs: 20_000 },
      );
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("pong:ping\n");
      expect(r.code).toBe(0);
    } finally {
      listener.kill();
      await listener.exited;
      await ns.run(["ip", "link", "del", tun]);
    }
  });
});

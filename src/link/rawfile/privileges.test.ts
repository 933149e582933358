import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { capBsetRead, capGet, getNoNewPrivs } from "./privileges.ts";

function statusField(name: string): string {
  const line = readFileSync("/proc/thread-self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return (line ?? "").slice(name.length + 1).trim();
}

const isRoot = process.getuid?.() === 0;

describe("capabilities through bun:ffi", () => {
  test("capget agrees with /proc/thread-self/status", () => {
    const s = capGet();
    expect(s.effective).toBe(BigInt(`0x${statusField("CapEff")}`));
    expect(s.permitted).toBe(BigInt(`0x${statusField("CapPrm")}`));
    expect(s.inheritable).toBe(BigInt(`0x${statusField("CapInh")}`));
  });

  test("the bounding set read one capability at a time agrees with CapBnd", () => {
    const bnd = BigInt(`0x${statusField("CapBnd")}`);
    let m = 0n;
    for (let c = 0; c < 64; c++) {
      const r = capBsetRead(c);
      if (r === undefined) break;
      if (r) m |= 1n << BigInt(c);
    }
    expect(m).toBe(bnd);
    expect(getNoNewPrivs()).toBe(statusField("NoNewPrivs") === "1");
  });

  // The drop itself changes the calling thread for good: run it in a child process.
  test.skipIf(!isRoot)(
    "capset, bounding drop and no_new_privs in a child keep only CAP_NET_ADMIN",
    async () => {
      const mod = join(import.meta.dir, "privileges.ts");
      const script = `
      const p = await import(${JSON.stringify(mod)});
      for (let c = 0; c < 64; c++) { const r = p.capBsetRead(c); if (r === undefined) break; if (r && c !== 12) p.capBsetDrop(c); }
      p.capAmbientClearAll();
      p.capSet({ effective: 1n << 12n, permitted: 1n << 12n, inheritable: 0n });
      p.setNoNewPrivs();
      const s = p.capGet();
      console.log(JSON.stringify({ eff: s.effective.toString(16), prm: s.permitted.toString(16), nnp: p.getNoNewPrivs(),
        status: require("node:fs").readFileSync("/proc/thread-self/status", "utf8") }));
    `;
      const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
      const out = await new Response(child.stdout).text();
      expect(await child.exited).toBe(0);
      const r = JSON.parse(out) as { eff: string; prm: string; nnp: boolean; status: string };
      expect(r).toMatchObject({ eff: "1000", prm: "1000", nnp: true });
      expect(r.status).toMatch(/CapBnd:\s+0000000000001000/);
      expect(r.status).toMatch(/NoNewPrivs:\s+1/);
    },
  );
});

describe("dropOnThreads (signal handler per thread)", () => {
  // Changes threads for good: run it in a child process with a Worker.
  test.skipIf(!isRoot)("every other thread that takes the signal ends with only CAP_NET_ADMIN", async () => {
    const mod = join(import.meta.dir, "thread-caps.ts");
    const script = `
      const { dropOnThreads } = await import(${JSON.stringify(mod)});
      const fs = require("node:fs");
      new Worker(URL.createObjectURL(new Blob(["setInterval(() => {}, 1000)"])));
      await Bun.sleep(200);
      const tids = fs.readdirSync("/proc/self/task").map(Number).filter((t) => t !== process.pid);
      let drop = 0n; for (let c = 0; c <= 40; c++) if (c !== 12) drop |= 1n << BigInt(c);
      dropOnThreads(tids, 1n << 12n, drop);
      await Bun.sleep(200);
      const out = tids.map((t) => { try { return fs.readFileSync("/proc/self/task/" + t + "/status", "utf8"); } catch { return ""; } }).filter(Boolean);
      console.log(JSON.stringify({ main: fs.readFileSync("/proc/thread-self/status", "utf8"), out }));
      process.exit(0);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const text = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    const r = JSON.parse(text) as { main: string; out: string[] };
    const field = (st: string, k: string) => new RegExp(`${k}:\\s+(\\S+)`).exec(st)?.[1];
    // The caller is untouched; the Worker (JS thread) and JSC's helpers dropped.
    expect(field(r.main, "CapEff")).not.toBe("0000000000001000");
    const answered = r.out.filter((st) => field(st, "NoNewPrivs") === "1");
    expect(answered.map((st) => field(st, "Name"))).toContain("Worker");
    for (const st of answered) {
      expect([field(st, "CapEff"), field(st, "CapPrm"), field(st, "CapBnd")]).toEqual([
        "0000000000001000",
        "0000000000001000",
        "0000000000001000",
      ]);
    }
  });
});

/**
 * The compiled `netstack serve` drops its privileges once set up (issue 7):
 * read back from /proc/<pid>/status and /proc/<pid>/task/<tid>/status of the
 * running binary, inside a network namespace this test creates (root; CI runs
 * as root). Ping, curl and a REST change still work afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../build.ts";
import { canNetns, cleanupNetns, Netns, uniqueName, uniqueSubnet24, until } from "../netns.ts";

const dir = mkdtempSync(join(tmpdir(), "netstack-priv-"));
const NET_ADMIN = 1n << 12n;
let ns: Netns;
let BIN = "";

interface Creds {
  name: string;
  uid: number[];
  capEff: bigint;
  capPrm: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
}

function creds(path: string): Creds {
  const f = new Map<string, string>();
  for (const l of readFileSync(path, "utf8").split("\n")) {
    const i = l.indexOf(":");
    if (i > 0) f.set(l.slice(0, i), l.slice(i + 1).trim());
  }
  const cap = (k: string) => BigInt(`0x${f.get(k)}`);
  return {
    name: f.get("Name") ?? "",
    uid: (f.get("Uid") ?? "").split(/\s+/).map(Number),
    capEff: cap("CapEff"),
    capPrm: cap("CapPrm"),
    capBnd: cap("CapBnd"),
    capAmb: cap("CapAmb"),
    noNewPrivs: f.get("NoNewPrivs") === "1",
  };
}

function threads(pid: number): Creds[] {
  const out: Creds[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    if (Number(t) === pid) continue;
    try {
      out.push(creds(`/proc/${pid}/task/${t}/status`));
    } catch {}
  }
  return out;
}

class Serve {
  proc: ReturnType<typeof Bun.spawn>;
  out = "";
  err = "";
  readonly net = uniqueSubnet24();
  readonly tun = uniqueName("nsv");
  readonly port = 7000 + Math.floor(Math.random() * 900);
  readonly sub: string;

  constructor(name: string, extra: string[]) {
    this.sub = join(dir, name);
    const args = [
      BIN,
      "serve",
      "--tun",
      this.tun,
      "--addr",
      `${this.net.host(2)}/24`,
      "--host-addr",
      `${this.net.host(1)}/24`,
      "--api",
      `127.0.0.1:${this.port}`,
      "--db",
      `${this.sub}-netstack.db`,
      "--token-file",
      `${this.sub}-token`,
      "--stats-interval",
      "200",
      "--service",
      "http",
      ...extra,
    ];
    this.proc = Bun.spawn(ns.argv(args), { stdout: "pipe", stderr: "pipe" });
    const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
      const dec = new TextDecoder();
      for await (const c of s) add(dec.decode(c));
    };
    void pump(this.proc.stdout as ReadableStream<Uint8Array>, (t) => (this.out += t));
    void pump(this.proc.stderr as ReadableStream<Uint8Array>, (t) => (this.err += t));
  }

  async ready(): Promise<void> {
    await until(() => this.out.includes("ready "), `ready line (stderr: ${this.err})`, 20_000);
  }

  /** `ip netns exec` execs the binary in place, so the spawned pid is netstack's. */
  get pid(): number {
    return this.proc.pid;
  }

  async api(path: string, method = "GET", body?: unknown): Promise<{ status: number; body: unknown }> {
    const tok = readFileSync(`${this.sub}-token`, "utf8").trim();
    const args = ["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", "-X", method];
    args.push("-H", "content-type: application/json", "-H", `authorization: Bearer ${tok}`);
    if (body !== undefined) args.push("--data-binary", JSON.stringify(body));
    args.push(`http://127.0.0.1:${this.port}${path}`);
    const r = await ns.run(args);
    const nl = r.stdout.lastIndexOf("\n");
    const text = r.stdout.slice(0, nl);
    return { status: Number(r.stdout.slice(nl + 1)), body: text ? JSON.parse(text) : null };
  }

  /** Ping, curl over the user-space TCP and a REST change that the database must store. */
  async stillWorks(): Promise<void> {
    const ping = await ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", this.net.host(2)]);
    expect(ping.stdout).toContain("2 received");
    const html = await ns.sh(["curl", "-s", "-m", "5", `http://${this.net.host(2)}/`]);
    expect(html).toContain("Served by the user-space TCP/IP stack");
    const route = await this.api("/v1/routes", "POST", {
      destination: "198.19.252.0/24",
      gateway: this.net.host(1),
      nic: this.tun,
    });
    expect(route.status).toBe(201);
    const routes = (await this.api("/v1/routes")).body as { destination: string }[];
    expect(routes.map((r) => r.destination)).toContain("198.19.252.0/24");
    // Stats samples keep landing in the database (written every 200 ms after the drop).
    const series = (await this.api("/v1/stats/history?name=ip.packetsReceived")).body as unknown[];
    expect(series.length).toBeGreaterThan(0);
  }

  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    return await this.proc.exited;
  }
}

describe.skipIf(!canNetns)("netstack serve drops its privileges after setup", () => {
  const started: Serve[] = [];
  const start = async (name: string, extra: string[]) => {
    const s = new Serve(name, extra);
    started.push(s);
    await s.ready();
    return s;
  };

  beforeAll(async () => {
    BIN = await compiledBinary();
    ns = await Netns.create("nsq");
    chmodSync(dir, 0o755);
  }, 120_000);

  afterAll(async () => {
    for (const s of started) if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
    await cleanupNetns();
    rmSync(dir, { recursive: true, force: true });
  });

  test("as root: the main thread keeps only CAP_NET_ADMIN, no_new_privs; REST can still open a NIC", async () => {
    const s = await start("root", []);
    const main = creds(`/proc/${s.pid}/status`);
    expect(main.name).toBe("netstack");
    // serve executed itself again with the allocator's purge delay (src/index.ts): the same PID.
    expect(readFileSync(`/proc/${s.pid}/environ`, "utf8").split("\0")).toContain("MIMALLOC_PURGE_DELAY=1000");
    expect(main.uid[1]).toBe(0);
    expect(main.capEff).toBe(NET_ADMIN);
    expect(main.capPrm).toBe(NET_ADMIN);
    expect(main.capBnd).toBe(NET_ADMIN);
    expect(main.capAmb).toBe(0n);
    expect(main.noNewPrivs).toBe(true);
    // The log says what each thread kept (the others stay root's: see src/cli/privileges.ts).
    expect(s.err).toContain('"msg":"privileges dropped"');
    expect(s.err).toContain('"kept":["CAP_NET_ADMIN"]');
    // Bun's other threads were signalled to drop the same way; mimalloc's purge thread blocks
    // that signal and, still uid 0, keeps root's capabilities: the log says so.
    for (const t of threads(s.pid).filter((t) => t.name !== "mi-scavenger")) {
      expect([t.name, t.capEff, t.capBnd, t.noNewPrivs]).toEqual([t.name, NET_ADMIN, NET_ADMIN, true]);
    }
    expect(s.err).toContain("keep their capabilities");
    await s.stillWorks();
    const extra = uniqueName("nsw");
    const nic = await s.api("/v1/nics", "POST", { name: extra, kind: "tun" });
    expect(nic.status).toBe(201);
    expect(await s.stop()).toBe(0);
  }, 60_000);

  test("--user nobody: every thread runs as 65534; only the main thread has a capability, CAP_NET_ADMIN", async () => {
    const s = await start("user", ["--user", "nobody"]);
    const main = creds(`/proc/${s.pid}/status`);
    expect(main.uid).toEqual([65534, 65534, 65534, 65534]);
    expect(main.capEff).toBe(NET_ADMIN);
    expect(main.capPrm).toBe(NET_ADMIN);
    expect(main.capBnd).toBe(NET_ADMIN);
    expect(main.noNewPrivs).toBe(true);
    const others = threads(s.pid);
    expect(others.length).toBeGreaterThan(0);
    for (const t of others) {
      expect({ name: t.name, uid: t.uid[1], eff: t.capEff, prm: t.capPrm, amb: t.capAmb }).toEqual({
        name: t.name,
        uid: 65534,
        eff: 0n,
        prm: 0n,
        amb: 0n,
      });
      // Signalled after the switch: no_new_privs everywhere but in the thread that blocks the signal.
      if (t.name !== "mi-scavenger") expect([t.name, t.noNewPrivs]).toEqual([t.name, true]);
    }
    expect(s.err).not.toContain("keep their capabilities");
    // The database and the token file were opened as root and still take writes.
    await s.stillWorks();
    expect(await s.stop()).toBe(0);
  }, 60_000);

  test("--no-runtime-nics --user nobody: no thread has any capability; POST /v1/nics answers 403", async () => {
    const s = await start("none", ["--no-runtime-nics", "--user", "nobody"]);
    const main = creds(`/proc/${s.pid}/status`);
    expect(main.uid[1]).toBe(65534);
    expect(main.capEff).toBe(0n);
    expect(main.capPrm).toBe(0n);
    expect(main.capBnd).toBe(0n);
    expect(main.noNewPrivs).toBe(true);
    for (const t of threads(s.pid)) expect([t.name, t.capEff, t.capPrm]).toEqual([t.name, 0n, 0n]);
    await s.stillWorks();
    const nic = await s.api("/v1/nics", "POST", { name: uniqueName("nsw"), kind: "tun" });
    expect(nic.status).toBe(403);
    expect(nic.body).toMatchObject({
      error: { code: "forbidden", message: expect.stringContaining("--no-runtime-nics") },
    });
    expect(await s.stop()).toBe(0);
  }, 60_000);

  test("--no-runtime-nics as root: the main thread keeps nothing", async () => {
    const s = await start("rootnone", ["--no-runtime-nics"]);
    const main = creds(`/proc/${s.pid}/status`);
    expect([main.capEff, main.capPrm, main.capBnd, main.noNewPrivs]).toEqual([0n, 0n, 0n, true]);
    const ping = await ns.run(["ping", "-c", "1", "-W", "2", s.net.host(2)]);
    expect(ping.stdout).toContain("1 received");
    expect(await s.stop()).toBe(0);
  }, 60_000);

  test("an unknown --user is a flag error (exit 2) before anything opens", async () => {
    const r = await ns.run([BIN, "serve", "--user", "no-such-user-x", "--db", ":memory:"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--user");
  }, 60_000);
});

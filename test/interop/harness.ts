/**
 * Interop fixtures: a fresh network namespace per link with a TUN or TAP in
 * it, the kernel's addresses on the device, and the user-space stack in a
 * child process inside the namespace (drivers/stack-driver.ts; the TUN belongs
 * to the namespace of the thread that opens it). Addresses: a unique /24 in
 * 198.18.0.0/15 and a unique /64 in fd00::/8 per link. `closeAll()` (called
 * from `afterAll`) stops every driver this process started, by PID, and
 * deletes every namespace, also after a failure.
 */
import { join } from "node:path";
import { cleanupNetns, Netns, type RunResult, uniqueName, uniqueSubnet24, until } from "../netns.ts";
import type { Impairment } from "./drivers/impaired-link.ts";

export { canNetns } from "../netns.ts";

const DRIVERS = join(import.meta.dir, "drivers");
export const KERNEL_TOOL = join(DRIVERS, "kernel-tool.ts");
/** The kernel's TCP echo listener with a real listen backlog (drivers/tcp-echo.py, run with python3). */
export const KERNEL_TCP_ECHO = join(DRIVERS, "tcp-echo.py");
export const BUN = process.execPath;

export interface LinkOptions {
  mode?: "tun" | "tap";
  mtu?: number;
  offload?: boolean;
  /** Loss, duplication, reordering and CE marks inside the driver, between the device and the stack. */
  impair?: Impairment;
  /** Extra routes for the stack, "DEST/LEN,GATEWAY" (`{kernel4}` and `{kernel6}` stand for the kernel's addresses). */
  routes?: string[];
}

type Json = Record<string, unknown>;

/** The stack-driver child: JSON commands in, JSON answers and events out. */
export class Driver {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Json) => void>();
  readonly events: Json[] = [];
  private stderrText = "";
  private readyLine: Json | undefined;

  constructor(readonly proc: ReturnType<typeof Bun.spawn>) {
    void this.pump();
    void (async () => {
      const dec = new TextDecoder();
      for await (const c of proc.stderr as ReadableStream<Uint8Array>) this.stderrText += dec.decode(c);
    })();
  }

  get stderr(): string {
    return this.stderrText;
  }

  get ready(): Json | undefined {
    return this.readyLine;
  }

  private async pump(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const c of this.proc.stdout as ReadableStream<Uint8Array>) {
      buf += dec.decode(c);
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: Json;
        try {
          msg = JSON.parse(line) as Json;
        } catch {
          this.stderrText += `stdout: ${line}\n`;
          continue;
        }
        if (msg.ready) this.readyLine = msg;
        else if (typeof msg.id === "number") this.waiting.get(msg.id)?.(msg);
        else this.events.push(msg);
      }
    }
  }

  /** Sends a command and waits for its answer (`timeoutMs` is hang protection only). */
  async cmd<T = Json>(op: string, args: Json = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    const answer = new Promise<Json>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`driver: no answer to ${op} in ${timeoutMs} ms (stderr: ${this.stderrText})`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(t);
        this.waiting.delete(id);
        resolve(r);
      });
    });
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    stdin.flush();
    const r = await answer;
    if (r.error) throw new Error(`driver ${op}: ${r.error} ${r.message ?? ""}`);
    const { id: _id, ...rest } = r;
    return rest as T;
  }

  /** Waits for an event line matching `pred`. */
  event(pred: (e: Json) => boolean, what: string, timeoutMs = 30_000): Promise<Json> {
    return until(() => this.events.find(pred), `${what} (stderr: ${this.stderrText})`, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await this.proc.exited;
    clearTimeout(t);
  }
}

export interface Link {
  ns: Netns;
  dev: string;
  mode: "tun" | "tap";
  kernel4: string;
  stack4: string;
  kernel6: string;
  stack6: string;
  driver: Driver;
  /** Runs a command in the namespace (the kernel's side). */
  run(cmd: string[], opts?: { timeoutMs?: number; stdin?: string }): Promise<RunResult>;
  /** Spawns a long-running command in the namespace, stdout piped; stopped by `closeAll`. */
  spawn(cmd: string[]): Spawned;
  close(): Promise<void>;
}

export interface Spawned {
  proc: ReturnType<typeof Bun.spawn>;
  stdout(): string;
}

const drivers = new Set<Driver>();
const spawned = new Set<ReturnType<typeof Bun.spawn>>();

/** A random nonzero 16-bit group in canonical form (no leading zeros), as the stack prints it. */
function randomHex16(): string {
  return (1 + Math.floor(Math.random() * 0xfffe)).toString(16);
}

/** A namespace with a TUN/TAP, the kernel's addresses on it, and a stack driver attached. */
export async function openLink(opts: LinkOptions = {}): Promise<Link> {
  const mode = opts.mode ?? "tun";
  const ns = await Netns.create("nsi");
  const dev = uniqueName(mode === "tun" ? "nit" : "nip");
  // A /24 of its own, not one the caller routes elsewhere.
  let net4 = uniqueSubnet24();
  while ((opts.routes ?? []).some((r) => r.startsWith(`${net4.base}.`))) net4 = uniqueSubnet24();
  const net6 = `fd00:${randomHex16()}:${randomHex16()}:${randomHex16()}::`;
  await ns.sh(["ip", "tuntap", "add", "dev", dev, "mode", mode]);
  if (opts.mtu) await ns.sh(["ip", "link", "set", "dev", dev, "mtu", String(opts.mtu)]);
  await ns.sh(["ip", "addr", "add", `${net4.host(1)}/24`, "dev", dev]);
  await ns.sh(["ip", "-6", "addr", "add", `${net6}1/64`, "dev", dev, "nodad"]);
  await ns.sh(["ip", "link", "set", dev, "up"]);
  const config = {
    mode,
    name: dev,
    addrs: [`${net4.host(2)}/24`, `${net6}2/64`],
    ...(opts.mtu ? { mtu: opts.mtu } : {}),
    ...(opts.offload ? { offload: true } : {}),
    ...(opts.impair ? { impair: opts.impair } : {}),
    ...(opts.routes
      ? {
          routes: opts.routes.map((r) =>
            r.replace("{kernel4}", net4.host(1)).replace("{kernel6}", `${net6}1`),
          ),
        }
      : {}),
  };
  const proc = Bun.spawn(ns.argv([BUN, join(DRIVERS, "stack-driver.ts"), JSON.stringify(config)]), {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const driver = new Driver(proc);
  drivers.add(driver);
  const link: Link = {
    ns,
    dev,
    mode,
    kernel4: net4.host(1),
    stack4: net4.host(2),
    kernel6: `${net6}1`,
    stack6: `${net6}2`,
    driver,
    run: (cmd, o) => ns.run(cmd, o),
    spawn(cmd) {
      let text = "";
      const p = Bun.spawn(ns.argv(cmd), { stdout: "pipe", stderr: "ignore" });
      spawned.add(p);
      void (async () => {
        const dec = new TextDecoder();
        for await (const c of p.stdout as ReadableStream<Uint8Array>) text += dec.decode(c);
      })();
      return { proc: p, stdout: () => text };
    },
    async close() {
      await driver.stop();
      drivers.delete(driver);
      await ns.delete();
    },
  };
  await until(
    () => driver.ready ?? (proc.exitCode !== null ? Promise.reject(new Error("driver exited")) : undefined),
    `stack driver ready on ${dev}`,
    20_000,
  ).catch((e) => {
    throw new Error(`${e.message} (stderr: ${driver.stderr})`);
  });
  return link;
}

/** Waits until the stack answers the kernel's ping on `addr` (IPv6 addresses finish DAD first, RFC 4862 §5.4). */
export async function reachable(link: Link, addr: string): Promise<void> {
  await until(
    async () => (await link.run(["ping", "-c", "1", "-W", "1", addr])).code === 0,
    `${addr} answering ping`,
    15_000,
  );
}

/** Stops every driver and helper process this file started (by PID) and deletes its namespaces. */
export async function closeAll(): Promise<void> {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await Promise.all([...spawned].map((p) => p.exited));
  spawned.clear();
  await Promise.all([...drivers].map((d) => d.stop()));
  drivers.clear();
  await cleanupNetns();
}

/** `host:port` for socat: IPv6 in brackets. */
export function socatAddr(kind: "TCP" | "UDP", host: string, port: number): string {
  return host.includes(":") ? `${kind}6:[${host}]:${port}` : `${kind}4:${host}:${port}`;
}

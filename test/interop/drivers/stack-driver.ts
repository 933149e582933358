/**
 * The user-space side of the interop tests, run as a child process inside the
 * test's network namespace (`ip netns exec NS bun stack-driver.ts CONFIG`):
 * a TUN belongs to the namespace of the thread that opens it. It builds the
 * appliance's stack (src/cli/build-stack.ts) over `openTunEndpoint`, prints
 * `{"ready":true,...}`, then takes one JSON command per stdin line and answers
 * each with one JSON line `{"id":N,...}` on stdout.
 *
 * CONFIG (JSON): {"mode":"tun"|"tap","name":DEV,"addrs":["198.18.x.2/24","fd00::2/64"],
 *                 "mtu"?:N,"offload"?:bool,"impair"?:{lossIn,lossOut,dupIn,reorderIn,ceIn,ceOut,seed},
 *                 "routes"?:["DEST/LEN,GATEWAY"]}
 *
 * Commands (`op`):
 * - service {kind,protocol,port}: a diagnostic service (src/services) on the stack.
 * - sink {port,pauseMs?}: TCP listener; hashes each connection's bytes until the peer's FIN,
 *   then answers "<bytes> <sha256>\n" and closes (the peer reads after its shutdown);
 *   with pauseMs it starts reading only after that long (a zero window meanwhile).
 * - source {port,bytes,seed}: TCP listener; sends `bytes` of the seeded pattern, then FIN.
 * - connect {host,port,bytes,seed}: connects to a kernel listener, sends the pattern,
 *   half-closes, and reports what came back (bytes, sha256) and the send rate.
 * - manyConnect {host,port,n}: n connections at once to a kernel echo listener; each sends its
 *   own line, half-closes, and must get exactly that line back.
 * - reset {host,port}: connects, sends a line, and reports the error the socket sees.
 * - ping {to,count,size,timeoutMs}: ICMP / ICMPv6 echo (src/services/ping.ts): replies received,
 *   the size of the last one, and errors (a failed send, replies whose data was not echoed intact).
 * - udp {to,port,text}: a connected UDP endpoint sends `text` and waits for one reply.
 * - udpRefused {to,port}: sends to a closed port, then reports what the next calls throw.
 * - udpEchoScoped {port}: a UDP echo that replies through the NIC the datagram came in on
 *   (link-local peers need that; compare the echo service of src/services).
 * - addAddress {address}: adds "ADDR/LEN" to the NIC (IPv6: after DAD, RFC 4862 §5.4).
 * - hasAddress {address}: whether the NIC holds the address (a duplicate found by DAD is removed).
 * - stats: a few stack counters.
 * - tcpOption {name,value}: sets a stack-wide TCP option (src/transport/tcp/protocol-options.ts, e.g. ecn).
 */
import { createHash } from "node:crypto";
import { connect, createServer } from "../../../src/adapters/net/server.ts";
import type { Socket } from "../../../src/adapters/net/socket.ts";
import { buildStack } from "../../../src/cli/build-stack.ts";
import { tunOpener } from "../../../src/cli/link-opener.ts";
import { ping } from "../../../src/services/ping.ts";
import { ServiceManager, type ServiceSpec } from "../../../src/services/services.ts";
import type { Endpoint } from "../../../src/stack/registration.ts";
import { Address } from "../../../src/tcpip/address.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../../../src/tcpip/protocols.ts";
import { parseAddressWithPrefix, Subnet } from "../../../src/tcpip/subnet.ts";
import { EventIn, Queue, waitFor } from "../../../src/waiter/waiter.ts";
import { type Impairment, impair } from "./impaired-link.ts";
import { pattern } from "./pattern.ts";

interface Config {
  mode: "tun" | "tap";
  name: string;
  addrs: string[];
  mtu?: number;
  offload?: boolean;
  /** Loss, duplication and reordering between the device and the stack (impaired-link.ts). */
  impair?: Impairment;
  /** Extra routes: ["198.18.7.0/24,198.18.5.1", "fd00:1::/64,fd00::1"] (destination,gateway). */
  routes?: string[];
}

const config = JSON.parse(process.argv[2] ?? "{}") as Config;
const stack = buildStack();
const dev = tunOpener.open(
  {
    kind: config.mode,
    name: config.name,
    offload: config.offload ?? false,
    ...(config.mtu !== undefined ? { mtu: config.mtu } : {}),
  },
  stack.clock,
  (e) => process.stderr.write(`link error: ${e}\n`),
);
const impaired = config.impair ? impair(dev.link, config.impair) : undefined;
stack.createNIC(1, impaired?.link ?? dev.link, { name: dev.name });
for (const text of config.addrs) {
  const a = parseAddressWithPrefix(text);
  stack.addAddress(1, a.address.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER, a.address, a.prefixLen);
  stack.addRoute({ destination: Subnet.fromPrefix(a.address, a.prefixLen), nic: 1 });
}
for (const r of config.routes ?? []) {
  const [dest = "", gw] = r.split(",");
  stack.addRoute({ destination: Subnet.parse(dest), ...(gw ? { gateway: Address.parse(gw) } : {}), nic: 1 });
}
const services = new ServiceManager(stack);

const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const errCode = (e: unknown): string =>
  (e as { code?: string }).code ?? (e as Error).constructor?.name ?? String(e);

function listen(port: number, onConn: (s: Socket) => void): Promise<void> {
  const server = createServer(stack, { allowHalfOpen: true }, (s) => {
    s.on("error", (e) => out({ event: "socketError", port, code: errCode(e) }));
    onConn(s);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "::", backlog: 1024 }, () => resolve());
  });
}

async function writeAll(s: Socket, data: Uint8Array): Promise<void> {
  const CHUNK = 1 << 20;
  for (let off = 0; off < data.length; off += CHUNK) {
    if (!s.write(data.subarray(off, Math.min(data.length, off + CHUNK))))
      await new Promise<void>((r, j) => {
        const onErr = (e: Error) => j(e);
        s.once("error", onErr);
        s.once("drain", () => {
          s.off("error", onErr);
          r();
        });
      });
  }
}

/** Reads a socket to its end: byte count, SHA-256 and the time from first to last byte. */
function readAll(s: Socket): Promise<{ bytes: number; sha256: string; ms: number }> {
  const h = createHash("sha256");
  let n = 0;
  let first = 0;
  return new Promise((resolve, reject) => {
    s.on("data", (d: Uint8Array) => {
      if (n === 0) first = performance.now();
      h.update(d);
      n += d.length;
    });
    s.once("end", () => resolve({ bytes: n, sha256: h.digest("hex"), ms: performance.now() - first }));
    s.once("error", reject);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, j) => {
      t = setTimeout(() => j(new Error(`${what}: no result in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Link-local destinations need the NIC, as a scope id (`%dev`) does on Linux. */
function scope(addr: Address): { nic?: number } {
  return addr.is6 && addr.bytes[0] === 0xfe && (addr.bytes[1]! & 0xc0) === 0x80 ? { nic: 1 } : {};
}

/** A UDP echo on the stack that answers through the NIC the datagram came in on (`from.nic`). */
function udpEchoScoped(port: number): void {
  const wq = new Queue();
  const ep = stack.newEndpoint(UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, wq);
  ep.bind({ port });
  const drain = () => {
    for (;;) {
      let r: ReturnType<Endpoint["read"]>;
      try {
        r = ep.read();
      } catch {
        return;
      }
      const from = r.from;
      if (from?.addr)
        ep.write(r.data, {
          to: { addr: from.addr, port: from.port, ...(from.nic !== undefined ? { nic: from.nic } : {}) },
        });
    }
  };
  wq.register({ callback: drain }, EventIn);
}

/** ICMP / ICMPv6 echo through src/services/ping.ts, reported as the interop tests read it. */
async function pingCmd(c: { to: string; count?: number; size?: number; timeoutMs?: number }) {
  const addr = Address.parse(c.to);
  const r = await ping(stack, addr, {
    count: c.count ?? 3,
    size: c.size ?? 56,
    timeoutMs: c.timeoutMs ?? 2000,
    intervalMs: 0,
    ...scope(addr),
  });
  const errors: string[] = [];
  if (r.error) errors.push(r.error);
  if (r.corrupted > 0) errors.push(`${r.corrupted} replies with other data than was sent`);
  return { transmitted: r.transmitted, received: r.received, replyBytes: r.replyBytes ?? 0, errors };
}

function udpEndpoint(to: string): { ep: Endpoint; wq: Queue; addr: Address } {
  const addr = Address.parse(to);
  const wq = new Queue();
  const ep = stack.newEndpoint(
    UDP_PROTOCOL_NUMBER,
    addr.is6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
    wq,
  );
  return { ep, wq, addr };
}

async function udp(c: { to: string; port: number; text: string; timeoutMs?: number }) {
  const { ep, wq, addr } = udpEndpoint(c.to);
  try {
    ep.connect({ addr, port: c.port, ...scope(addr) });
    ep.write(new TextEncoder().encode(c.text));
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), c.timeoutMs ?? 3000);
    try {
      await waitFor(wq, EventIn, (m) => ep.readiness(m), ac.signal);
    } finally {
      clearTimeout(t);
    }
    const r = ep.read();
    return { reply: new TextDecoder().decode(r.data), from: `${r.from?.addr}:${r.from?.port}` };
  } finally {
    ep.close();
  }
}

async function udpRefused(c: { to: string; port: number }) {
  const { ep, addr } = udpEndpoint(c.to);
  const attempt = (f: () => unknown): string => {
    try {
      f();
      return "ok";
    } catch (e) {
      return (e as Error).constructor.name;
    }
  };
  try {
    ep.connect({ addr, port: c.port, ...scope(addr) });
    const first = attempt(() => ep.write(new TextEncoder().encode("anyone?")));
    // The kernel's port unreachable comes back within a round trip; wait for it.
    await Bun.sleep(300);
    const next = attempt(() => ep.write(new TextEncoder().encode("again")));
    // The error is reported once (like Linux's sk_err): the call after it goes through.
    const after = attempt(() => ep.write(new TextEncoder().encode("and again")));
    return { first, next, after };
  } finally {
    ep.close();
  }
}

async function tcpConnect(c: { host: string; port: number; bytes: number; seed?: number }) {
  const data = pattern(c.bytes, c.seed);
  const s = connect(stack, { port: c.port, host: c.host });
  s.on("error", () => {});
  await new Promise<void>((r, j) => {
    s.once("connect", () => r());
    s.once("error", j);
  });
  // Small replies are also returned as text (up to 4 KiB).
  const text: string[] = [];
  let textBytes = 0;
  s.on("data", (d: Uint8Array) => {
    if (textBytes + d.length <= 4096) text.push(new TextDecoder().decode(d));
    textBytes += d.length;
  });
  const reply = readAll(s);
  const t0 = performance.now();
  await writeAll(s, data);
  s.end();
  const sentMs = performance.now() - t0;
  const r = await reply;
  s.destroy();
  return { ...r, sentMs, ...(textBytes <= 4096 ? { text: text.join("") } : {}) };
}

async function manyConnect(c: { host: string; port: number; n: number }) {
  let ok = 0;
  const bad: string[] = [];
  await Promise.all(
    Array.from(
      { length: c.n },
      (_, i) =>
        new Promise<void>((resolve) => {
          const msg = `connection ${i} from user space ${"y".repeat(i % 89)}\n`;
          let got = "";
          const s = connect(stack, { port: c.port, host: c.host }, () => s.end(msg));
          s.setEncoding("utf8");
          s.on("data", (d: string) => {
            got += d;
          });
          s.on("end", () => {
            if (got === msg) ok++;
            else bad.push(`${i}: got ${JSON.stringify(got.slice(0, 40))}`);
            resolve();
          });
          s.on("error", (e) => {
            bad.push(`${i}: ${errCode(e)}`);
            resolve();
          });
        }),
    ),
  );
  return { ok, bad: bad.length, examples: bad.slice(0, 5) };
}

async function tcpReset(c: { host: string; port: number }) {
  const s = connect(stack, { port: c.port, host: c.host });
  return await new Promise<{ code: string; connected: boolean }>((resolve) => {
    let connected = false;
    s.on("connect", () => {
      connected = true;
      s.write("hello\n");
    });
    s.on("data", () => {});
    s.on("error", (e) => resolve({ code: errCode(e), connected }));
    s.on("close", () => resolve({ code: "closed without error", connected }));
  });
}

async function handle(cmd: Record<string, unknown> & { op: string }): Promise<unknown> {
  switch (cmd.op) {
    case "service": {
      const r = await services.start(cmd as unknown as ServiceSpec);
      return { service: r.id };
    }
    case "sink":
      await listen(cmd.port as number, (s) => {
        // With pauseMs, the application does not read at first: the receive window fills and closes.
        if (cmd.pauseMs) {
          s.pause();
          setTimeout(() => s.resume(), cmd.pauseMs as number);
        }
        void readAll(s).then(
          (r) => {
            s.end(`${r.bytes} ${r.sha256}\n`);
            out({ event: "sink", port: cmd.port, ...r });
          },
          (e) => out({ event: "sinkError", code: errCode(e) }),
        );
      });
      return {};
    case "source":
      await listen(cmd.port as number, (s) => {
        const data = pattern(cmd.bytes as number, cmd.seed as number | undefined);
        const t0 = performance.now();
        s.on("data", () => {});
        void writeAll(s, data).then(
          () => {
            s.end();
            out({ event: "source", port: cmd.port, bytes: data.length, ms: performance.now() - t0 });
          },
          (e) => out({ event: "sourceError", code: errCode(e) }),
        );
      });
      return {};
    case "connect":
      return await withTimeout(tcpConnect(cmd as never), (cmd.timeoutMs as number) ?? 60_000, "connect");
    case "manyConnect":
      return await withTimeout(manyConnect(cmd as never), 120_000, "manyConnect");
    case "reset":
      return await withTimeout(tcpReset(cmd as never), 10_000, "reset");
    case "ping":
      return await pingCmd(cmd as never);
    case "udp":
      return await udp(cmd as never);
    case "udpRefused":
      return await udpRefused(cmd as never);
    case "udpEchoScoped":
      udpEchoScoped(cmd.port as number);
      return {};
    case "addAddress": {
      const a = parseAddressWithPrefix(cmd.address as string);
      stack.addAddress(
        1,
        a.address.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER,
        a.address,
        a.prefixLen,
      );
      return {};
    }
    case "hasAddress":
      return { has: stack.hasAddress(1, Address.parse(cmd.address as string)) };
    case "stats":
      return {
        tcp: stack.stats.tcp,
        ip: stack.stats.ip,
        fragments: stack.stats.fragments,
        arp: stack.stats.arp,
        icmp: stack.stats.icmp,
        ...(impaired ? { impaired: impaired.counts } : {}),
      };
    case "tcpOption":
      stack.setTransportProtocolOption(TCP_PROTOCOL_NUMBER, cmd.name as string, cmd.value);
      return {};
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

let buffered = "";
process.stdin.on("data", (d: Buffer) => {
  buffered += d.toString();
  for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    const cmd = JSON.parse(line) as Record<string, unknown> & { op: string; id: number };
    handle(cmd).then(
      (r) => out({ id: cmd.id, ...(r as object) }),
      (e) => out({ id: cmd.id, error: errCode(e), message: String((e as Error).message ?? e) }),
    );
  }
});
process.stdin.on("end", () => shutdown());
process.on("SIGTERM", () => shutdown());

function shutdown(): void {
  void services.closeAll().finally(() => {
    stack.close();
    dev.close();
    process.exit(0);
  });
}

out({ ready: true, name: dev.name, mtu: dev.mtu, mac: dev.mac });

/**
 * The compiled `netstack serve` against the Linux kernel over a real TUN,
 * inside a network namespace this test creates (root; CI runs as root). The
 * kernel is the peer: ping, curl, nc and socat talk to the user-space stack,
 * curl talks to the REST API; a capture is read back with `tcpdump -r`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary } from "../build.ts";
import { canNetns, cleanupNetns, Netns, uniqueName, uniqueSubnet24, until } from "../netns.ts";

const dir = mkdtempSync(join(tmpdir(), "netstack-e2e-"));
let ns: Netns;
const net = uniqueSubnet24();
const STACK = net.host(2);
const HOST = net.host(1);
const API_PORT = 7000 + Math.floor(Math.random() * 900);
const API = `http://127.0.0.1:${API_PORT}`;
const tunName = uniqueName("nst");
let BIN = "";

interface Proc {
  proc: ReturnType<typeof Bun.spawn>;
  stdout: () => string;
  stderr: () => string;
}

function startServe(extra: string[] = []): Proc {
  let out = "";
  let err = "";
  const proc = Bun.spawn(
    ns.argv([
      BIN,
      "serve",
      "--tun",
      tunName,
      "--addr",
      `${STACK}/24`,
      "--host-addr",
      `${HOST}/24`,
      "--api",
      `127.0.0.1:${API_PORT}`,
      "--db",
      join(dir, "netstack.db"),
      "--token-file",
      join(dir, "token"),
      "--stats-interval",
      "200",
      ...extra,
    ]),
    { stdout: "pipe", stderr: "pipe" },
  );
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder();
    for await (const c of s) add(dec.decode(c));
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>, (t) => (out += t));
  void pump(proc.stderr as ReadableStream<Uint8Array>, (t) => (err += t));
  return { proc, stdout: () => out, stderr: () => err };
}

async function stopServe(p: Proc): Promise<number> {
  p.proc.kill("SIGTERM");
  return await p.proc.exited;
}

async function api(
  path: string,
  init: RequestInit & { token?: boolean } = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.token !== false)
    headers.authorization = `Bearer ${(await Bun.file(join(dir, "token")).text()).trim()}`;
  // The API listens on the namespace's loopback: reach it with curl inside the namespace.
  const args = ["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", "-X", init.method ?? "GET"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  if (init.body) args.push("--data-binary", String(init.body));
  args.push(`${API}${path}`);
  const r = await ns.run(args);
  const nl = r.stdout.lastIndexOf("\n");
  const text = r.stdout.slice(0, nl);
  return { status: Number(r.stdout.slice(nl + 1)), body: text ? JSON.parse(text) : null };
}

describe.skipIf(!canNetns)("netstack serve against the Linux kernel over TUN", () => {
  let serve: Proc;

  beforeAll(async () => {
    BIN = await compiledBinary();
    ns = await Netns.create("nse");
    serve = startServe([
      "--service",
      "http",
      "--service",
      "echo",
      "--service",
      "echo/udp",
      "--service",
      "discard:7009",
    ]);
    await until(() => serve.stdout().includes("ready "), `ready line (stderr: ${serve.stderr()})`, 20_000);
  }, 180_000);

  afterAll(async () => {
    if (serve && serve.proc.exitCode === null) serve.proc.kill("SIGKILL");
    await cleanupNetns();
    rmSync(dir, { recursive: true, force: true });
  });

  test("prints one ready line with the API address", () => {
    const lines = serve
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("ready"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain(`api=${API}`);
    expect(lines[0]).toContain(`tun=${tunName}`);
  });

  test("the kernel pings the stack (ICMP echo, RFC 792)", async () => {
    const r = await ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", STACK]);
    expect(r.stdout).toContain("3 received");
  });

  test("curl fetches the status page served by the user-space TCP stack", async () => {
    const html = await ns.sh(["curl", "-s", "-m", "5", `http://${STACK}/`]);
    expect(html).toContain("Served by the user-space TCP/IP stack");
    const big = await ns.run([
      "curl",
      "-s",
      "-m",
      "20",
      "-o",
      "/dev/null",
      "-w",
      "%{size_download}",
      `http://${STACK}/bytes/3000000`,
    ]);
    expect(big.stdout).toBe("3000000");
  });

  test("HTTP over the user-space stack: keep-alive, 100 MB download and a chunked upload checked by sha256, 10,000 requests from ab", async () => {
    // Keep-alive: two requests in one curl reuse one connection.
    const two = await ns.run([
      "curl",
      "-sv",
      "-m",
      "10",
      "-o",
      "/dev/null",
      `http://${STACK}/status.json`,
      "-o",
      "/dev/null",
      `http://${STACK}/status.json`,
    ]);
    expect(two.stderr).toContain("Re-using existing connection");
    // 100 MB download (the status app streams 'a' bytes), hashed by the kernel side.
    const n = 100 * 1024 * 1024;
    const want = new Bun.CryptoHasher("sha256").update(new Uint8Array(n).fill(0x61)).digest("hex");
    const down = await ns.sh(["sh", "-c", `curl -s -m 120 http://${STACK}/bytes/${n} | sha256sum`], {
      timeoutMs: 130_000,
    });
    expect(down.split(" ")[0]).toBe(want);
    // Chunked upload of 8 MB echoed back.
    const up = join(dir, "upload.bin");
    const body = new Uint8Array(8 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 255;
    await Bun.write(up, body);
    const upHash = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    const echoed = await ns.sh(
      [
        "sh",
        "-c",
        `curl -s -m 60 -H "Transfer-Encoding: chunked" --data-binary @${up} http://${STACK}/echo | sha256sum`,
      ],
      { timeoutMs: 70_000 },
    );
    expect(echoed.split(" ")[0]).toBe(upHash);
    // 10,000 requests, 10 at a time, keep-alive, from ApacheBench.
    const ab = await ns.run(["ab", "-k", "-n", "10000", "-c", "10", `http://${STACK}/bytes/1000`], {
      timeoutMs: 120_000,
    });
    expect(ab.stdout).toContain("Complete requests:      10000");
    expect(ab.stdout).toContain("Failed requests:        0");
  }, 240_000);

  test("nc talks to the echo service over TCP and UDP (RFC 862)", async () => {
    const tcp = await ns.run(["nc", "-q", "1", "-w", "3", STACK, "7"], { stdin: "hello over tcp\n" });
    expect(tcp.stdout).toBe("hello over tcp\n");
    // socat, not nc: netcat-openbsd quits on stdin EOF in UDP mode before the reply can arrive.
    const udp = await ns.run(["socat", "-t", "2", "-", `UDP:${STACK}:7`], { stdin: "hello over udp\n" });
    expect(udp.stdout).toBe("hello over udp\n");
  });

  test("health is open; state changes need the token (401 without it)", async () => {
    expect(await api("/v1/health")).toEqual({
      status: 200,
      body: { status: "ok", version: expect.any(String) },
    });
    const denied = await api("/v1/routes", {
      method: "POST",
      token: false,
      body: JSON.stringify({ destination: "198.19.250.0/24", nic: tunName }),
    });
    expect(denied.status).toBe(401);
  });

  test("REST: add a service, an address and a route; bad input names the field", async () => {
    const svc = await api("/v1/services", {
      method: "POST",
      body: JSON.stringify({ kind: "echo", protocol: "tcp", port: 7007 }),
    });
    expect(svc.status).toBe(201);
    const echoed = await ns.run(["nc", "-q", "1", "-w", "3", STACK, "7007"], { stdin: "via rest\n" });
    expect(echoed.stdout).toBe("via rest\n");

    const addr = await api(`/v1/nics/${tunName}/addresses`, {
      method: "POST",
      body: JSON.stringify({ address: `${net.host(3)}/24` }),
    });
    expect(addr.status).toBe(201);
    const ping = await ns.run(["ping", "-c", "1", "-W", "2", net.host(3)]);
    expect(ping.stdout).toContain("1 received");

    const route = await api("/v1/routes", {
      method: "POST",
      body: JSON.stringify({ destination: "198.19.251.0/24", gateway: HOST, nic: tunName, metric: 5 }),
    });
    expect(route.status).toBe(201);
    expect(route.body).toMatchObject({
      destination: "198.19.251.0/24",
      gateway: HOST,
      metric: 5,
      source: "api",
    });

    const bad = await api("/v1/routes", {
      method: "POST",
      body: JSON.stringify({ destination: "nowhere", nic: tunName }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { field: "destination" } });
  });

  test("conntrack shows the kernel's connections with counters", async () => {
    await ns.run(["curl", "-s", "-m", "5", "-o", "/dev/null", `http://${STACK}/status.json`]);
    const flows = (await api("/v1/conntrack")).body as {
      protocol: string;
      origDstPort: number;
      origPackets: number;
      replyPackets: number;
      origSrc: string;
      state: string;
    }[];
    const http = flows.filter((f) => f.protocol === "tcp" && f.origDstPort === 80);
    expect(http.length).toBeGreaterThan(0);
    expect(http[0]!.origSrc).toBe(HOST);
    expect(http[0]!.origPackets).toBeGreaterThan(2);
    expect(http[0]!.replyPackets).toBeGreaterThan(2);
    // curl closed the connection: the tracked flow went through the closing states.
    expect(["fin_wait", "close_wait", "last_ack", "time_wait", "close"]).toContain(http[0]!.state);
    // A connection still open shows up as established while it lasts.
    const holder = Bun.spawn(ns.argv(["nc", "-w", "3", STACK, "7009"]), { stdin: "pipe", stdout: "ignore" });
    await until(async () => {
      const live = (await api("/v1/conntrack?port=7009")).body as { state: string }[];
      return live.some((f) => f.state === "established");
    }, "an established discard flow");
    holder.kill();
    await holder.exited;
    const snap = await api("/v1/conntrack/snapshots", { method: "POST" });
    expect(snap.status).toBe(201);
  });

  test("a capture over REST opens with tcpdump -r and shows the kernel's pings", async () => {
    const cap = await api("/v1/captures", {
      method: "POST",
      body: JSON.stringify({ nic: tunName, filter: "icmp" }),
    });
    expect(cap.status).toBe(201);
    const id = (cap.body as { id: number }).id;
    await ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", STACK]);
    await api(`/v1/captures/${id}`, { method: "DELETE" });
    const file = join(dir, "cap.pcap");
    const tok = (await Bun.file(join(dir, "token")).text()).trim();
    await ns.sh([
      "curl",
      "-s",
      "-m",
      "5",
      "-H",
      `Authorization: Bearer ${tok}`,
      "-o",
      file,
      `${API}/v1/captures/${id}/pcap`,
    ]);
    const shown = await ns.sh(["tcpdump", "-nn", "-r", file]);
    expect(shown).toContain(`${HOST} > ${STACK}: ICMP echo request`);
    expect(shown).toContain(`${STACK} > ${HOST}: ICMP echo reply`);
  });

  test("SIGTERM stops cleanly (exit 0); a restart restores what REST configured", async () => {
    expect(await stopServe(serve)).toBe(0);
    serve = startServe();
    await until(
      () => serve.stdout().includes("ready "),
      `ready line after restart (stderr: ${serve.stderr()})`,
      20_000,
    );
    const services = (await api("/v1/services")).body as { port: number }[];
    expect(services.map((s) => s.port)).toEqual([7007]);
    const routes = (await api("/v1/routes")).body as { destination: string; source: string }[];
    expect(routes.filter((r) => r.source === "api").map((r) => r.destination)).toEqual(["198.19.251.0/24"]);
    const nics = (await api("/v1/nics")).body as { addresses: string[] }[];
    expect(nics[0]!.addresses).toContain(`${net.host(3)}/24`);
    const echoed = await ns.run(["nc", "-q", "1", "-w", "3", STACK, "7007"], { stdin: "after restart\n" });
    expect(echoed.stdout).toBe("after restart\n");
    const series = (await api("/v1/stats/history?name=ip.packetsReceived")).body as unknown[];
    expect(series.length).toBeGreaterThan(0);
    expect(await stopServe(serve)).toBe(0);
  });

  test("bad flags exit 2 with one line naming the flag", async () => {
    const r = await ns.run([BIN, "serve", "--mtu", "12"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.stderr).toContain("--mtu");
  });

  test("no permission for /dev/net/tun: exit 1 with one line saying how to fix it", async () => {
    // An unprivileged user needs to reach the binary: copy it into a world-readable folder.
    const open = join(dir, "pub");
    mkdirSync(open, { mode: 0o755 });
    chmodSync(dir, 0o755);
    copyFileSync(BIN, join(open, "netstack"));
    chmodSync(join(open, "netstack"), 0o755);
    const r = await ns.run([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      join(open, "netstack"),
      "serve",
      "--tun",
      uniqueName("nsp"),
      "--db",
      ":memory:",
      "--token-file",
      join(tmpdir(), `${uniqueName("tk")}`),
      "--api",
      "127.0.0.1:0",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.stderr).toMatch(/root|CAP_NET_ADMIN/);
  });
});

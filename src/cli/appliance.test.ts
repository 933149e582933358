/**
 * Route-level tests of the REST API: `app.request()` against the real
 * Appliance with an in-memory database and in-memory links (no devices, no
 * sockets). Every endpoint, including bad input for each field.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ChannelEndpoint } from "../link/channel/channel.ts";
import { readPcap } from "../link/sniffer/pcap.ts";
import { Store } from "../store/store.ts";
import { Appliance } from "./appliance.ts";
import { FlagError, parseFlags } from "./flags.ts";
import type { LinkOpener } from "./link-opener.ts";
import { createLogger } from "./logger.ts";
import { SERVE_FLAGS, serveConfig } from "./serve-config.ts";

const TOKEN = "test-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

/** In-memory links: each NIC is a channel whose outbound packets are collected. */
function channelOpener(): LinkOpener & { links: Map<string, ChannelEndpoint>; refuse: Set<string> } {
  const links = new Map<string, ChannelEndpoint>();
  const refuse = new Set<string>();
  return {
    links,
    refuse,
    open(spec) {
      if (refuse.has(spec.name)) throw new Error(`device ${spec.name} is busy`);
      const link = new ChannelEndpoint({ mtu: spec.mtu ?? 1500 });
      links.set(spec.name, link);
      return { link, name: spec.name, mtu: link.mtu, mac: null, close: () => links.delete(spec.name) };
    },
  };
}

type J = Record<string, unknown> & { error?: { code: string; message: string; field?: string } };

let store: Store;
let app: Appliance;
let opener: ReturnType<typeof channelOpener>;

async function boot(argv: string[] = [], st = Store.open(":memory:")): Promise<Appliance> {
  store = st;
  opener = channelOpener();
  const config = serveConfig(
    parseFlags(["--tun", "tun0", "--stats-interval", "0", "--conntrack-interval", "0", ...argv], SERVE_FLAGS),
  );
  const a = new Appliance({
    version: "9.9.9",
    config,
    store,
    log: createLogger("error", () => {}),
    token: TOKEN,
    opener,
  });
  await a.start();
  return a;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = auth,
): Promise<{ status: number; json: J; text: string; bytes: Uint8Array }> {
  const r = await app.app.request(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: J = {};
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json, text, bytes };
}

async function field(method: string, path: string, body: unknown): Promise<string | undefined> {
  const r = await call(method, path, body);
  expect(r.status).toBe(400);
  expect(r.json.error?.code).toBe("invalid_request");
  return r.json.error?.field;
}

beforeEach(async () => {
  app = await boot(["--addr", "198.18.0.2/24", "--addr", "fd00::2/64", "--service", "echo"]);
});
afterEach(async () => {
  await app.stop();
});

describe("auth", () => {
  test("health, version and the OpenAPI document are open; everything else needs the token", async () => {
    expect((await call("GET", "/v1/health", undefined, {})).json).toEqual({ status: "ok", version: "9.9.9" });
    expect((await call("GET", "/v1/version", undefined, {})).status).toBe(200);
    const doc = await call("GET", "/v1/openapi.json", undefined, {});
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.json.paths as object)).toContain("/v1/routes/{id}");
    for (const [m, p] of [
      ["GET", "/v1/nics"],
      ["POST", "/v1/routes"],
      ["DELETE", "/v1/routes/1"],
      ["GET", "/v1/conntrack"],
    ] as const) {
      for (const h of [{}, { authorization: "Bearer nope" }, { authorization: `Basic ${TOKEN}` }]) {
        const r = await call(m, p, m === "POST" ? {} : undefined, h);
        expect(r.status).toBe(401);
        expect(r.json.error).toMatchObject({ code: "unauthorized", field: "authorization" });
      }
    }
  });

  test("--api-open-reads lets GETs through but not changes", async () => {
    await app.stop();
    app = await boot(["--api-open-reads"]);
    expect((await call("GET", "/v1/nics", undefined, {})).status).toBe(200);
    expect((await call("POST", "/v1/routes", { destination: "198.19.0.0/16", nic: "tun0" }, {})).status).toBe(
      401,
    );
  });

  test("bodies over the limit get 413; broken JSON gets 400 naming the body", async () => {
    const big = JSON.stringify({ address: "x".repeat(2 << 20) });
    const r = await call("POST", "/v1/nics/tun0/addresses", big);
    expect(r.status).toBe(413);
    expect(r.json.error?.field).toBe("body");
    const bad = await call("POST", "/v1/routes", "{nope");
    expect(bad.status).toBe(400);
  });
});

describe("NICs and addresses", () => {
  test("list, get, stats; create, disable, enable and delete a NIC (stored)", async () => {
    const list = await call("GET", "/v1/nics");
    expect(list.json as unknown).toEqual([
      expect.objectContaining({
        name: "tun0",
        kind: "tun",
        enabled: true,
        addresses: ["198.18.0.2/24", "fd00::2/64"],
      }),
    ]);
    expect((await call("GET", "/v1/nics/tun0")).json.name).toBe("tun0");
    expect((await call("GET", "/v1/nics/tun0/stats")).status).toBe(200);
    expect((await call("GET", "/v1/nics/nope")).status).toBe(404);

    const made = await call("POST", "/v1/nics", { name: "tap9", kind: "tap", mtu: 9000 });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ name: "tap9", kind: "tap", mtu: 9000, enabled: true });
    expect(
      store
        .listNics()
        .map((n) => n.name)
        .sort(),
    ).toEqual(["tap9", "tun0"]);
    expect((await call("POST", "/v1/nics", { name: "tap9" })).status).toBe(409);
    opener.refuse.add("busy0");
    const busy = await call("POST", "/v1/nics", { name: "busy0" });
    expect(busy.status).toBe(409);
    expect(busy.json.error?.message).toContain("busy");

    expect((await call("PATCH", "/v1/nics/tap9", { enabled: false })).json.enabled).toBe(false);
    expect(store.listNics().find((n) => n.name === "tap9")?.enabled).toBe(false);
    expect((await call("PATCH", "/v1/nics/tap9", { enabled: true })).json.enabled).toBe(true);
    expect((await call("DELETE", "/v1/nics/tap9")).status).toBe(204);
    expect(store.listNics().map((n) => n.name)).toEqual(["tun0"]);
    expect((await call("DELETE", "/v1/nics/tap9")).status).toBe(404);
  });

  test("bad NIC input names the field", async () => {
    expect(await field("POST", "/v1/nics", { name: "way-too-long-name0" })).toBe("name");
    expect(await field("POST", "/v1/nics", { name: "t1", kind: "veth" })).toBe("kind");
    expect(await field("POST", "/v1/nics", { name: "t1", mtu: 10 })).toBe("mtu");
    expect(await field("POST", "/v1/nics", { name: "t1", kind: "tun", mac: "02:00:00:00:00:01" })).toBe(
      "mac",
    );
    expect(await field("POST", "/v1/nics", { name: "t1", kind: "tap", mac: "zz" })).toBe("mac");
    expect(await field("POST", "/v1/nics", { name: "t1", hostAddresses: ["nope"] })).toBe("hostAddresses");
    expect(await field("POST", "/v1/nics", { name: "t1", colour: "red" })).toBe("colour");
    expect(await field("PATCH", "/v1/nics/tun0", { enabled: "yes" })).toBe("enabled");
  });

  test("add and remove addresses (stored); duplicates conflict; bad input names the field", async () => {
    const r = await call("POST", "/v1/nics/tun0/addresses", { address: "198.18.0.3/24" });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ nic: "tun0", address: "198.18.0.3/24" });
    expect(store.listAddresses("tun0").map((a) => a.address)).toEqual(["198.18.0.3/24"]);
    expect((await call("POST", "/v1/nics/tun0/addresses", { address: "198.18.0.3/24" })).status).toBe(409);
    expect((await call("POST", "/v1/nics/nope/addresses", { address: "198.18.0.4/24" })).status).toBe(404);
    expect(await field("POST", "/v1/nics/tun0/addresses", { address: "198.18.0.300/24" })).toBe("address");
    expect(await field("POST", "/v1/nics/tun0/addresses", { address: "198.18.0.4" })).toBe("address");
    expect(await field("POST", "/v1/nics/tun0/addresses", {})).toBe("address");
    expect(
      (await call("DELETE", `/v1/nics/tun0/addresses/${encodeURIComponent("198.18.0.3/24")}`)).status,
    ).toBe(204);
    expect(store.listAddresses("tun0")).toEqual([]);
    expect(
      (await call("DELETE", `/v1/nics/tun0/addresses/${encodeURIComponent("198.18.0.3/24")}`)).status,
    ).toBe(404);
  });
});

describe("routes", () => {
  test("connected and flag routes are listed; REST routes are added, replaced and removed (stored)", async () => {
    const before = (await call("GET", "/v1/routes")).json as unknown as {
      source: string;
      destination: string;
    }[];
    expect(before.map((r) => `${r.source} ${r.destination}`)).toEqual([
      "connected 198.18.0.0/24",
      "connected fd00::/64",
    ]);
    const a = await call("POST", "/v1/routes", {
      destination: "198.19.5.0/24",
      gateway: "198.18.0.1",
      nic: "tun0",
      metric: 3,
    });
    expect(a.status).toBe(201);
    expect(a.json).toMatchObject({
      source: "api",
      destination: "198.19.5.0/24",
      gateway: "198.18.0.1",
      metric: 3,
      nic: "tun0",
    });
    const d = await call("POST", "/v1/routes", { destination: "default", gateway: "fd00::1", nic: "tun0" });
    expect(d.json.destination).toBe("::/0");
    const put = await call("PUT", "/v1/routes", [{ destination: "198.19.6.0/24", nic: "tun0" }]);
    expect(put.status).toBe(200);
    expect(store.listRoutes().map((r) => r.destination)).toEqual(["198.19.6.0/24"]);
    const id = store.listRoutes()[0]!.id;
    expect((await call("DELETE", `/v1/routes/${id}`)).status).toBe(204);
    expect((await call("DELETE", `/v1/routes/${id}`)).status).toBe(404);
    expect(store.listRoutes()).toEqual([]);
  });

  test("bad route input names the field", async () => {
    expect(await field("POST", "/v1/routes", { nic: "tun0" })).toBe("destination");
    expect(await field("POST", "/v1/routes", { destination: "nowhere", nic: "tun0" })).toBe("destination");
    expect(
      await field("POST", "/v1/routes", { destination: "198.19.0.0/16", gateway: "x", nic: "tun0" }),
    ).toBe("gateway");
    expect(
      await field("POST", "/v1/routes", { destination: "198.19.0.0/16", gateway: "fd00::1", nic: "tun0" }),
    ).toBe("gateway");
    expect(await field("POST", "/v1/routes", { destination: "198.19.0.0/16", nic: "tun0", metric: -1 })).toBe(
      "metric",
    );
    expect(await field("POST", "/v1/routes", { destination: "198.19.0.0/16" })).toBe("nic");
    expect(
      await field("PUT", "/v1/routes", [
        { destination: "198.19.0.0/16", nic: "tun0" },
        { destination: "bad", nic: "tun0" },
      ]),
    ).toBe("1.destination");
    expect(await field("DELETE", "/v1/routes/abc", undefined)).toBe("id");
    expect((await call("POST", "/v1/routes", { destination: "198.19.0.0/16", nic: "nope" })).status).toBe(
      404,
    );
  });
});

describe("services", () => {
  test("list, add (stored), disable, enable, remove; ports conflict", async () => {
    const list = (await call("GET", "/v1/services")).json as unknown as { id: number; stored: boolean }[];
    expect(list).toEqual([
      expect.objectContaining({
        id: 100000,
        kind: "echo",
        protocol: "tcp",
        port: 7,
        stored: false,
        enabled: true,
      }),
    ]);
    const s = await call("POST", "/v1/services", { kind: "discard", protocol: "udp" });
    expect(s.status).toBe(201);
    expect(s.json).toMatchObject({ kind: "discard", protocol: "udp", port: 9, stored: true, enabled: true });
    const id = s.json.id as number;
    expect((await call("POST", "/v1/services", { kind: "chargen", port: 7 })).status).toBe(409);
    expect((await call("PATCH", `/v1/services/${id}`, { enabled: false })).json.enabled).toBe(false);
    expect(store.listServices()[0]!.enabled).toBe(false);
    expect((await call("PATCH", `/v1/services/${id}`, { enabled: true })).json.enabled).toBe(true);
    expect((await call("DELETE", `/v1/services/${id}`)).status).toBe(204);
    expect((await call("DELETE", `/v1/services/${id}`)).status).toBe(404);
    expect(store.listServices()).toEqual([]);
  });

  test("bad service input names the field", async () => {
    expect(await field("POST", "/v1/services", { kind: "telnet" })).toBe("kind");
    expect(await field("POST", "/v1/services", { kind: "echo", protocol: "sctp" })).toBe("protocol");
    expect(await field("POST", "/v1/services", { kind: "echo", port: 70000 })).toBe("port");
    expect(await field("POST", "/v1/services", { kind: "http", protocol: "udp" })).toBe("protocol");
    expect(
      await field("POST", "/v1/services", {
        kind: "echo",
        keepalive: { idleMs: 0, intervalMs: 1, count: 1 },
      }),
    ).toBe("keepalive.idleMs");
    expect(
      await field("POST", "/v1/services", {
        kind: "echo",
        protocol: "udp",
        port: 7,
        keepalive: { idleMs: 1, intervalMs: 1, count: 1 },
      }),
    ).toBe("keepalive");
    expect(await field("PATCH", "/v1/services/100000", { enabled: 1 })).toBe("enabled");
  });
});

describe("diagnostics, stats, endpoints, conntrack, captures", () => {
  test("tcp-connect from the stack to its own echo service returns the bytes and timings", async () => {
    const r = await call("POST", "/v1/diagnostics/tcp-connect", {
      address: "198.18.0.2",
      port: 7,
      sendBase64: Buffer.from("hello").toString("base64"),
      holdMs: 50,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      connected: true,
      bytesSent: 5,
      bytesReceived: 5,
      receivedBase64: Buffer.from("hello").toString("base64"),
    });
    expect(typeof r.json.connectMs).toBe("number");
    const refused = await call("POST", "/v1/diagnostics/tcp-connect", { address: "198.18.0.2", port: 9999 });
    expect(refused.json).toMatchObject({ connected: false, error: "ECONNREFUSED" });
    const later = await call("POST", "/v1/diagnostics/tcp-connect", {
      address: "198.18.0.2",
      port: 7,
      wait: false,
    });
    expect(later.status).toBe(202);
    expect(await field("POST", "/v1/diagnostics/tcp-connect", { address: "198.18.0.2", port: 0 })).toBe(
      "port",
    );
    expect(
      await field("POST", "/v1/diagnostics/tcp-connect", {
        address: "198.18.0.2",
        port: 7,
        sendBase64: "***",
      }),
    ).toBe("sendBase64");
    expect(await field("POST", "/v1/diagnostics/tcp-connect", { address: "here", port: 7 })).toBe("address");
  });

  test("ping from the stack to its own addresses (IPv4 and IPv6)", async () => {
    for (const address of ["198.18.0.2", "fd00::2"]) {
      const r = await call("POST", "/v1/diagnostics/ping", { address, count: 2, intervalMs: 10 });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ address, transmitted: 2, received: 2 });
    }
    expect(await field("POST", "/v1/diagnostics/ping", { address: "198.18.0.2", count: 0 })).toBe("count");
  });

  test("stats now and as history with a step", async () => {
    const now = await call("GET", "/v1/stats");
    expect(now.json).toHaveProperty("stack.ip.packetsReceived");
    app.sampleStats(1_000);
    app.sampleStats(2_000);
    const h = await call("GET", "/v1/stats/history?name=ip.packetsSent&from=0&to=5000&step=1000");
    expect((h.json as unknown as { ts: number }[]).map((x) => x.ts)).toEqual([1000, 2000]);
    expect(await field("GET", "/v1/stats/history?name=x&step=0", undefined)).toBe("step");
    expect(await field("GET", "/v1/stats/history", undefined)).toBe("name");
    expect(await field("GET", "/v1/stats/history?name=x&from=5&to=1", undefined)).toBe("from");
  });

  test("endpoints list the stack's sockets like ss", async () => {
    const r = (await call("GET", "/v1/endpoints")).json as unknown as {
      protocol: string;
      localPort: number;
      state: string;
    }[];
    expect(r.some((e) => e.protocol.startsWith("tcp") && e.localPort === 7)).toBe(true);
  });

  test("conntrack live list with filters; snapshots stored and read back", async () => {
    await call("POST", "/v1/diagnostics/tcp-connect", { address: "198.18.0.2", port: 7, sendBase64: "aGk=" });
    const all = (await call("GET", "/v1/conntrack")).json as unknown as { origDstPort: number }[];
    expect(all.some((f) => f.origDstPort === 7)).toBe(true);
    expect(((await call("GET", "/v1/conntrack?protocol=udp")).json as unknown as unknown[]).length).toBe(0);
    expect(
      ((await call("GET", "/v1/conntrack?port=7&protocol=tcp")).json as unknown as unknown[]).length,
    ).toBeGreaterThan(0);
    expect(await field("GET", "/v1/conntrack?protocol=sctp", undefined)).toBe("protocol");
    const snap = await call("POST", "/v1/conntrack/snapshots");
    expect(snap.status).toBe(201);
    const got = await call("GET", `/v1/conntrack/snapshots/${snap.json.id}`);
    expect((got.json.flows as unknown[]).length).toBe(snap.json.flowCount as number);
    expect(((await call("GET", "/v1/conntrack/snapshots")).json as unknown as unknown[]).length).toBe(1);
    expect((await call("GET", "/v1/conntrack/snapshots/999")).status).toBe(404);
  });

  test("captures: start with a filter, download pcap, stop; bad filter names the field", async () => {
    const c = await call("POST", "/v1/captures", { nic: "tun0", filter: "icmp" });
    expect(c.status).toBe(201);
    // Packets the stack writes to tun0 (an echo reply to a ping injected from the "kernel").
    const link = opener.links.get("tun0")!;
    const req = new Uint8Array([
      0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 8, 0, 0, 0, 0, 1, 0, 1,
    ]);
    const { checksum, finishChecksum } = await import("../header/checksum.ts");
    const ic = finishChecksum(checksum(req, 0, 20));
    req[10] = ic >> 8;
    req[11] = ic & 255;
    const tc = finishChecksum(checksum(req, 20, 8));
    req[22] = tc >> 8;
    req[23] = tc & 255;
    const { PacketBuffer } = await import("../buffer/packet-buffer.ts");
    link.injectInbound(0x0800, PacketBuffer.wrap(req));
    const pcap = await call("GET", `/v1/captures/${c.json.id}/pcap`);
    const parsed = readPcap(pcap.bytes)!;
    expect(parsed.linkType).toBe(101);
    expect(parsed.records.length).toBe(2); // the request in, the reply out
    const stopped = await call("DELETE", `/v1/captures/${c.json.id}`);
    expect(stopped.json).toMatchObject({ running: false, packets: 2 });
    expect(((await call("GET", "/v1/captures")).json as unknown as unknown[]).length).toBe(1);
    expect((await call("GET", "/v1/captures/77/pcap")).status).toBe(404);
    expect(await field("POST", "/v1/captures", { nic: "tun0", filter: "tcp or udp" })).toBe("filter");
    expect((await call("POST", "/v1/captures", { nic: "nope" })).status).toBe(404);
  });
});

describe("persistence", () => {
  test("a restart restores NICs, addresses, routes and services exactly", async () => {
    const path = `${process.env.TMPDIR ?? "/tmp"}/netstack-appliance-${process.pid}-${Date.now()}.db`;
    await app.stop();
    app = await boot([], Store.open(path));
    await call("POST", "/v1/nics", { name: "tap3", kind: "tap" });
    await call("POST", "/v1/nics/tap3/addresses", { address: "198.19.3.2/24" });
    await call("POST", "/v1/routes", {
      destination: "198.19.4.0/24",
      gateway: "198.19.3.1",
      nic: "tap3",
      metric: 2,
    });
    await call("POST", "/v1/services", { kind: "chargen", port: 1919 });
    await call("PATCH", "/v1/nics/tap3", { enabled: false });
    const before = {
      nics: (await call("GET", "/v1/nics")).json,
      routes: (await call("GET", "/v1/routes")).json,
      services: (await call("GET", "/v1/services")).json,
    };
    await app.stop();
    app = await boot([], Store.open(path));
    const strip = (x: unknown) =>
      JSON.parse(
        JSON.stringify(x, (k, v) =>
          k === "stats" || (k === "id" && typeof v === "number" && v > 1000) ? undefined : v,
        ),
      );
    expect(strip((await call("GET", "/v1/nics")).json)).toEqual(strip(before.nics));
    expect((await call("GET", "/v1/routes")).json).toEqual(before.routes);
    expect(strip((await call("GET", "/v1/services")).json)).toEqual(strip(before.services));
    const { rmSync } = await import("node:fs");
    await app.stop();
    app = await boot();
    for (const s of ["", "-wal", "-shm"]) rmSync(path + s, { force: true });
  });

  test("FlagError is what bad serve flags raise", () => {
    expect(() => serveConfig(parseFlags(["--mtu", "1"], SERVE_FLAGS))).toThrow(FlagError);
  });
});

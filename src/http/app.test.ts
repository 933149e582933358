import { describe, expect, test } from "bun:test";
import { createApp } from "./app.ts";
import {
  ApiError,
  type Controller,
  type RouteView,
  type ServiceView,
  type TcpConnectSpec,
} from "./controller.ts";

/** An in-memory controller that records calls, to test the HTTP layer alone (routes, auth, validation). */
function memoryController() {
  const routes: RouteView[] = [];
  const services: ServiceView[] = [];
  const addresses: string[] = ["198.18.0.2/24"];
  const connects: TcpConnectSpec[] = [];
  let next = 1;
  const c: Controller = {
    version: "test",
    listNics: () => [
      {
        name: "tun0",
        id: 1,
        kind: "tun",
        mtu: 1500,
        mac: null,
        enabled: true,
        addresses: [...addresses],
        stats: {},
      },
    ],
    addAddress: (nic, cidr) => {
      if (nic !== "tun0") throw new ApiError(404, `no NIC named ${nic}`, "name");
      addresses.push(cidr);
      return { nic, address: cidr };
    },
    removeAddress: (_nic, cidr) => {
      const i = addresses.indexOf(cidr);
      if (i < 0) throw new ApiError(404, `no address ${cidr}`, "address");
      addresses.splice(i, 1);
    },
    listRoutes: () => routes,
    addRoute: (r) => {
      const row = {
        id: next++,
        source: "api" as const,
        destination: r.destination,
        gateway: r.gateway ?? null,
        nic: r.nic,
        metric: r.metric ?? 0,
      };
      routes.push(row);
      return row;
    },
    removeRoute: (id) => {
      const i = routes.findIndex((r) => r.id === id);
      if (i < 0) throw new ApiError(404, `no route ${id}`, "id");
      routes.splice(i, 1);
    },
    listServices: () => services,
    addService: async (s) => {
      const row = { ...s, id: next++, connections: 0 };
      services.push(row);
      return row;
    },
    removeService: () => {},
    tcpConnect: async (spec) => {
      connects.push(spec);
      return { connected: true, bytesSent: spec.send.length, bytesReceived: 0 };
    },
    stats: () => ({ ip: { packetsReceived: 1 } }),
    conntrack: () => [],
    takeConntrackSnapshot: () => ({ id: 1, ts: 0, flowCount: 0 }),
    listConntrackSnapshots: () => [],
    conntrackSnapshot: () => undefined,
    statsSeries: () => [],
  };
  return { c, routes, services, addresses, connects };
}

const TOKEN = "s3cret-token";
type J = { error?: string; field?: string; id?: number; [k: string]: unknown };
const json = async (r: Response) => (await r.json()) as J;
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

function setup() {
  const m = memoryController();
  return { ...m, app: createApp({ controller: m.c, token: TOKEN }) };
}

describe("REST API", () => {
  test("health answers 200 without a token", async () => {
    const { app } = setup();
    const r = await app.request("/v1/health");
    expect(r.status).toBe(200);
    expect(await json(r)).toEqual({ status: "ok", version: "test" });
  });

  test("state changes without a valid token get 401 and change nothing", async () => {
    const { app, routes } = setup();
    const body = JSON.stringify({ destination: "198.18.5.0/24", nic: "tun0" });
    for (const headers of [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Basic ${TOKEN}` },
      { authorization: "Bearer " },
    ]) {
      const r = await app.request("/v1/routes", {
        method: "POST",
        body,
        headers: { ...headers, "content-type": "application/json" },
      });
      expect(r.status).toBe(401);
      expect((await json(r)).field).toBe("authorization");
    }
    expect((await app.request("/v1/routes/1", { method: "DELETE" })).status).toBe(401);
    expect(routes).toEqual([]);
  });

  test("POST /v1/routes answers 201 with the route and its id; DELETE removes it", async () => {
    const { app } = setup();
    const r = await app.request("/v1/routes", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ destination: "198.18.5.0/24", gateway: "198.18.0.1", nic: "tun0", metric: 3 }),
    });
    expect(r.status).toBe(201);
    const row = await json(r);
    expect(row).toEqual({
      id: 1,
      source: "api",
      destination: "198.18.5.0/24",
      gateway: "198.18.0.1",
      nic: "tun0",
      metric: 3,
    });
    expect(await (await app.request("/v1/routes")).json()).toEqual([row]);
    expect((await app.request(`/v1/routes/${row.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await app.request(`/v1/routes/${row.id}`, { method: "DELETE", headers: auth })).status).toBe(404);
  });

  test("bad input gets 400 with a JSON error naming the field", async () => {
    const { app } = setup();
    const cases: [string, unknown, string][] = [
      ["/v1/routes", { nic: "tun0" }, "destination"],
      ["/v1/routes", { destination: "198.18.5.0/24", nic: "tun0", metric: -1 }, "metric"],
      ["/v1/routes", { destination: "198.18.5.0/24", nic: "tun0", colour: "red" }, "colour"],
      ["/v1/routes", [1, 2], "body"],
      ["/v1/services", { kind: "telnet" }, "kind"],
      ["/v1/services", { kind: "echo", port: 70000 }, "port"],
      ["/v1/services", { kind: "chargen", protocol: "udp" }, "protocol"],
      [
        "/v1/services",
        { kind: "echo", keepalive: { idleMs: 0, intervalMs: 1, count: 1 } },
        "keepalive.idleMs",
      ],
      ["/v1/diagnostics/tcp-connect", { address: "198.18.0.1", port: 80, sendBase64: "***" }, "sendBase64"],
      ["/v1/diagnostics/tcp-connect", { address: "198.18.0.1" }, "port"],
      ["/v1/nics/tun0/addresses", {}, "address"],
    ];
    for (const [path, body, field] of cases) {
      const r = await app.request(path, { method: "POST", headers: auth, body: JSON.stringify(body) });
      expect(r.status).toBe(400);
      const j = await json(r);
      expect(j.field).toBe(field);
      expect(typeof j.error).toBe("string");
    }
    const r = await app.request("/v1/routes", { method: "POST", headers: auth, body: "{not json" });
    expect(r.status).toBe(400);
    expect((await json(r)).field).toBe("body");
    expect((await app.request("/v1/routes/abc", { method: "DELETE", headers: auth })).status).toBe(400);
  });

  test("services default their port from the kind (RFC 862/863/864, http 80)", async () => {
    const { app } = setup();
    const r = await app.request("/v1/services", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ kind: "discard", protocol: "udp" }),
    });
    expect(r.status).toBe(201);
    expect(await json(r)).toMatchObject({ kind: "discard", protocol: "udp", port: 9 });
    const k = await app.request("/v1/services", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        kind: "echo",
        protocol: "tcp",
        port: 7007,
        keepalive: { idleMs: 1000, intervalMs: 200, count: 3 },
      }),
    });
    expect(await k.json()).toMatchObject({
      port: 7007,
      keepalive: { idleMs: 1000, intervalMs: 200, count: 3 },
    });
  });

  test("tcp-connect with wait:false answers 202 at once; with wait it returns the result", async () => {
    const { app, connects } = setup();
    const a = await app.request("/v1/diagnostics/tcp-connect", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        address: "198.18.0.1",
        port: 80,
        sendBase64: "aGVsbG8=",
        holdMs: 10,
        wait: false,
      }),
    });
    expect(a.status).toBe(202);
    const b = await app.request("/v1/diagnostics/tcp-connect", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ address: "198.18.0.1", port: 80, sendBase64: "aGVsbG8=" }),
    });
    expect(b.status).toBe(200);
    expect(await b.json()).toEqual({ connected: true, bytesSent: 5, bytesReceived: 0 });
    expect(new TextDecoder().decode(connects[1]!.send)).toBe("hello");
  });

  test("errors from the controller keep their status; unknown paths are JSON 404", async () => {
    const { app } = setup();
    const r = await app.request("/v1/nics/eth9/addresses", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ address: "198.18.0.3/24" }),
    });
    expect(r.status).toBe(404);
    expect((await json(r)).field).toBe("name");
    const n = await app.request("/v1/nope");
    expect(n.status).toBe(404);
    expect((await json(n)).error).toContain("/v1/nope");
  });
});

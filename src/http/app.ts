/**
 * The REST API (DESIGN.md "Contract", issue 7). Versioned under /v1, JSON,
 * validated with zod schemas that also produce /v1/openapi.json. Every call
 * that changes state needs `Authorization: Bearer <token>`; read-only calls
 * need it too unless `openReads` is set (health, version and the OpenAPI
 * document are always open). Errors are `{ "error": { code, message, field? } }`,
 * mapped in one `onError`, never a stack trace.
 */
import { createRoute, OpenAPIHono, type z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { ApiError, type Controller, type ServiceSpec } from "./controller.ts";
import * as S from "./schemas.ts";

export interface AppOptions {
  controller: Controller;
  token: string;
  /** Let read-only calls through without a token (`--api-open-reads`). */
  openReads?: boolean;
  /** Largest request body in bytes (default 1 MiB; tcp-connect allows 32 MiB). */
  maxBodyBytes?: number;
}

const ALWAYS_OPEN = new Set(["/v1/health", "/v1/version", "/v1/openapi.json"]);
const SERVICE_PORTS = { echo: 7, discard: 9, chargen: 19, http: 80 } as const;

/** Constant-time comparison so the token cannot be guessed byte by byte from timing. */
function tokenMatches(given: string, want: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(want);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ b[i]!;
  return diff === 0 && want.length > 0;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
const errors = {
  400: json(S.ErrorBody, "Invalid input; `field` names it"),
  401: json(S.ErrorBody, "Missing or wrong bearer token"),
  404: json(S.ErrorBody, "No such resource"),
  409: json(S.ErrorBody, "Conflicts with the current state"),
};
const body = <T extends z.ZodType>(schema: T) => ({
  body: { content: { "application/json": { schema } }, required: true },
});

export function createApp({
  controller: c,
  token,
  openReads = false,
  maxBodyBytes = 1 << 20,
}: AppOptions): OpenAPIHono {
  const app = new OpenAPIHono({
    // Validation failures become 400s naming the first offending field.
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const path = issue?.path.map(String) ?? [];
      // An unknown key is reported at its parent's path; name the key itself.
      if (issue?.code === "unrecognized_keys" && issue.keys[0] !== undefined) path.push(issue.keys[0]);
      const field = path.length ? path.join(".") : "body";
      throw new ApiError(400, `${field}: ${issue?.message ?? "invalid"}`, field);
    },
  });

  app.onError((err, ctx) => {
    if (err instanceof ApiError) {
      return ctx.json(
        { error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } },
        err.status,
      );
    }
    if (err instanceof HTTPException && err.status === 400) {
      return ctx.json(
        { error: { code: "invalid_request", message: err.message || "malformed request", field: "body" } },
        400,
      );
    }
    if (err instanceof SyntaxError) {
      return ctx.json(
        { error: { code: "invalid_request", message: "request body must be valid JSON", field: "body" } },
        400,
      );
    }
    return ctx.json(
      {
        error: {
          code: "internal",
          message: err instanceof Error ? err.message.split("\n")[0]! : "internal error",
        },
      },
      500,
    );
  });
  app.notFound((ctx) =>
    ctx.json(
      {
        error: {
          code: "not_found",
          message: `no route for ${ctx.req.method} ${new URL(ctx.req.url).pathname}`,
        },
      },
      404,
    ),
  );

  app.use("*", async (ctx, next) => {
    const m = ctx.req.method;
    const path = new URL(ctx.req.url).pathname;
    const read = m === "GET" || m === "HEAD" || m === "OPTIONS";
    if (!ALWAYS_OPEN.has(path) && !(read && openReads)) {
      const h = ctx.req.header("authorization") ?? "";
      const given = h.startsWith("Bearer ") ? h.slice(7).trim() : "";
      if (!tokenMatches(given, token)) {
        ctx.header("WWW-Authenticate", 'Bearer realm="netstack"');
        throw new ApiError(401, "a valid bearer token is required for this call", "authorization");
      }
    }
    await next();
  });
  const limit = (max: number) =>
    bodyLimit({
      maxSize: max,
      onError: () => {
        throw new ApiError(413, `request body is larger than ${max} bytes`, "body");
      },
    });
  app.use("/v1/diagnostics/tcp-connect", limit(Math.max(maxBodyBytes, 32 << 20)));
  app.use("/v1/*", async (ctx, next) => {
    if (new URL(ctx.req.url).pathname === "/v1/diagnostics/tcp-connect") return next();
    return limit(maxBodyBytes)(ctx, next);
  });

  // ---- health ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/health",
      summary: "Ready check",
      responses: { 200: json(S.ErrorBody.pick({}).extend({}).passthrough(), "Ready") },
    }),
    (ctx) => ctx.json({ status: "ok", version: c.version }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/version",
      summary: "Version",
      responses: { 200: json(S.ErrorBody.pick({}).passthrough(), "Version") },
    }),
    (ctx) => ctx.json({ version: c.version }, 200),
  );

  // ---- NICs ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/nics",
      summary: "List NICs",
      responses: { 200: json(S.Nic.array(), "NICs"), ...errors },
    }),
    (ctx) => ctx.json(c.listNics(), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nics",
      summary: "Create a TUN or TAP NIC",
      request: body(S.NicCreate),
      responses: { 201: json(S.Nic, "Created"), ...errors },
    }),
    (ctx) => {
      const b = ctx.req.valid("json");
      return ctx.json(
        c.createNic({
          name: b.name,
          kind: b.kind,
          ...(b.mtu !== undefined ? { mtu: b.mtu } : {}),
          ...(b.mac !== undefined ? { mac: b.mac } : {}),
          ...(b.offload !== undefined ? { offload: b.offload } : {}),
          ...(b.hostAddresses !== undefined ? { hostAddresses: b.hostAddresses } : {}),
        }),
        201,
      );
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/nics/{name}",
      summary: "One NIC with its counters",
      request: { params: S.NicName },
      responses: { 200: json(S.Nic, "NIC"), ...errors },
    }),
    (ctx) => {
      const { name } = ctx.req.valid("param");
      const nic = c.listNics().find((n) => n.name === name);
      if (!nic) throw new ApiError(404, `no NIC named ${name}`, "name");
      return ctx.json(nic, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/nics/{name}/stats",
      summary: "Counters of one NIC",
      request: { params: S.NicName },
      responses: { 200: json(S.Nic.shape.stats, "Counters"), ...errors },
    }),
    (ctx) => {
      const { name } = ctx.req.valid("param");
      const nic = c.listNics().find((n) => n.name === name);
      if (!nic) throw new ApiError(404, `no NIC named ${name}`, "name");
      return ctx.json(nic.stats, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/nics/{name}",
      summary: "Enable or disable a NIC",
      request: { params: S.NicName, ...body(S.NicPatch) },
      responses: { 200: json(S.Nic, "NIC"), ...errors },
    }),
    (ctx) => ctx.json(c.setNicEnabled(ctx.req.valid("param").name, ctx.req.valid("json").enabled), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/nics/{name}",
      summary: "Remove a NIC with its addresses and routes",
      request: { params: S.NicName },
      responses: { 204: { description: "Removed" }, ...errors },
    }),
    (ctx) => {
      c.deleteNic(ctx.req.valid("param").name);
      return ctx.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nics/{name}/addresses",
      summary: "Add an address (CIDR) to a NIC",
      request: { params: S.NicName, ...body(S.AddressCreate) },
      responses: { 201: json(S.AddressCreate.extend({ nic: S.NicName.shape.name }), "Added"), ...errors },
    }),
    (ctx) => ctx.json(c.addAddress(ctx.req.valid("param").name, ctx.req.valid("json").address), 201),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/nics/{name}/addresses/{address}",
      summary: "Remove an address (URL-encode the /)",
      request: { params: S.AddressParams },
      responses: { 204: { description: "Removed" }, ...errors },
    }),
    (ctx) => {
      const p = ctx.req.valid("param");
      c.removeAddress(p.name, decodeURIComponent(p.address));
      return ctx.body(null, 204);
    },
  );

  // ---- routes ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/routes",
      summary: "The route table",
      responses: { 200: json(S.Route.array(), "Routes"), ...errors },
    }),
    (ctx) => ctx.json(c.listRoutes(), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/routes",
      summary: "Add a route",
      request: body(S.RouteCreate),
      responses: { 201: json(S.Route, "Added"), ...errors },
    }),
    (ctx) => ctx.json(c.addRoute(stripUndefined(ctx.req.valid("json"))), 201),
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/routes",
      summary: "Replace every REST-added route",
      request: body(S.RouteCreate.array().max(4096)),
      responses: { 200: json(S.Route.array(), "The new table"), ...errors },
    }),
    (ctx) => ctx.json(c.replaceRoutes(ctx.req.valid("json").map(stripUndefined)), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/routes/{id}",
      summary: "Remove a REST-added route",
      request: { params: S.IdParam },
      responses: { 204: { description: "Removed" }, ...errors },
    }),
    (ctx) => {
      c.removeRoute(ctx.req.valid("param").id);
      return ctx.body(null, 204);
    },
  );

  // ---- services ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/services",
      summary: "Diagnostic services",
      responses: { 200: json(S.Service.array(), "Services"), ...errors },
    }),
    (ctx) => ctx.json(c.listServices(), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/services",
      summary: "Start a service (stored)",
      request: body(S.ServiceCreate),
      responses: { 201: json(S.Service, "Started"), ...errors },
    }),
    async (ctx) => {
      const b = ctx.req.valid("json");
      if ((b.kind === "chargen" || b.kind === "http") && b.protocol === "udp")
        throw new ApiError(400, `${b.kind} runs over tcp only`, "protocol");
      if (b.keepalive && b.protocol !== "tcp")
        throw new ApiError(400, "keepalive applies to tcp services only", "keepalive");
      const spec: ServiceSpec = { kind: b.kind, protocol: b.protocol, port: b.port ?? SERVICE_PORTS[b.kind] };
      if (b.keepalive) spec.keepalive = b.keepalive;
      return ctx.json(await c.addService(spec), 201);
    },
  );
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/services/{id}",
      summary: "Enable or disable a service",
      request: { params: S.IdParam, ...body(S.ServicePatch) },
      responses: { 200: json(S.Service, "Service"), ...errors },
    }),
    async (ctx) =>
      ctx.json(await c.setServiceEnabled(ctx.req.valid("param").id, ctx.req.valid("json").enabled), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/services/{id}",
      summary: "Stop and forget a service",
      request: { params: S.IdParam },
      responses: { 204: { description: "Removed" }, ...errors },
    }),
    async (ctx) => {
      await c.removeService(ctx.req.valid("param").id);
      return ctx.body(null, 204);
    },
  );

  // ---- diagnostics ----
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/diagnostics/tcp-connect",
      summary: "Connect from the user-space stack, send bytes, hold, close",
      request: body(S.TcpConnect),
      responses: {
        200: json(S.TcpConnectResult, "Result"),
        202: json(S.ErrorBody.pick({}).passthrough(), "Started (wait: false)"),
        ...errors,
      },
    }),
    async (ctx) => {
      const b = ctx.req.valid("json");
      const send = b.sendBase64 ? new Uint8Array(Buffer.from(b.sendBase64, "base64")) : new Uint8Array(0);
      const run = c.tcpConnect({ address: b.address, port: b.port, send, holdMs: b.holdMs, wait: b.wait });
      if (!b.wait) {
        run.catch(() => {});
        return ctx.json({ accepted: true }, 202);
      }
      return ctx.json(await run, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/diagnostics/ping",
      summary: "ICMP echo from the user-space stack",
      request: body(S.Ping),
      responses: { 200: json(S.PingResult, "Result"), ...errors },
    }),
    async (ctx) => ctx.json(await c.ping(ctx.req.valid("json")), 200),
  );

  // ---- stats ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/stats",
      summary: "Every counter now",
      responses: { 200: json(S.ErrorBody.pick({}).passthrough(), "Counters"), ...errors },
    }),
    (ctx) => ctx.json(c.stats() as Record<string, unknown>, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/stats/history",
      summary: "Stored samples of one counter; with step, the last value in each step",
      request: { query: S.HistoryQuery },
      responses: { 200: json(S.Sample.array(), "Samples"), ...errors },
    }),
    (ctx) => {
      const q = ctx.req.valid("query");
      const to = q.to ?? Date.now();
      const from = q.from ?? 0;
      if (from > to) throw new ApiError(400, "from must not be after to", "from");
      return ctx.json(c.statsHistory({ scope: q.scope, name: q.name, from, to, stepMs: q.step ?? 0 }), 200);
    },
  );

  // ---- endpoints (like ss) ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/endpoints",
      summary: "Every socket of the stack",
      responses: { 200: json(S.EndpointRow.array(), "Endpoints"), ...errors },
    }),
    (ctx) => ctx.json(c.listEndpoints() as z.infer<typeof S.EndpointRow>[], 200),
  );

  // ---- conntrack ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/conntrack",
      summary: "Tracked flows",
      request: { query: S.FlowQuery },
      responses: { 200: json(S.Flow.array(), "Flows"), ...errors },
    }),
    (ctx) => ctx.json(c.conntrack(stripUndefined(ctx.req.valid("query"))), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/conntrack/snapshots",
      summary: "Store a snapshot now",
      responses: { 201: json(S.Snapshot.omit({ reason: true }), "Stored"), ...errors },
    }),
    (ctx) => ctx.json(c.takeConntrackSnapshot("manual"), 201),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/conntrack/snapshots",
      summary: "Stored snapshots",
      responses: { 200: json(S.Snapshot.array(), "Snapshots"), ...errors },
    }),
    (ctx) => ctx.json(c.listConntrackSnapshots(), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/conntrack/snapshots/{id}",
      summary: "One snapshot with its flows",
      request: { params: S.IdParam },
      responses: {
        200: json(S.Snapshot.omit({ flowCount: true }).extend({ flows: S.Flow.array() }), "Snapshot"),
        ...errors,
      },
    }),
    (ctx) => {
      const id = ctx.req.valid("param").id;
      const s = c.conntrackSnapshot(id);
      if (!s) throw new ApiError(404, `no snapshot ${id}`, "id");
      return ctx.json(s, 200);
    },
  );

  // ---- captures ----
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/captures",
      summary: "Captures",
      responses: { 200: json(S.Capture.array(), "Captures"), ...errors },
    }),
    (ctx) => ctx.json(c.listCaptures(), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/captures",
      summary: "Start capturing a NIC's packets (filter: tcp|udp|icmp|arp, host A, port N, joined by and)",
      request: body(S.CaptureCreate),
      responses: { 201: json(S.Capture, "Started"), ...errors },
    }),
    (ctx) => {
      const b = ctx.req.valid("json");
      return ctx.json(c.startCapture(b.nic, b.filter), 201);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/captures/{id}",
      summary: "Stop a capture (its pcap stays downloadable)",
      request: { params: S.IdParam },
      responses: { 200: json(S.Capture, "Stopped"), ...errors },
    }),
    (ctx) => ctx.json(c.stopCapture(ctx.req.valid("param").id), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/captures/{id}/pcap",
      summary: "Download the capture as a pcap file",
      request: { params: S.IdParam },
      responses: {
        200: {
          content: { "application/vnd.tcpdump.pcap": { schema: { type: "string", format: "binary" } } },
          description: "pcap",
        },
        ...errors,
      },
    }),
    (ctx) => {
      const bytes = c.capturePcap(ctx.req.valid("param").id);
      return new Response(bytes, { headers: { "content-type": "application/vnd.tcpdump.pcap" } }) as never;
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/captures/{id}/stream",
      summary: "Live pcap stream (curl -N ... | wireshark -k -i -)",
      request: { params: S.IdParam },
      responses: {
        200: {
          content: { "application/vnd.tcpdump.pcap": { schema: { type: "string", format: "binary" } } },
          description: "pcap stream",
        },
        ...errors,
      },
    }),
    (ctx) => {
      const stream = c.captureStream(ctx.req.valid("param").id, ctx.req.raw.signal);
      return new Response(stream, {
        headers: { "content-type": "application/vnd.tcpdump.pcap", "cache-control": "no-store" },
      }) as never;
    },
  );

  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "netstack", version: c.version, description: "REST API of the netstack appliance" },
  });
  return app;
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

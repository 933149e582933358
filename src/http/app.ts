/**
 * The REST API (DESIGN.md "Contract"). Reads are open on the bound address
 * (127.0.0.1 by default); every call that changes state needs
 * `Authorization: Bearer <token>`. Errors are JSON `{ "error": ..., "field": ... }`
 * mapped in one `onError`.
 */
import { Hono } from "hono";
import { ApiError, type Controller, type ServiceSpec } from "./controller.ts";
import {
  asObject,
  base64Bytes,
  type Json,
  oneOf,
  optBool,
  optInt,
  optString,
  rejectUnknown,
  reqInt,
  reqString,
} from "./validate.ts";

export interface AppOptions {
  controller: Controller;
  token: string;
}

const SERVICE_KINDS = ["echo", "discard", "chargen", "http"] as const;

/** Constant-time comparison so the token cannot be guessed byte by byte from timing. */
function tokenMatches(given: string, want: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(want);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ b[i]!;
  return diff === 0 && want.length > 0;
}

async function jsonBody(req: Request): Promise<Json> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new ApiError(400, "request body must be valid JSON", "body");
  }
  return asObject(body);
}

function idParam(v: string | undefined): number {
  const n = Number(v);
  if (!v || !/^[0-9]{1,15}$/.test(v) || !Number.isSafeInteger(n))
    throw new ApiError(400, "id must be a positive integer", "id");
  return n;
}

export function createApp({ controller: c, token }: AppOptions): Hono {
  const app = new Hono();

  app.onError((err, ctx) => {
    if (err instanceof ApiError) {
      return ctx.json({ error: err.message, ...(err.field ? { field: err.field } : {}) }, err.status);
    }
    return ctx.json({ error: err instanceof Error ? err.message : String(err) }, 500);
  });
  app.notFound((ctx) =>
    ctx.json({ error: `no route for ${ctx.req.method} ${new URL(ctx.req.url).pathname}` }, 404),
  );

  // Any state change needs the bearer token.
  app.use("*", async (ctx, next) => {
    const m = ctx.req.method;
    if (m !== "GET" && m !== "HEAD" && m !== "OPTIONS") {
      const h = ctx.req.header("authorization") ?? "";
      const given = h.startsWith("Bearer ") ? h.slice(7).trim() : "";
      if (!tokenMatches(given, token)) {
        ctx.header("WWW-Authenticate", 'Bearer realm="netstack"');
        throw new ApiError(401, "a valid bearer token is required for this call", "authorization");
      }
    }
    await next();
  });

  app.get("/v1/health", (ctx) => ctx.json({ status: "ok", version: c.version }));
  app.get("/v1/version", (ctx) => ctx.json({ version: c.version }));

  app.get("/v1/nics", (ctx) => ctx.json(c.listNics()));
  app.get("/v1/nics/:name", (ctx) => {
    const nic = c.listNics().find((n) => n.name === ctx.req.param("name"));
    if (!nic) throw new ApiError(404, `no NIC named ${ctx.req.param("name")}`, "name");
    return ctx.json(nic);
  });
  app.post("/v1/nics/:name/addresses", async (ctx) => {
    const body = await jsonBody(ctx.req.raw);
    rejectUnknown(body, ["address"]);
    const address = reqString(body, "address", 64);
    return ctx.json(c.addAddress(ctx.req.param("name"), address), 201);
  });
  app.delete("/v1/nics/:name/addresses/:address{.+}", (ctx) => {
    c.removeAddress(ctx.req.param("name"), decodeURIComponent(ctx.req.param("address")));
    return ctx.body(null, 204);
  });

  app.get("/v1/routes", (ctx) => ctx.json(c.listRoutes()));
  app.post("/v1/routes", async (ctx) => {
    const body = await jsonBody(ctx.req.raw);
    rejectUnknown(body, ["destination", "gateway", "nic", "metric"]);
    const destination = reqString(body, "destination", 64);
    const gateway = optString(body, "gateway", 64);
    const nic = reqString(body, "nic", 15);
    const metric = optInt(body, "metric", 0, 2 ** 31 - 1);
    return ctx.json(
      c.addRoute({
        destination,
        nic,
        ...(gateway !== undefined ? { gateway } : {}),
        ...(metric !== undefined ? { metric } : {}),
      }),
      201,
    );
  });
  app.delete("/v1/routes/:id", (ctx) => {
    c.removeRoute(idParam(ctx.req.param("id")));
    return ctx.body(null, 204);
  });

  app.get("/v1/services", (ctx) => ctx.json(c.listServices()));
  app.post("/v1/services", async (ctx) => {
    const body = await jsonBody(ctx.req.raw);
    rejectUnknown(body, ["kind", "protocol", "port", "keepalive"]);
    const kind = oneOf(body, "kind", SERVICE_KINDS);
    const protocol = oneOf(body, "protocol", ["tcp", "udp"] as const, "tcp");
    const defaults = { echo: 7, discard: 9, chargen: 19, http: 80 } as const;
    const port = body.port === undefined ? defaults[kind] : reqInt(body, "port", 1, 65535);
    if ((kind === "chargen" || kind === "http") && protocol === "udp") {
      throw new ApiError(400, `${kind} runs over tcp only`, "protocol");
    }
    const spec: ServiceSpec = { kind, protocol, port };
    if (body.keepalive !== undefined && body.keepalive !== null) {
      if (protocol !== "tcp") throw new ApiError(400, "keepalive applies to tcp services only", "keepalive");
      const k = asObjectField(body.keepalive, "keepalive");
      rejectUnknownPrefixed(k, ["idleMs", "intervalMs", "count"], "keepalive");
      spec.keepalive = {
        idleMs: prefixed(() => reqInt(k, "idleMs", 1, 86_400_000), "keepalive"),
        intervalMs: prefixed(() => reqInt(k, "intervalMs", 1, 86_400_000), "keepalive"),
        count: prefixed(() => reqInt(k, "count", 1, 1000), "keepalive"),
      };
    }
    return ctx.json(await c.addService(spec), 201);
  });
  app.delete("/v1/services/:id", (ctx) => {
    c.removeService(idParam(ctx.req.param("id")));
    return ctx.body(null, 204);
  });

  app.post("/v1/diagnostics/tcp-connect", async (ctx) => {
    const body = await jsonBody(ctx.req.raw);
    rejectUnknown(body, ["address", "port", "sendBase64", "holdMs", "wait"]);
    const address = reqString(body, "address", 64);
    const port = reqInt(body, "port", 1, 65535);
    const send = base64Bytes(body, "sendBase64", 16 * 1024 * 1024);
    const holdMs = optInt(body, "holdMs", 0, 3_600_000) ?? 0;
    const wait = optBool(body, "wait") ?? true;
    const run = c.tcpConnect({ address, port, send, holdMs, wait });
    if (!wait) {
      run.catch(() => {});
      return ctx.json({ accepted: true }, 202);
    }
    return ctx.json(await run);
  });

  app.get("/v1/stats", (ctx) => ctx.json(c.stats()));
  app.get("/v1/stats/series", (ctx) => {
    const name = ctx.req.query("name");
    if (!name) throw new ApiError(400, "name is required", "name");
    const since = Number(ctx.req.query("since") ?? 0);
    if (!Number.isFinite(since))
      throw new ApiError(400, "since must be a number (ms since the epoch)", "since");
    return ctx.json(c.statsSeries(ctx.req.query("scope") ?? "", name, since));
  });

  app.get("/v1/conntrack", (ctx) => ctx.json(c.conntrack()));
  app.post("/v1/conntrack/snapshots", (ctx) => ctx.json(c.takeConntrackSnapshot("manual"), 201));
  app.get("/v1/conntrack/snapshots", (ctx) => ctx.json(c.listConntrackSnapshots()));
  app.get("/v1/conntrack/snapshots/:id", (ctx) => {
    const s = c.conntrackSnapshot(idParam(ctx.req.param("id")));
    if (!s) throw new ApiError(404, `no snapshot ${ctx.req.param("id")}`, "id");
    return ctx.json(s);
  });

  return app;
}

function asObjectField(v: unknown, field: string): Json {
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw new ApiError(400, `${field} must be an object`, field);
  return v as Json;
}

function rejectUnknownPrefixed(o: Json, allowed: readonly string[], prefix: string): void {
  prefixed(() => rejectUnknown(o, allowed), prefix);
}

/** Re-raises a validation error with the field path `prefix.field`. */
function prefixed<T>(fn: () => T, prefix: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ApiError && e.field)
      throw new ApiError(e.status, `${prefix}.${e.message}`, `${prefix}.${e.field}`);
    throw e;
  }
}

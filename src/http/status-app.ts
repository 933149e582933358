/**
 * The `http` diagnostic service: a status page served by the user-space stack
 * itself (reachable with `curl http://198.18.0.2/` from the kernel side).
 */
import { Hono } from "hono";

export interface StatusSource {
  version: string;
  startedAt: number;
  now(): number;
  nics(): { name: string; addresses: string[]; mtu: number }[];
  counters(): Record<string, number>;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function createStatusApp(src: StatusSource): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const nics = src.nics();
    const counters = src.counters();
    const uptime = Math.round((src.now() - src.startedAt) / 1000);
    const client = c.req.header("x-netstack-peer") ?? "";
    const rows = Object.entries(counters)
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`)
      .join("");
    return c.html(
      `<!doctype html><html><head><title>netstack</title></head><body>` +
        `<h1>netstack ${esc(src.version)}</h1><p>Served by the user-space TCP/IP stack. Up ${uptime} s.${client ? ` You are ${esc(client)}.` : ""}</p>` +
        `<h2>NICs</h2><ul>${nics.map((n) => `<li>${esc(n.name)} mtu ${n.mtu}: ${n.addresses.map(esc).join(", ")}</li>`).join("")}</ul>` +
        `<h2>Counters</h2><table>${rows}</table></body></html>\n`,
    );
  });
  app.get("/status.json", (c) =>
    c.json({
      version: src.version,
      uptimeMs: src.now() - src.startedAt,
      nics: src.nics(),
      counters: src.counters(),
    }),
  );
  app.post(
    "/echo",
    async (c) =>
      new Response(await c.req.arrayBuffer(), { headers: { "content-type": "application/octet-stream" } }),
  );
  app.get("/bytes/:n", (c) => {
    const n = Number(c.req.param("n"));
    if (!Number.isInteger(n) || n < 0 || n > 1 << 30)
      return c.json({ error: "n must be 0..1073741824", field: "n" }, 400);
    // Stream the body so a large download does not sit in memory.
    let left = n;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (left <= 0) {
          ctl.close();
          return;
        }
        const k = Math.min(left, chunk.length);
        left -= k;
        ctl.enqueue(k === chunk.length ? chunk : chunk.subarray(0, k));
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/octet-stream", "content-length": String(n) },
    });
  });
  return app;
}

import { expect, test } from "bun:test";
import { createStatusApp } from "./status-app.ts";

const app = createStatusApp({
  version: "1.2.3",
  startedAt: 1000,
  now: () => 6000,
  nics: () => [{ name: "tun0", addresses: ["198.18.0.2/24"], mtu: 1500 }],
  counters: () => ({ "ip.packetsReceived": 7, "tcp.resetsSent": 0 }),
});

test("the status page names the stack, its NICs and non-zero counters", async () => {
  const r = await app.request("/");
  expect(r.status).toBe(200);
  const html = await r.text();
  expect(html).toContain("netstack 1.2.3");
  expect(html).toContain("Up 5 s");
  expect(html).toContain("tun0 mtu 1500: 198.18.0.2/24");
  expect(html).toContain("<td>ip.packetsReceived</td><td>7</td>");
  expect(html).not.toContain("tcp.resetsSent");
});

test("status.json, echo and streamed bytes", async () => {
  expect(await (await app.request("/status.json")).json()).toMatchObject({
    version: "1.2.3",
    uptimeMs: 5000,
  });
  const e = await app.request("/echo", { method: "POST", body: "ping" });
  expect(await e.text()).toBe("ping");
  const b = await app.request("/bytes/200000");
  expect(b.headers.get("content-length")).toBe("200000");
  expect((await b.arrayBuffer()).byteLength).toBe(200000);
  expect((await app.request("/bytes/-1")).status).toBe(400);
});

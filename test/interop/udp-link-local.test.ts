/**
 * The UDP echo service answers a sender on the stack's IPv6 link-local
 * address: the reply keeps the NIC the request came in on (`from.nic`), since
 * a link-local destination has no route without it (RFC 4291 §2.5.6).
 */
import { afterAll, expect, test } from "bun:test";
import { closeAll, openLink, reachable } from "./harness.ts";

afterAll(() => closeAll());

test("the UDP echo service answers on the stack's link-local address", async () => {
  const link = await openLink({ mode: "tap" });
  await link.driver.cmd("service", { kind: "echo", protocol: "udp", port: 7 });
  await link.driver.cmd("udpEchoScoped", { port: 8 });
  await reachable(link, link.stack6);
  const m = String(link.driver.ready?.mac)
    .split(":")
    .map((x) => Number.parseInt(x, 16));
  const b = [m[0]! ^ 2, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!];
  const g = (i: number) => ((b[i]! << 8) | b[i + 1]!).toString(16);
  const ll = `fe80::${g(0)}:${g(2)}:${g(4)}:${g(6)}%${link.dev}`;
  // Control: an echo that keeps the NIC answers.
  const scoped = await link.run(["socat", "-t", "1", "-", `UDP6:[${ll}]:8`], { stdin: "scoped\n" });
  expect(scoped.stdout).toBe("scoped\n");
  const r = await link.run(["socat", "-t", "1", "-", `UDP6:[${ll}]:7`], { stdin: "service\n" });
  expect(r.stdout).toBe("service\n");
}, 30_000);

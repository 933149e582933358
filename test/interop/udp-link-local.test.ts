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
  // UDP has no retransmission: the first datagram may wait for neighbour
  // discovery of the kernel's link-local address on a loaded machine, so allow
  // a few tries (each one a fresh datagram), as a user of UDP would.
  const echo = async (port: number, text: string) => {
    let out = "";
    for (let i = 0; i < 3 && out !== text; i++)
      out = (await link.run(["socat", "-t", "2", "-", `UDP6:[${ll}]:${port}`], { stdin: text })).stdout;
    return out;
  };
  // Control: an echo that keeps the NIC answers.
  expect(await echo(8, "scoped\n")).toBe("scoped\n");
  expect(await echo(7, "service\n")).toBe("service\n");
}, 30_000);

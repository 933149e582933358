/**
 * IPv4 TCP segments from the stack carry DF, so path MTU discovery works
 * (RFC 1191 §3; Linux sets DF on TCP by default): a router with a smaller MTU
 * answers "fragmentation needed" instead of fragmenting.
 */
import { afterAll, expect, test } from "bun:test";
import { closeAll, openLink } from "./harness.ts";

afterAll(() => closeAll());

test("IPv4 TCP segments from the stack carry DF (RFC 1191 §3)", async () => {
  const link = await openLink({ mode: "tun" });
  await link.driver.cmd("source", { port: 1919, bytes: 100_000, seed: 1 });
  const cap = link.spawn([
    "timeout",
    "5",
    "tcpdump",
    "-l",
    "-nn",
    "-v",
    "-c",
    "4",
    "-i",
    link.dev,
    "src",
    link.stack4,
  ]);
  await Bun.sleep(500);
  await link.run(["sh", "-c", `socat -u TCP4:${link.stack4}:1919 STDOUT > /dev/null`]);
  await cap.proc.exited;
  const headers = cap
    .stdout()
    .split("\n")
    .filter((l) => l.includes("proto TCP"));
  expect(headers.length).toBeGreaterThan(0);
  for (const h of headers) expect(h).toContain("flags [DF]");
}, 30_000);

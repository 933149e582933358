/**
 * ICMP echo between the Linux kernel and the user-space stack, both ways, both
 * families (RFC 792, RFC 4443 §4): over TUN with ordinary and 8000-byte
 * payloads (fragmented and reassembled both ways at MTU 1500, RFC 791 §3.2 /
 * RFC 8200 §4.5), and over TAP where the two sides first find each other by
 * ARP (RFC 826) and NDP (RFC 4861 §7): the stack resolves the kernel, and the
 * kernel's neighbour table shows the stack's MAC.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until } from "../netns.ts";
import { canNetns, closeAll, type Link, openLink, reachable } from "./harness.ts";

interface PingResult {
  transmitted: number;
  received: number;
  replyBytes: number;
  errors: string[];
}

/** The EUI-64 link-local address of a MAC (RFC 4291 Appendix A). */
function linkLocal(mac: string): string {
  const m = mac.split(":").map((x) => Number.parseInt(x, 16));
  const b = [m[0]! ^ 2, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!];
  const g = (i: number) => ((b[i]! << 8) | b[i + 1]!).toString(16);
  return `fe80::${g(0)}:${g(2)}:${g(4)}:${g(6)}`;
}

interface Stats {
  fragments: { reassembled: number; fragmentsSent: number };
  arp: { requestsSent: number; repliesReceived: number };
}

describe.skipIf(!canNetns)("ping over TUN", () => {
  let link: Link;
  beforeAll(async () => {
    link = await openLink({ mode: "tun" });
    await reachable(link, link.stack4);
    await reachable(link, link.stack6);
  }, 40_000);
  afterAll(() => closeAll());

  test("IP options: the stack records its route and timestamps in the kernel's echo (RFC 791 §3.1)", async () => {
    const rr = await link.run(["ping", "-R", "-c", "1", "-W", "2", link.stack4]);
    expect(rr.stdout).toContain("1 received");
    // RR: the kernel on the way out, the stack, then the kernel again on the way back.
    expect(rr.stdout).toMatch(new RegExp(`RR:\\s+${link.kernel4}\\s+${link.stack4}\\s+${link.kernel4}`));
    const ts = await link.run(["ping", "-T", "tsonly", "-c", "1", "-W", "2", link.stack4]);
    expect(ts.stdout).toContain("1 received");
    expect(ts.stdout).toMatch(/TS:\s+\d+ absolute\s+-?\d+/);
  });

  for (const family of ["IPv4", "IPv6"] as const) {
    const stack = () => (family === "IPv4" ? link.stack4 : link.stack6);
    const kernel = () => (family === "IPv4" ? link.kernel4 : link.kernel6);
    const flag = family === "IPv4" ? "-4" : "-6";

    test(`the kernel pings the stack (${family})`, async () => {
      const r = await link.run(["ping", flag, "-c", "3", "-i", "0.2", "-W", "2", stack()]);
      expect(r.stdout).toContain("3 received");
    });

    test(`the stack pings the kernel (${family})`, async () => {
      const r = await link.driver.cmd<PingResult>("ping", { to: kernel(), count: 3 });
      expect(r).toEqual({ transmitted: 3, received: 3, replyBytes: 64, errors: [] });
    });

    test(`8000-byte pings, fragmented both ways at MTU 1500 (${family})`, async () => {
      const before = (await link.driver.cmd<Stats>("stats")).fragments;
      const k = await link.run(["ping", flag, "-s", "8000", "-c", "2", "-i", "0.2", "-W", "2", stack()]);
      expect(k.stdout).toContain("2 received");
      expect(k.stdout).toContain("8008 bytes from");
      const s = await link.driver.cmd<PingResult>("ping", { to: kernel(), count: 2, size: 8000 });
      expect(s).toEqual({ transmitted: 2, received: 2, replyBytes: 8008, errors: [] });
      // 2 requests and 2 replies came in as fragments; 2 replies and 2 requests went out as 6 each.
      const after = (await link.driver.cmd<Stats>("stats")).fragments;
      expect(after.reassembled - before.reassembled).toBe(4);
      expect(after.fragmentsSent - before.fragmentsSent).toBe(4 * 6);
    });
  }
});

describe.skipIf(!canNetns)("the largest pings over TUN", () => {
  let link: Link;
  beforeAll(async () => {
    link = await openLink({ mode: "tun" });
    await reachable(link, link.stack6);
  }, 40_000);
  afterAll(() => closeAll());

  test("65507-byte IPv4 pings (a 65535-byte datagram in 45 fragments) and 65000-byte IPv6 pings, both ways", async () => {
    const k4 = await link.run(["ping", "-s", "65507", "-c", "2", "-i", "0.2", "-W", "3", link.stack4]);
    expect(k4.stdout).toContain("2 received");
    const k6 = await link.run(["ping", "-6", "-s", "65000", "-c", "2", "-i", "0.2", "-W", "3", link.stack6]);
    expect(k6.stdout).toContain("2 received");
    for (const to of [link.kernel4, link.kernel6]) {
      const s = await link.driver.cmd<PingResult>("ping", { to, count: 2, size: 65000, timeoutMs: 3000 });
      expect(s).toEqual({ transmitted: 2, received: 2, replyBytes: 65008, errors: [] });
    }
  });
});

describe.skipIf(!canNetns)("ARP and NDP over TAP", () => {
  let link: Link;
  let mac = "";
  beforeAll(async () => {
    link = await openLink({ mode: "tap" });
    mac = String(link.driver.ready?.mac).toLowerCase();
  }, 30_000);
  afterAll(() => closeAll());

  test("the stack resolves the kernel by ARP and pings it first (IPv4)", async () => {
    const r = await link.driver.cmd<PingResult>("ping", { to: link.kernel4, count: 2 });
    expect(r).toEqual({ transmitted: 2, received: 2, replyBytes: 64, errors: [] });
    const { arp } = await link.driver.cmd<Stats>("stats");
    expect(arp.requestsSent).toBeGreaterThanOrEqual(1);
    expect(arp.repliesReceived).toBeGreaterThanOrEqual(1);
  });

  test("the stack resolves the kernel by NDP and pings it first (IPv6)", async () => {
    // The stack's address is tentative until DAD is done (RFC 4862 §5.4): retry until it is usable.
    const r = await until(
      async () => {
        const p = await link.driver.cmd<PingResult>("ping", { to: link.kernel6, count: 1, timeoutMs: 1000 });
        return p.received === 1 ? p : undefined;
      },
      "a ping reply from the kernel over NDP",
      15_000,
    );
    expect(r.replyBytes).toBe(64);
  });

  test("the kernel pings the stack and its neighbour table holds the stack's MAC (IPv4 and IPv6)", async () => {
    const r4 = await link.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", link.stack4]);
    expect(r4.stdout).toContain("2 received");
    const r6 = await link.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", link.stack6]);
    expect(r6.stdout).toContain("2 received");
    const neigh = (await link.ns.sh(["ip", "neigh", "show", "dev", link.dev])).toLowerCase();
    for (const addr of [link.stack4, link.stack6]) {
      const line = neigh.split("\n").find((l) => l.startsWith(`${addr} `)) ?? "";
      expect(line).toContain(`lladdr ${mac}`);
      expect(line).toMatch(/reachable|stale|delay|probe/);
    }
  });

  test("the stack answers the kernel's ping to all-nodes ff02::1 (RFC 4443 §4.2)", async () => {
    const ll = linkLocal(mac);
    const r = await link.run(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", `ff02::1%${link.dev}`]);
    // The source follows the request's (RFC 6724): the link-local address, or the global one when the
    // kernel asked from its global address.
    const lines = r.stdout.split("\n").filter((l) => l.includes("bytes from"));
    expect(
      lines.some((l) => l.includes(`from ${ll}%${link.dev}:`) || l.includes(`from ${link.stack6}:`)),
    ).toBe(true);
  });

  test("link-local addresses (RFC 4291 §2.5.6): kernel ping and TCP echo to the stack's, the stack's ping to the kernel's", async () => {
    const ll = `${linkLocal(mac)}%${link.dev}`;
    // The first echo waits for neighbour discovery of a new address on a busy host: allow 3 tries.
    const p = await link.run(["ping", "-6", "-c", "3", "-i", "0.3", "-W", "2", ll]);
    expect(p.stdout).toMatch(/ [123] received/);
    await link.driver.cmd("service", { kind: "echo", protocol: "tcp", port: 7 });
    const t = await link.run(["nc", "-6", "-q", "2", "-w", "5", ll, "7"], { stdin: "over link-local\n" });
    expect(t.stdout).toBe("over link-local\n");
    const kernelLl = (await link.ns.sh(["ip", "-6", "addr", "show", "dev", link.dev, "scope", "link"])).match(
      /fe80::[0-9a-f:]+/,
    )?.[0];
    expect(kernelLl).toBeDefined();
    const s = await link.driver.cmd<PingResult>("ping", { to: kernelLl, count: 3, timeoutMs: 2000 });
    expect(s.received).toBeGreaterThanOrEqual(1);
    expect(s.replyBytes).toBe(64);
    expect(s.errors).toEqual([]);
  });

  test("DAD: an IPv6 address the kernel already holds is found duplicate and not taken (RFC 4862 §5.4.5)", async () => {
    const dup = link.stack6.replace(/::2$/, "::5");
    await link.ns.sh(["ip", "-6", "addr", "add", `${dup}/64`, "dev", link.dev, "nodad"]);
    await link.driver.cmd("addAddress", { address: `${dup}/64` });
    await until(
      async () => !(await link.driver.cmd<{ has: boolean }>("hasAddress", { address: dup })).has,
      "the duplicate address to be given up",
      10_000,
    );
    const st = await link.driver.cmd<{ icmp: { v6: { dadConflicts: number } } }>("stats");
    expect(st.icmp.v6.dadConflicts).toBe(1);
  });

  for (const family of ["IPv4", "IPv6"] as const) {
    test(`8000-byte pings over TAP both ways (${family})`, async () => {
      const [flag, stack, kernel] =
        family === "IPv4" ? ["-4", link.stack4, link.kernel4] : ["-6", link.stack6, link.kernel6];
      const k = await link.run(["ping", flag, "-s", "8000", "-c", "2", "-i", "0.2", "-W", "2", stack]);
      expect(k.stdout).toContain("2 received");
      const s = await link.driver.cmd<PingResult>("ping", { to: kernel, count: 2, size: 8000 });
      expect(s).toEqual({ transmitted: 2, received: 2, replyBytes: 8008, errors: [] });
    });
  }
});

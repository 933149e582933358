/**
 * ECN (RFC 3168) between the Linux kernel and the user-space stack over TUN:
 * a namespace whose kernel has net.ipv4.tcp_ecn=1 (request and accept) and a
 * stack with its `ecn` option at 1. Transfers both ways, IPv4 and IPv6, and
 * the stack's own connection to a kernel listener all negotiate ECN
 * (§6.1.1), arrive byte-exact, and the kernel counts ECT(0) packets from the
 * stack (IpExtInECT0Pkts: the stack's new data is ECN-capable, §6.1.2).
 * Then the driver's impaired link marks packets CE as a congested router
 * would, instead of dropping them: the kernel's data on the way in (the stack
 * echoes ECE, the kernel answers with CWR), and the stack's data on the way
 * out (the kernel echoes ECE, the stack reduces its window and sends CWR),
 * RFC 3168 §6.1.2–6.1.3.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { pattern, sha256 } from "./drivers/pattern.ts";
import {
  BUN,
  canNetns,
  closeAll,
  KERNEL_TCP_ECHO,
  KERNEL_TOOL,
  type Link,
  openLink,
  reachable,
} from "./harness.ts";

const SIZE = 2 << 20;
const SEED = 41;
const EXPECTED = sha256(pattern(SIZE, SEED));

interface Stats {
  tcp: Record<string, number>;
  impaired?: Record<string, number>;
}

/**
 * ECT(0) packets the kernel in the link's namespace received: IPv4 from /proc/net/netstat (IpExt
 * InECT0Pkts), IPv6 from /proc/net/snmp6 (Ip6InECT0Pkts).
 */
async function kernelEct0(link: Link): Promise<{ v4: number; v6: number }> {
  const netstat = (await link.run(["cat", "/proc/net/netstat"])).stdout.split("\n");
  const ipExt = netstat.filter((l) => l.startsWith("IpExt:"));
  const names = (ipExt[0] ?? "").split(/\s+/);
  const values = (ipExt[1] ?? "").split(/\s+/);
  const v4 = Number(values[names.indexOf("InECT0Pkts")] ?? 0);
  const snmp6 = (await link.run(["cat", "/proc/net/snmp6"])).stdout;
  const v6 = Number(/^Ip6InECT0Pkts\s+(\d+)/m.exec(snmp6)?.[1] ?? 0);
  return { v4, v6 };
}

/** Kernel → stack (sink) and stack (source) → kernel, `SIZE` bytes each, checked by SHA-256. */
async function bothWays(link: Link, stackAddr: string): Promise<void> {
  const up = await link.run([BUN, KERNEL_TOOL, "send", stackAddr, "9009", String(SIZE), String(SEED)], {
    timeoutMs: 60_000,
  });
  expect(JSON.parse(up.stdout.trim() || "{}")).toMatchObject({ reply: `${SIZE} ${EXPECTED}\n` });
  const target = stackAddr.includes(":") ? `TCP6:[${stackAddr}]:1919` : `TCP4:${stackAddr}:1919`;
  const down = await link.run(["sh", "-c", `socat -u ${target} STDOUT | sha256sum`], { timeoutMs: 60_000 });
  expect(down.stdout.split(" ")[0]).toBe(EXPECTED);
}

describe.skipIf(!canNetns)("ECN with the Linux kernel (net.ipv4.tcp_ecn=1)", () => {
  afterAll(() => closeAll());

  for (const offload of [false, true]) {
    test(`uploads and downloads (IPv4, IPv6) and the stack's own connection negotiate ECN; bytes exact; the kernel sees ECT(0) (${offload ? "offload" : "no offload"})`, async () => {
      // With offload the stack's data leaves as GSO super-segments, ECT(0) in the header every part repeats.
      const link = await openLink({ mode: "tun", ...(offload ? { offload: true } : {}) });
      try {
        // Per-namespace sysctl (it covers IPv6 TCP too): the kernel asks for ECN in its SYNs and accepts ours.
        await link.ns.sh(["sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"]);
        await link.driver.cmd("tcpOption", { name: "ecn", value: 1 });
        await link.driver.cmd("sink", { port: 9009 });
        await link.driver.cmd("source", { port: 1919, bytes: SIZE, seed: SEED });
        await reachable(link, link.stack4);
        await reachable(link, link.stack6);
        const before = await link.driver.cmd<Stats>("stats");
        const ectBefore = await kernelEct0(link);
        await bothWays(link, link.stack4);
        await bothWays(link, link.stack6);
        // The stack opens: its ECN-setup SYN to a kernel listener.
        const echo = link.spawn(["python3", KERNEL_TCP_ECHO, link.kernel4, "7007"]);
        for (let i = 0; i < 200 && !echo.stdout().includes("listening"); i++) await Bun.sleep(25);
        const r = await link.driver.cmd<{ bytes: number; sha256: string }>("connect", {
          host: link.kernel4,
          port: 7007,
          bytes: SIZE,
          seed: SEED,
        });
        expect(r).toMatchObject({ bytes: SIZE, sha256: EXPECTED });
        echo.proc.kill();
        const after = await link.driver.cmd<Stats>("stats");
        const ectAfter = await kernelEct0(link);
        const ect = { v4: ectAfter.v4 - ectBefore.v4, v6: ectAfter.v6 - ectBefore.v6 };
        const d = (k: string) => (after.tcp[k] ?? 0) - (before.tcp[k] ?? 0);
        console.log(
          `ECN interop (${offload ? "offload" : "no offload"}): negotiated ${d("ecnNegotiated")}, kernel ECT(0) packets in ${JSON.stringify(ect)}, stack ${JSON.stringify(
            {
              ce: d("ecnCeReceived"),
              ece: d("ecnEceReceived"),
              reductions: d("ecnCwndReductions"),
              cwrSent: d("ecnCwrSent"),
            },
          )}`,
        );
        // Two uploads, two downloads, one connection of the stack's own.
        expect(d("ecnNegotiated")).toBe(5);
        // The stack's data arrived ECN-capable: its IPv4 download and echo upload, its IPv6 download (about
        // 1,450 segments per 2 MB each; with offload the kernel counts each ~44 KB super-segment once).
        const per2MB = offload ? 20 : 1000;
        expect(ect.v4).toBeGreaterThan(2 * per2MB);
        expect(ect.v6).toBeGreaterThan(per2MB);
      } finally {
        await link.close();
      }
    }, 120_000);
  }

  test("the kernel's data marked CE on the way in (IPv4, IPv6): the stack echoes ECE and the kernel answers with CWR", async () => {
    const link = await openLink({ mode: "tun", impair: { ceIn: 0.02, seed: 3 } });
    try {
      await link.ns.sh(["sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"]);
      await link.driver.cmd("sink", { port: 9009 });
      await reachable(link, link.stack4);
      await reachable(link, link.stack6);
      for (const stackAddr of [link.stack4, link.stack6]) {
        const before = await link.driver.cmd<Stats>("stats");
        const up = await link.run([BUN, KERNEL_TOOL, "send", stackAddr, "9009", String(SIZE), String(SEED)], {
          timeoutMs: 60_000,
        });
        expect(JSON.parse(up.stdout.trim() || "{}")).toMatchObject({ reply: `${SIZE} ${EXPECTED}\n` });
        const after = await link.driver.cmd<Stats>("stats");
        const d = (k: string) => (after.tcp[k] ?? 0) - (before.tcp[k] ?? 0);
        const marked = (after.impaired?.ceMarkedIn ?? 0) - (before.impaired?.ceMarkedIn ?? 0);
        console.log(
          `ECN interop with CE marks (${stackAddr}): marked ${marked}, stack ${JSON.stringify({
            negotiated: d("ecnNegotiated"),
            ce: d("ecnCeReceived"),
            cwrReceived: d("ecnCwrReceived"),
          })}`,
        );
        expect(d("ecnNegotiated")).toBe(1);
        expect(marked).toBeGreaterThan(0);
        // The CE codepoint came up through the network layer with the segment (RFC 3168 §6.1.3).
        expect(d("ecnCeReceived")).toBeGreaterThan(0);
        // The kernel reduced its window and said so (RFC 3168 §6.1.2): CWR arrived.
        expect(d("ecnCwrReceived")).toBeGreaterThan(0);
      }
    } finally {
      await link.close();
    }
  }, 120_000);

  test("the stack's data marked CE on the way out: the kernel echoes ECE, the stack reduces once per window and sends CWR", async () => {
    const link = await openLink({ mode: "tun", impair: { ceOut: 0.02, seed: 5 } });
    try {
      await link.ns.sh(["sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"]);
      await link.driver.cmd("source", { port: 1919, bytes: SIZE, seed: SEED });
      await reachable(link, link.stack4);
      const before = await link.driver.cmd<Stats>("stats");
      const down = await link.run(["sh", "-c", `socat -u TCP4:${link.stack4}:1919 STDOUT | sha256sum`], {
        timeoutMs: 60_000,
      });
      expect(down.stdout.split(" ")[0]).toBe(EXPECTED);
      const after = await link.driver.cmd<Stats>("stats");
      const d = (k: string) => (after.tcp[k] ?? 0) - (before.tcp[k] ?? 0);
      const marked = (after.impaired?.ceMarkedOut ?? 0) - (before.impaired?.ceMarkedOut ?? 0);
      const counts = {
        marked,
        negotiated: d("ecnNegotiated"),
        eceReceived: d("ecnEceReceived"),
        reductions: d("ecnCwndReductions"),
        cwrSent: d("ecnCwrSent"),
        retransmits: d("retransmits"),
      };
      console.log(`ECN interop, stack's data CE-marked: ${JSON.stringify(counts)}`);
      expect(counts.negotiated).toBe(1);
      expect(marked).toBeGreaterThan(0);
      expect(counts.eceReceived).toBeGreaterThan(0);
      expect(counts.reductions).toBeGreaterThan(0);
      // At most one reduction per mark (once per window, RFC 3168 §6.1.2), and CWR after them.
      expect(counts.reductions).toBeLessThanOrEqual(marked);
      expect(counts.cwrSent).toBeGreaterThan(0);
    } finally {
      await link.close();
    }
  }, 120_000);
});

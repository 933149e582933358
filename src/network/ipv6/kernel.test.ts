/**
 * IPv6 against the Linux kernel over a TAP and a TUN device in a network
 * namespace made per run (root only; CI runs as root). The stack runs in a
 * child process under `ip netns exec` (a TUN belongs to the namespace of the
 * thread that opens it): see testing/kernel-helper.ts and
 * src/link/tun/testing/netns.ts.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { canRun, useTestNamespace } from "../../link/tun/testing/netns.ts";

const { helper } = useTestNamespace("ip6", join(import.meta.dir, "testing", "kernel-helper.ts"), {
  helperTimeoutMs: 40_000,
  setupTimeoutMs: 300_000,
});

const noLoss = (out: string) => / 0% packet loss/.test(out);

describe("IPv6 with the Linux kernel as peer", () => {
  test.skipIf(!canRun)(
    "TAP: DAD, NDP both ways, ping6 both ways (also 3000-byte fragmented), link-local, UDP fragments",
    async () => {
      const r = await helper("tap", "ns6tap0");
      expect(r.assigned).toBe(true);
      expect(r.linkLocal).toMatch(/^fe80::/);
      expect(noLoss(r.kernelPing.out)).toBe(true);
      expect(noLoss(r.bigPing.out)).toBe(true);
      expect(noLoss(r.llPing.out)).toBe(true);
      expect(r.reply?.[0]).toBe(129);
      expect(r.udpReceived).toBe(4000);
      // The kernel resolved us through our Neighbor Advertisements.
      expect(r.neigh).toMatch(/fd00:6::2 lladdr [0-9a-f:]+ /);
      expect(r.stats.fragments.reassembled).toBeGreaterThanOrEqual(2);
      expect(r.stats.fragments.fragmentsSent).toBeGreaterThanOrEqual(6);
      expect(r.stats.v6.neighborAdvert.sent).toBeGreaterThanOrEqual(1);
      expect(r.stats.v6.dadConflicts).toBe(0);
      expect(r.stats.v6.checksumErrors).toBe(0);
    },
    60_000,
  );

  test.skipIf(!canRun)(
    "TUN: no NDP, ping6 both ways, fragments",
    async () => {
      const r = await helper("tun", "ns6tun0");
      expect(r.assigned).toBe(true);
      expect(noLoss(r.kernelPing.out)).toBe(true);
      expect(noLoss(r.bigPing.out)).toBe(true);
      expect(r.reply?.[0]).toBe(129);
      expect(r.udpReceived).toBe(4000);
      expect(r.stats.v6.neighborSolicit.sent).toBe(0);
      expect(r.stats.v6.checksumErrors).toBe(0);
    },
    60_000,
  );
});

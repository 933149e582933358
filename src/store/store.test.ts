import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "./store.ts";

const dirs: string[] = [];
function tempDb(): string {
  const d = mkdtempSync(join(tmpdir(), "netstack-store-"));
  dirs.push(d);
  return join(d, "netstack.db");
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("Store", () => {
  test("configuration survives close and reopen (restart restores it exactly)", () => {
    const path = tempDb();
    const a = Store.open(path, () => 1000);
    a.upsertNic({ name: "tun0", kind: "tun", mtu: 1500 });
    a.addAddress("tun0", "198.18.0.2/24");
    a.addAddress("tun0", "fd00::2/64");
    const r = a.addRoute({ destination: "198.18.5.0/24", gateway: "198.18.0.1", nic: "tun0", metric: 5 });
    const s = a.addService({
      kind: "echo",
      protocol: "tcp",
      port: 7007,
      keepalive: { idleMs: 1000, intervalMs: 500, count: 3 },
    });
    a.setSetting("statsIntervalMs", "10000");
    a.close();

    const b = Store.open(path);
    expect(b.listNics()).toEqual([
      {
        name: "tun0",
        kind: "tun",
        mtu: 1500,
        mac: null,
        enabled: true,
        offload: false,
        hostAddresses: null,
        createdAt: 1000,
      },
    ]);
    expect(b.listAddresses("tun0").map((x) => x.address)).toEqual(["198.18.0.2/24", "fd00::2/64"]);
    expect(b.listRoutes()).toEqual([r]);
    expect(b.listServices()).toEqual([s]);
    expect(JSON.parse(b.listServices()[0]!.keepalive!)).toEqual({ idleMs: 1000, intervalMs: 500, count: 3 });
    expect(b.getSetting("statsIntervalMs")).toBe("10000");
    b.close();
  });

  test("migrations are idempotent across starts", () => {
    const path = tempDb();
    Store.open(path).close();
    const again = Store.open(path);
    expect(again.listRoutes()).toEqual([]);
    again.close();
  });

  test("NIC state, removal with its addresses and routes, atomic route replacement, service state", () => {
    const st = Store.open(":memory:");
    st.upsertNic({
      name: "tap1",
      kind: "tap",
      mac: "02:00:00:00:00:01",
      offload: true,
      hostAddresses: ["198.18.1.1/24"],
    });
    st.setNicEnabled("tap1", false);
    expect(st.listNics()[0]).toMatchObject({
      enabled: false,
      offload: true,
      hostAddresses: '["198.18.1.1/24"]',
    });
    st.addAddress("tap1", "198.18.1.2/24");
    st.addRoute({ destination: "198.19.0.0/16", nic: "tap1" });
    st.addRoute({ destination: "198.19.1.0/24", nic: "tun0" });
    st.removeNic("tap1");
    expect(st.listNics()).toEqual([]);
    expect(st.listAddresses()).toEqual([]);
    expect(st.listRoutes().map((r) => r.nic)).toEqual(["tun0"]);
    const rows = st.replaceRoutes([
      { destination: "198.19.2.0/24", nic: "tun0", gateway: "198.18.0.1" },
      { destination: "198.19.3.0/24", nic: "tun0", metric: 7 },
    ]);
    expect(st.listRoutes()).toEqual(rows);
    expect(rows.map((r) => r.metric)).toEqual([0, 7]);
    const svc = st.addService({ kind: "echo", protocol: "tcp", port: 7 });
    st.setServiceEnabled(svc.id, false);
    expect(st.listServices()[0]!.enabled).toBe(false);
    st.close();
  });

  test("removing rows reports whether they existed", () => {
    const st = Store.open(":memory:");
    st.addAddress("tun0", "198.18.0.2/24");
    expect(st.removeAddress("tun0", "198.18.0.2/24")).toBe(true);
    expect(st.removeAddress("tun0", "198.18.0.2/24")).toBe(false);
    const r = st.addRoute({ destination: "0.0.0.0/0", nic: "tun0" });
    expect(st.removeRoute(r.id)?.destination).toBe("0.0.0.0/0");
    expect(st.removeRoute(r.id)).toBeUndefined();
    const s = st.addService({ kind: "discard", protocol: "udp", port: 9 });
    expect(st.removeService(s.id)?.kind).toBe("discard");
    expect(() => {
      st.addService({ kind: "echo", protocol: "tcp", port: 7 });
      st.addService({ kind: "discard", protocol: "tcp", port: 7 });
    }).toThrow();
    st.close();
  });

  test("stats samples are stored, queried as series and pruned by age", () => {
    const st = Store.open(":memory:");
    const counters: Record<string, number> = {};
    for (let i = 0; i < 450; i++) counters[`c.${i}`] = i;
    st.insertStatsSample(100, "", counters);
    st.insertStatsSample(200, "", { ...counters, "c.7": 70 });
    st.insertStatsSample(200, "tun0", { "rx.packets": 3 });
    expect(st.statsSeries("", "c.7")).toEqual([
      { ts: 100, value: 7 },
      { ts: 200, value: 70 },
    ]);
    expect(st.statsSeries("tun0", "rx.packets", 150)).toEqual([{ ts: 200, value: 3 }]);
    expect(st.statsSeries("", "c.7", 0, 150)).toEqual([{ ts: 100, value: 7 }]);
    st.insertStatsSample(260, "", { "c.7": 90 });
    // Steps of 100 ms from 50: [50,150) has ts 100, [150,250) has 200, [250,350) has 260.
    expect(st.statsSeries("", "c.7", 50, 1000, 100)).toEqual([
      { ts: 50, value: 7 },
      { ts: 150, value: 70 },
      { ts: 250, value: 90 },
    ]);
    expect(st.pruneStats(150)).toBe(450);
    st.pruneStats(250);
    expect(st.statsSeries("", "c.7")).toEqual([{ ts: 260, value: 90 }]);
    st.close();
  });

  test("conntrack snapshots store a header row and one row per flow; pruning cascades", () => {
    const st = Store.open(":memory:", () => 5);
    const flow = {
      protocol: "tcp",
      origSrc: "198.18.0.1",
      origSrcPort: 40000,
      origDst: "198.18.0.2",
      origDstPort: 80,
      state: "ESTABLISHED",
      origPackets: 3,
      origBytes: 180,
      replyPackets: 2,
      replyBytes: 120,
      firstSeen: 1,
      lastSeen: 4,
    };
    const flows = Array.from({ length: 120 }, (_, i) => ({ ...flow, origSrcPort: 40000 + i }));
    const a = st.saveConntrackSnapshot("manual", flows);
    expect(a.flowCount).toBe(120);
    const got = st.conntrackSnapshot(a.id)!;
    expect(got.flows.length).toBe(120);
    expect(got.flows[5]).toMatchObject({ ...flow, origSrcPort: 40005, snapshotId: a.id });
    const b = st.saveConntrackSnapshot("periodic", [flow]);
    expect(st.listConntrackSnapshots().map((s) => s.id)).toEqual([b.id, a.id]);
    expect(st.pruneConntrackSnapshots(1)).toBe(1);
    expect(st.conntrackSnapshot(a.id)).toBeUndefined();
    expect(st.listConntrackSnapshots().length).toBe(1);
    st.close();
  });
});

/**
 * The SQLite schema, in TypeScript. `drizzle-kit generate` turns it into SQL
 * migrations under `migrations/`; `scripts/gen-migrations.ts` embeds them into
 * the executable.
 */
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Network interfaces the appliance attaches to (one TUN or TAP each). */
export const nics = sqliteTable("nics", {
  name: text("name").primaryKey(),
  kind: text("kind", { enum: ["tun", "tap"] }).notNull(),
  mtu: integer("mtu"),
  mac: text("mac"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  offload: integer("offload", { mode: "boolean" }).notNull().default(false),
  /** JSON list of CIDRs given to the kernel side when netstack created the device. */
  hostAddresses: text("host_addresses"),
  createdAt: integer("created_at").notNull(),
});

/** Addresses configured on NICs, as CIDR text ("198.18.0.2/24"). */
export const addresses = sqliteTable(
  "addresses",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    nic: text("nic").notNull(),
    address: text("address").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("addresses_nic_address").on(t.nic, t.address)],
);

export const routes = sqliteTable("routes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  destination: text("destination").notNull(),
  gateway: text("gateway"),
  nic: text("nic").notNull(),
  metric: integer("metric").notNull().default(0),
  createdAt: integer("created_at").notNull(),
});

/** Diagnostic services (echo, discard, chargen, http) on the user-space stack. */
export const services = sqliteTable(
  "services",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind").notNull(),
    protocol: text("protocol", { enum: ["tcp", "udp"] }).notNull(),
    port: integer("port").notNull(),
    /** JSON: {"idleMs":..,"intervalMs":..,"count":..} or null. */
    keepalive: text("keepalive"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("services_protocol_port").on(t.protocol, t.port)],
);

export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Counter samples: one row per counter per sample time. */
export const statsSamples = sqliteTable(
  "stats_samples",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    ts: integer("ts").notNull(),
    /** "" for stack-wide counters, else the NIC name. */
    scope: text("scope").notNull(),
    name: text("name").notNull(),
    value: real("value").notNull(),
  },
  (t) => [index("stats_samples_ts").on(t.ts), index("stats_samples_name_ts").on(t.scope, t.name, t.ts)],
);

export const conntrackSnapshots = sqliteTable("conntrack_snapshots", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  ts: integer("ts").notNull(),
  reason: text("reason").notNull(),
  flowCount: integer("flow_count").notNull(),
});

export const conntrackFlows = sqliteTable(
  "conntrack_flows",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    snapshotId: integer("snapshot_id")
      .notNull()
      .references(() => conntrackSnapshots.id, { onDelete: "cascade" }),
    protocol: text("protocol").notNull(),
    origSrc: text("orig_src").notNull(),
    origSrcPort: integer("orig_src_port").notNull(),
    origDst: text("orig_dst").notNull(),
    origDstPort: integer("orig_dst_port").notNull(),
    state: text("state").notNull(),
    origPackets: integer("orig_packets").notNull(),
    origBytes: integer("orig_bytes").notNull(),
    replyPackets: integer("reply_packets").notNull(),
    replyBytes: integer("reply_bytes").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
  },
  (t) => [index("conntrack_flows_snapshot").on(t.snapshotId)],
);

/**
 * Persistence: the whole configuration (NICs, addresses, routes, services,
 * settings), counter samples and conntrack snapshots in one SQLite file.
 * WAL mode, so a crash loses no committed configuration; every change is its
 * own transaction.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, asc, desc, eq, gte, lt, lte } from "drizzle-orm";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { embeddedMigrations } from "./migrations.gen.ts";
import * as schema from "./schema.ts";

export type NicRow = typeof schema.nics.$inferSelect;
export type AddressRow = typeof schema.addresses.$inferSelect;
export type RouteRow = typeof schema.routes.$inferSelect;
export type ServiceRow = typeof schema.services.$inferSelect;
export type SnapshotRow = typeof schema.conntrackSnapshots.$inferSelect;
export type FlowRow = typeof schema.conntrackFlows.$inferSelect;
export type NewFlow = Omit<typeof schema.conntrackFlows.$inferInsert, "id" | "snapshotId">;

export class Store {
  readonly db: BunSQLiteDatabase<typeof schema>;
  private readonly sqlite: Database;

  private constructor(
    readonly path: string,
    private readonly now: () => number,
  ) {
    this.sqlite = new Database(path, { create: true });
    this.sqlite.exec("PRAGMA journal_mode = WAL");
    this.sqlite.exec("PRAGMA synchronous = NORMAL");
    this.sqlite.exec("PRAGMA foreign_keys = ON");
    this.sqlite.exec("PRAGMA busy_timeout = 5000");
    this.db = drizzle({ client: this.sqlite, schema });
  }

  /** Opens (creating if missing) and migrates. `:memory:` works for tests. */
  static open(path: string, now: () => number = Date.now): Store {
    const s = new Store(path, now);
    s.migrate();
    return s;
  }

  /**
   * Applies the embedded migrations (idempotent). Stock `migrate()` reads a
   * folder, so the embedded copy is written to a private temp folder first.
   */
  private migrate(): void {
    const dir = mkdtempSync(join(tmpdir(), "netstack-mig-"));
    try {
      mkdirSync(join(dir, "meta"));
      writeFileSync(join(dir, "meta/_journal.json"), embeddedMigrations.journal);
      for (const [tag, sql] of Object.entries(embeddedMigrations.files))
        writeFileSync(join(dir, `${tag}.sql`), sql);
      migrate(this.db, { migrationsFolder: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  close(): void {
    try {
      this.sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {}
    this.sqlite.close();
  }

  // --- NICs ---

  upsertNic(nic: {
    name: string;
    kind: "tun" | "tap";
    mtu?: number | null;
    mac?: string | null;
    enabled?: boolean;
    offload?: boolean;
    hostAddresses?: string[] | null;
  }): NicRow {
    const set = {
      kind: nic.kind,
      mtu: nic.mtu ?? null,
      mac: nic.mac ?? null,
      enabled: nic.enabled ?? true,
      offload: nic.offload ?? false,
      hostAddresses: nic.hostAddresses ? JSON.stringify(nic.hostAddresses) : null,
    };
    this.db
      .insert(schema.nics)
      .values({ name: nic.name, createdAt: this.now(), ...set })
      .onConflictDoUpdate({ target: schema.nics.name, set })
      .run();
    return this.db.select().from(schema.nics).where(eq(schema.nics.name, nic.name)).get()!;
  }

  setNicEnabled(name: string, enabled: boolean): void {
    this.db.update(schema.nics).set({ enabled }).where(eq(schema.nics.name, name)).run();
  }

  /** Removes a NIC with its addresses and routes, in one transaction. */
  removeNic(name: string): void {
    this.db.transaction((tx) => {
      tx.delete(schema.addresses).where(eq(schema.addresses.nic, name)).run();
      tx.delete(schema.routes).where(eq(schema.routes.nic, name)).run();
      tx.delete(schema.nics).where(eq(schema.nics.name, name)).run();
    });
  }

  listNics(): NicRow[] {
    return this.db.select().from(schema.nics).orderBy(asc(schema.nics.name)).all();
  }

  // --- addresses ---

  addAddress(nic: string, address: string): AddressRow {
    return this.db
      .insert(schema.addresses)
      .values({ nic, address, createdAt: this.now() })
      .onConflictDoUpdate({ target: [schema.addresses.nic, schema.addresses.address], set: { nic } })
      .returning()
      .get();
  }

  removeAddress(nic: string, address: string): boolean {
    const r = this.db
      .delete(schema.addresses)
      .where(and(eq(schema.addresses.nic, nic), eq(schema.addresses.address, address)))
      .returning()
      .all();
    return r.length > 0;
  }

  listAddresses(nic?: string): AddressRow[] {
    const q = this.db.select().from(schema.addresses);
    return (nic ? q.where(eq(schema.addresses.nic, nic)) : q).orderBy(asc(schema.addresses.id)).all();
  }

  // --- routes ---

  addRoute(r: { destination: string; gateway?: string | null; nic: string; metric?: number }): RouteRow {
    return this.db
      .insert(schema.routes)
      .values({
        destination: r.destination,
        gateway: r.gateway ?? null,
        nic: r.nic,
        metric: r.metric ?? 0,
        createdAt: this.now(),
      })
      .returning()
      .get();
  }

  /** Replaces every stored route with `routes`, atomically; returns the new rows. */
  replaceRoutes(
    routes: { destination: string; gateway?: string | null; nic: string; metric?: number }[],
  ): RouteRow[] {
    return this.db.transaction((tx) => {
      tx.delete(schema.routes).run();
      return routes.map((r) =>
        tx
          .insert(schema.routes)
          .values({
            destination: r.destination,
            gateway: r.gateway ?? null,
            nic: r.nic,
            metric: r.metric ?? 0,
            createdAt: this.now(),
          })
          .returning()
          .get(),
      );
    });
  }

  removeRoute(id: number): RouteRow | undefined {
    return this.db.delete(schema.routes).where(eq(schema.routes.id, id)).returning().get();
  }

  listRoutes(): RouteRow[] {
    return this.db.select().from(schema.routes).orderBy(asc(schema.routes.id)).all();
  }

  // --- services ---

  addService(s: { kind: string; protocol: "tcp" | "udp"; port: number; keepalive?: unknown }): ServiceRow {
    return this.db
      .insert(schema.services)
      .values({
        kind: s.kind,
        protocol: s.protocol,
        port: s.port,
        keepalive: s.keepalive === undefined || s.keepalive === null ? null : JSON.stringify(s.keepalive),
        createdAt: this.now(),
      })
      .returning()
      .get();
  }

  setServiceEnabled(id: number, enabled: boolean): void {
    this.db.update(schema.services).set({ enabled }).where(eq(schema.services.id, id)).run();
  }

  removeService(id: number): ServiceRow | undefined {
    return this.db.delete(schema.services).where(eq(schema.services.id, id)).returning().get();
  }

  listServices(): ServiceRow[] {
    return this.db.select().from(schema.services).orderBy(asc(schema.services.id)).all();
  }

  // --- settings ---

  getSetting(key: string): string | undefined {
    return this.db.select().from(schema.settings).where(eq(schema.settings.key, key)).get()?.value;
  }

  setSetting(key: string, value: string): void {
    this.db
      .insert(schema.settings)
      .values({ key, value })
      .onConflictDoUpdate({ target: schema.settings.key, set: { value } })
      .run();
  }

  // --- stats ---

  /** Stores one sample of every counter in `counters` (flattened names) for `scope` ("" = stack-wide). */
  insertStatsSample(ts: number, scope: string, counters: Record<string, number>): void {
    const rows = Object.entries(counters).map(([name, value]) => ({ ts, scope, name, value }));
    if (rows.length === 0) return;
    this.db.transaction((tx) => {
      // SQLite limits bound parameters per statement; 4 columns × 200 rows stays well under it.
      for (let i = 0; i < rows.length; i += 200)
        tx.insert(schema.statsSamples)
          .values(rows.slice(i, i + 200))
          .run();
    });
  }

  /**
   * Samples of one counter in [from, to], oldest first. With `stepMs` > 0 the
   * range is cut into steps and each step gives its last sample (counters only
   * grow, so the last value is the step's reading), stamped with the step's start.
   */
  statsSeries(
    scope: string,
    name: string,
    from = 0,
    to = Number.MAX_SAFE_INTEGER,
    stepMs = 0,
  ): { ts: number; value: number }[] {
    const rows = this.db
      .select({ ts: schema.statsSamples.ts, value: schema.statsSamples.value })
      .from(schema.statsSamples)
      .where(
        and(
          eq(schema.statsSamples.scope, scope),
          eq(schema.statsSamples.name, name),
          gte(schema.statsSamples.ts, from),
          lte(schema.statsSamples.ts, to),
        ),
      )
      .orderBy(asc(schema.statsSamples.ts))
      .all();
    if (stepMs <= 0) return rows;
    const out: { ts: number; value: number }[] = [];
    for (const r of rows) {
      const bucket = from + Math.floor((r.ts - from) / stepMs) * stepMs;
      const last = out[out.length - 1];
      if (last && last.ts === bucket) last.value = r.value;
      else out.push({ ts: bucket, value: r.value });
    }
    return out;
  }

  /** Deletes samples older than `before`; returns how many. */
  pruneStats(before: number): number {
    return this.db
      .delete(schema.statsSamples)
      .where(lt(schema.statsSamples.ts, before))
      .returning({ id: schema.statsSamples.id })
      .all().length;
  }

  // --- conntrack snapshots ---

  saveConntrackSnapshot(reason: string, flows: readonly NewFlow[], ts = this.now()): SnapshotRow {
    return this.db.transaction((tx) => {
      const snap = tx
        .insert(schema.conntrackSnapshots)
        .values({ ts, reason, flowCount: flows.length })
        .returning()
        .get();
      for (let i = 0; i < flows.length; i += 50) {
        tx.insert(schema.conntrackFlows)
          .values(flows.slice(i, i + 50).map((f) => ({ ...f, snapshotId: snap.id })))
          .run();
      }
      return snap;
    });
  }

  listConntrackSnapshots(limit = 100): SnapshotRow[] {
    return this.db
      .select()
      .from(schema.conntrackSnapshots)
      .orderBy(desc(schema.conntrackSnapshots.id))
      .limit(limit)
      .all();
  }

  conntrackSnapshot(id: number): { snapshot: SnapshotRow; flows: FlowRow[] } | undefined {
    const snapshot = this.db
      .select()
      .from(schema.conntrackSnapshots)
      .where(eq(schema.conntrackSnapshots.id, id))
      .get();
    if (!snapshot) return undefined;
    const flows = this.db
      .select()
      .from(schema.conntrackFlows)
      .where(eq(schema.conntrackFlows.snapshotId, id))
      .orderBy(asc(schema.conntrackFlows.id))
      .all();
    return { snapshot, flows };
  }

  /** Keeps the newest `keep` snapshots (flows cascade). */
  pruneConntrackSnapshots(keep: number): number {
    const old = this.db
      .select({ id: schema.conntrackSnapshots.id })
      .from(schema.conntrackSnapshots)
      .orderBy(desc(schema.conntrackSnapshots.id))
      .all()
      .slice(keep);
    for (const o of old)
      this.db.delete(schema.conntrackSnapshots).where(eq(schema.conntrackSnapshots.id, o.id)).run();
    return old.length;
  }
}

/**
 * `netstack serve`: opens the device, runs the stack with conntrack, services,
 * persistence and the REST API, and implements the API's `Controller`. The only
 * module that knows every part (with src/index.ts).
 */
import { connect } from "../adapters/net/server.ts";
import { createApp } from "../http/app.ts";
import {
  ApiError,
  type Controller,
  type FlowView,
  type NicView,
  type RouteView,
  type ServiceSpec,
  type ServiceView,
  type TcpConnectResult,
  type TcpConnectSpec,
} from "../http/controller.ts";
import { serveFetch } from "../http/over-stack.ts";
import { createStatusApp } from "../http/status-app.ts";
import { ServiceManager } from "../services/services.ts";
import type { Stack } from "../stack/stack.ts";
import type { Store } from "../store/store.ts";
import { attachConnTable } from "../tcpconntrack/attach.ts";
import { ConnTable } from "../tcpconntrack/table.ts";
import { Address } from "../tcpip/address.ts";
import type { Timer } from "../tcpip/clock.ts";
import { ErrDuplicateAddress } from "../tcpip/errors.ts";
import type { Route } from "../tcpip/full-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { flattenStats } from "../tcpip/stats.ts";
import { parseAddressWithPrefix, Subnet } from "../tcpip/subnet.ts";
import { buildStack } from "./build-stack.ts";
import { type AttachedDevice, attachDevice } from "./device.ts";
import type { Logger } from "./logger.ts";
import type { ServeConfig } from "./serve-config.ts";

export const NIC_ID = 1;
/** Services from --service flags get ids from here up; they are not stored. */
const FLAG_SERVICE_ID_BASE = 100_000;

interface RouteEntry {
  view: RouteView;
  route: Route;
}

export class Appliance implements Controller {
  readonly startedAt = Date.now();
  private readonly routes: RouteEntry[] = [];
  private readonly timers: Timer[] = [];
  private detachConntrack: (() => void) | undefined;
  private readonly http: ReturnType<typeof serveFetch>;
  readonly services: ServiceManager;
  readonly conntrackTable: ConnTable;
  private apiServer: ReturnType<typeof Bun.serve> | undefined;
  private device: AttachedDevice | undefined;

  constructor(
    readonly version: string,
    readonly config: ServeConfig,
    readonly store: Store,
    readonly log: Logger,
    readonly stack: Stack = buildStack(),
  ) {
    const statusApp = createStatusApp({
      version,
      startedAt: this.startedAt,
      now: () => Date.now(),
      nics: () => this.listNics().map((n) => ({ name: n.name, addresses: n.addresses, mtu: n.mtu })),
      counters: () => flattenStats(this.stack.stats),
    });
    this.http = serveFetch((req) => statusApp.fetch(req));
    this.services = new ServiceManager(stack, (s) => this.http.handle(s));
    this.conntrackTable = new ConnTable({ clock: stack.clock });
  }

  get nicName(): string {
    return this.device?.name ?? this.config.device.name;
  }

  /** Opens the device and applies flags plus the stored configuration. Throws with a one-line reason. */
  async start(): Promise<void> {
    const c = this.config;
    const dev = attachDevice(this.stack, NIC_ID, c, (e) => this.log.warn("link error", { error: String(e) }));
    this.device = dev;
    const tun = dev.tun;
    this.store.upsertNic({
      name: tun.device.name,
      kind: c.device.kind,
      mtu: tun.device.mtu,
      mac: c.device.kind === "tap" ? tun.endpoint.linkAddress.toString() : null,
    });

    const stored = this.store.listAddresses(tun.device.name).map((r) => parseAddressWithPrefix(r.address));
    const seen = new Set<string>();
    for (const a of [...c.addrs, ...stored]) {
      if (seen.has(a.address.key)) continue;
      seen.add(a.address.key);
      this.applyAddress(a.address, a.prefixLen);
    }
    for (const r of c.routes)
      this.applyRoute(
        { destination: r.destination, ...(r.gateway ? { gateway: r.gateway } : {}), nic: NIC_ID, metric: 0 },
        "flag",
        null,
      );
    for (const row of this.store.listRoutes()) {
      if (row.nic !== tun.device.name) continue;
      this.applyRoute(
        {
          destination: Subnet.parse(row.destination),
          ...(row.gateway ? { gateway: Address.parse(row.gateway) } : {}),
          nic: NIC_ID,
          metric: row.metric,
        },
        "api",
        row.id,
      );
    }

    this.detachConntrack = attachConnTable(this.stack, this.conntrackTable);

    for (const row of this.store.listServices()) {
      const spec: ServiceSpec = {
        kind: row.kind as ServiceSpec["kind"],
        protocol: row.protocol,
        port: row.port,
      };
      if (row.keepalive) spec.keepalive = JSON.parse(row.keepalive);
      await this.services.start(spec, row.id);
    }
    let i = 0;
    for (const s of c.services) await this.services.start(s, FLAG_SERVICE_ID_BASE + i++);

    if (c.statsIntervalMs > 0) this.every(c.statsIntervalMs, () => this.sampleStats());
    if (c.conntrackIntervalMs > 0)
      this.every(c.conntrackIntervalMs, () => this.takeConntrackSnapshot("periodic"));

    const app = createApp({ controller: this, token: this.token });
    this.apiServer =
      c.api.kind === "unix"
        ? Bun.serve({ unix: c.api.path, fetch: app.fetch })
        : Bun.serve({ hostname: c.api.host, port: c.api.port, fetch: app.fetch });
  }

  token = "";

  apiUrl(): string {
    const c = this.config.api;
    if (c.kind === "unix") return `unix:${c.path}`;
    const host = c.host.includes(":") ? `[${c.host}]` : c.host;
    return `http://${host}:${this.apiServer?.port ?? c.port}`;
  }

  private every(ms: number, fn: () => void): void {
    const t = this.stack.clock.afterFunc(ms, () => {
      try {
        fn();
      } catch (e) {
        this.log.warn("periodic task failed", { error: String(e) });
      }
      t.reset(ms);
    });
    this.timers.push(t);
  }

  sampleStats(now = Date.now()): void {
    this.store.insertStatsSample(now, "", flattenStats(this.stack.stats));
    for (const n of this.stack.nicInfo()) this.store.insertStatsSample(now, n.name, flattenStats(n.stats));
    this.store.pruneStats(now - this.config.statsRetentionMs);
  }

  private applyAddress(address: Address, prefixLen: number): void {
    const proto = address.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER;
    this.stack.addAddress(NIC_ID, proto, address, prefixLen);
    // The address's own subnet is on-link (like the kernel's "proto kernel scope link" route).
    if (prefixLen < address.length * 8) {
      this.applyRoute(
        { destination: Subnet.fromPrefix(address, prefixLen), nic: NIC_ID, metric: 0 },
        "connected",
        null,
      );
    }
  }

  private applyRoute(route: Route, source: RouteView["source"], id: number | null): RouteView {
    this.stack.addRoute(route);
    const view: RouteView = {
      id,
      source,
      destination: route.destination.toString(),
      gateway: route.gateway?.toString() ?? null,
      nic: this.nicName,
      metric: route.metric ?? 0,
    };
    this.routes.push({ view, route });
    return view;
  }

  // ---- Controller ----

  listNics(): NicView[] {
    return this.stack.nicInfo().map((n) => ({
      name: n.name,
      id: n.id,
      kind: this.config.device.kind,
      mtu: n.mtu,
      mac: n.linkAddress.length ? n.linkAddress.toString() : null,
      enabled: n.enabled,
      addresses: n.addresses.map((a) => `${a.address}/${a.prefixLen}`),
      stats: flattenStats(n.stats),
    }));
  }

  private requireNic(name: string): void {
    if (name !== this.nicName) throw new ApiError(404, `no NIC named ${name}`, "name");
  }

  addAddress(nic: string, cidr: string): { nic: string; address: string } {
    this.requireNic(nic);
    let a: { address: Address; prefixLen: number };
    try {
      a = parseAddressWithPrefix(cidr);
    } catch {
      throw new ApiError(400, `address "${cidr}" is not an IPv4 or IPv6 address with /prefix`, "address");
    }
    if (!cidr.includes("/")) throw new ApiError(400, `address "${cidr}" needs a /prefix`, "address");
    try {
      this.applyAddress(a.address, a.prefixLen);
    } catch (e) {
      if (e instanceof ErrDuplicateAddress)
        throw new ApiError(409, `${a.address} is already on ${nic}`, "address");
      throw new ApiError(400, `cannot add ${cidr}: ${(e as Error).message}`, "address");
    }
    const text = `${a.address}/${a.prefixLen}`;
    this.store.addAddress(nic, text);
    return { nic, address: text };
  }

  removeAddress(nic: string, cidr: string): void {
    this.requireNic(nic);
    let a: { address: Address; prefixLen: number };
    try {
      a = parseAddressWithPrefix(cidr);
    } catch {
      throw new ApiError(400, `address "${cidr}" is not an IP address`, "address");
    }
    try {
      this.stack.removeAddress(NIC_ID, a.address);
    } catch {
      throw new ApiError(404, `${a.address} is not on ${nic}`, "address");
    }
    for (let i = this.routes.length - 1; i >= 0; i--) {
      const r = this.routes[i]!;
      if (r.view.source === "connected" && r.route.destination.contains(a.address)) {
        this.stack.removeRoute(r.route);
        this.routes.splice(i, 1);
      }
    }
    for (const row of this.store.listAddresses(nic)) {
      if (parseAddressWithPrefix(row.address).address.equals(a.address))
        this.store.removeAddress(nic, row.address);
    }
  }

  listRoutes(): RouteView[] {
    return this.routes.map((r) => r.view);
  }

  addRoute(r: { destination: string; gateway?: string; nic: string; metric?: number }): RouteView {
    this.requireNic(r.nic);
    const gateway = r.gateway === undefined ? undefined : Address.tryParse(r.gateway);
    if (r.gateway !== undefined && !gateway)
      throw new ApiError(400, `gateway "${r.gateway}" is not an IP address`, "gateway");
    let destination: Subnet;
    try {
      destination =
        r.destination === "default"
          ? Subnet.parse(gateway?.is6 ? "::/0" : "0.0.0.0/0")
          : Subnet.parse(r.destination);
    } catch {
      throw new ApiError(400, `destination "${r.destination}" is not a CIDR or "default"`, "destination");
    }
    if (gateway && gateway.length !== destination.id.length)
      throw new ApiError(400, "gateway and destination are different address families", "gateway");
    const row = this.store.addRoute({
      destination: destination.toString(),
      gateway: gateway?.toString() ?? null,
      nic: r.nic,
      metric: r.metric ?? 0,
    });
    return this.applyRoute(
      { destination, ...(gateway ? { gateway } : {}), nic: NIC_ID, metric: row.metric },
      "api",
      row.id,
    );
  }

  removeRoute(id: number): void {
    const i = this.routes.findIndex((r) => r.view.id === id);
    if (i < 0) throw new ApiError(404, `no route with id ${id}`, "id");
    this.stack.removeRoute(this.routes[i]!.route);
    this.routes.splice(i, 1);
    this.store.removeRoute(id);
  }

  listServices(): ServiceView[] {
    return this.services.list().map((s) => ({ ...s.spec, id: s.id, connections: s.connections }));
  }

  async addService(spec: ServiceSpec): Promise<ServiceView> {
    const row = this.store.addService(spec);
    try {
      const s = await this.services.start(spec, row.id);
      return { ...s.spec, id: s.id, connections: 0 };
    } catch (e) {
      this.store.removeService(row.id);
      throw new ApiError(409, (e as Error).message, "port");
    }
  }

  removeService(id: number): void {
    const known = this.services.list().some((s) => s.id === id);
    if (!known) throw new ApiError(404, `no service with id ${id}`, "id");
    void this.services.stop(id);
    this.store.removeService(id);
  }

  async tcpConnect(spec: TcpConnectSpec): Promise<TcpConnectResult> {
    const addr = Address.tryParse(spec.address);
    if (!addr) throw new ApiError(400, `address "${spec.address}" is not an IP address`, "address");
    const result: TcpConnectResult = { connected: false, bytesSent: 0, bytesReceived: 0 };
    const received: Uint8Array[] = [];
    let kept = 0;
    await new Promise<void>((resolve) => {
      const sock = connect(this.stack, {
        port: spec.port,
        host: addr.toString(),
        timeout: 30_000 + spec.holdMs,
      });
      sock.on("timeout", () => sock.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
      sock.on("connect", () => {
        result.connected = true;
        if (sock.localAddress !== undefined) result.localAddress = sock.localAddress;
        if (sock.localPort !== undefined) result.localPort = sock.localPort;
        sock.write(spec.send, () => {
          result.bytesSent = spec.send.length;
          setTimeout(() => sock.end(), spec.holdMs);
        });
      });
      sock.on("data", (d: Uint8Array) => {
        result.bytesReceived += d.length;
        if (kept < 1 << 20) {
          received.push(d.subarray(0, (1 << 20) - kept));
          kept += Math.min(d.length, (1 << 20) - kept);
        }
      });
      sock.on("error", (e: Error & { code?: string }) => {
        result.error = e.code ?? e.message;
      });
      sock.on("close", () => resolve());
    });
    if (received.length) result.receivedBase64 = Buffer.concat(received).toString("base64");
    return result;
  }

  stats(): object {
    return {
      stack: this.stack.stats,
      nics: Object.fromEntries(this.stack.nicInfo().map((n) => [n.name, n.stats])),
      conntrack: this.conntrackTable.counts(),
      services: this.services.list(),
    };
  }

  conntrack(): FlowView[] {
    return this.conntrackTable.snapshot().map(flowView);
  }

  takeConntrackSnapshot(reason: string): { id: number; ts: number; flowCount: number } {
    const snap = this.store.saveConntrackSnapshot(reason, this.conntrack(), Date.now());
    return { id: snap.id, ts: snap.ts, flowCount: snap.flowCount };
  }

  listConntrackSnapshots() {
    return this.store.listConntrackSnapshots();
  }

  conntrackSnapshot(id: number) {
    const s = this.store.conntrackSnapshot(id);
    if (!s) return undefined;
    return { id: s.snapshot.id, ts: s.snapshot.ts, reason: s.snapshot.reason, flows: s.flows.map(flowView) };
  }

  statsSeries(scope: string, name: string, since: number) {
    return this.store.statsSeries(scope, name, since);
  }

  /** Clean shutdown: services closed (connections reset or closed), final samples, database flushed, device closed. */
  async stop(): Promise<void> {
    for (const t of this.timers) t.stop();
    await this.apiServer?.stop(true);
    await Promise.race([this.services.closeAll(), Bun.sleep(2000)]);
    try {
      if (this.config.statsIntervalMs > 0) this.sampleStats();
    } catch (e) {
      this.log.warn("final stats sample failed", { error: String(e) });
    }
    this.detachConntrack?.();
    this.http.close();
    this.stack.close();
    this.device?.close();
    this.store.close();
  }
}

function flowView(f: FlowView): FlowView {
  return {
    protocol: f.protocol,
    origSrc: f.origSrc,
    origSrcPort: f.origSrcPort,
    origDst: f.origDst,
    origDstPort: f.origDstPort,
    state: f.state,
    origPackets: f.origPackets,
    origBytes: f.origBytes,
    replyPackets: f.replyPackets,
    replyBytes: f.replyBytes,
    firstSeen: f.firstSeen,
    lastSeen: f.lastSeen,
  };
}

/**
 * `netstack serve`: the stack with its NICs, conntrack, services, captures,
 * persistence and the REST API. Implements the API's `Controller`; with
 * src/index.ts the only module that knows every part.
 */
import { connect } from "../adapters/net/server.ts";
import { createApp } from "../http/app.ts";
import {
  ApiError,
  type CaptureView,
  type Controller,
  type EndpointView,
  type FlowFilter,
  type FlowView,
  type HistoryQuery,
  type NicSpec,
  type NicView,
  type PingResult,
  type PingSpec,
  type RouteSpec,
  type RouteView,
  type ServiceSpec,
  type ServiceView,
  type TcpConnectResult,
  type TcpConnectSpec,
} from "../http/controller.ts";
import { serveFetch } from "../http/over-stack.ts";
import { createStatusApp } from "../http/status-app.ts";
import { Capture, FilterError } from "../services/capture.ts";
import { ping } from "../services/ping.ts";
import { ServiceManager } from "../services/services.ts";
import type { Stack } from "../stack/stack.ts";
import type { Store } from "../store/store.ts";
import { attachConnTable } from "../tcpconntrack/attach.ts";
import { ConnTable } from "../tcpconntrack/table.ts";
import { Address } from "../tcpip/address.ts";
import type { Timer } from "../tcpip/clock.ts";
import { ErrDuplicateAddress } from "../tcpip/errors.ts";
import type { Route } from "../tcpip/full-address.ts";
import { parseMACAddress } from "../tcpip/link-address.ts";
import { SockOpt } from "../tcpip/options.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { flattenStats } from "../tcpip/stats.ts";
import { parseAddressWithPrefix, Subnet } from "../tcpip/subnet.ts";
import { buildStack } from "./build-stack.ts";
import { type LinkOpener, type OpenedLink, tunOpener, tunOpenerWith } from "./link-opener.ts";
import type { Logger } from "./logger.ts";
import type { ServeConfig } from "./serve-config.ts";

/** Services from --service flags get ids from here up; they are not stored. */
const FLAG_SERVICE_ID_BASE = 100_000;

interface NicState {
  id: number;
  spec: NicSpec;
  enabled: boolean;
  opened: OpenedLink;
}

interface RouteEntry {
  view: RouteView;
  route: Route;
}

interface ServiceRecord {
  id: number;
  spec: ServiceSpec;
  enabled: boolean;
  stored: boolean;
}

export interface ApplianceOptions {
  version: string;
  config: ServeConfig;
  store: Store;
  log: Logger;
  token: string;
  stack?: Stack;
  opener?: LinkOpener;
  /** Let reads through the API without a token. */
  openReads?: boolean;
}

export class Appliance implements Controller {
  readonly version: string;
  readonly startedAt = Date.now();
  readonly stack: Stack;
  readonly store: Store;
  readonly services: ServiceManager;
  readonly conntrackTable: ConnTable;
  readonly app: ReturnType<typeof createApp>;
  private readonly config: ServeConfig;
  private readonly log: Logger;
  private readonly opener: LinkOpener;
  private readonly nics = new Map<string, NicState>();
  private nextNicId = 1;
  private routes: RouteEntry[] = [];
  private readonly serviceRecords = new Map<number, ServiceRecord>();
  private readonly captures = new Map<number, Capture>();
  private nextCaptureId = 1;
  private readonly timers: Timer[] = [];
  private readonly http: ReturnType<typeof serveFetch>;
  private detachConntrack: (() => void) | undefined;
  private apiServer: ReturnType<typeof Bun.serve> | undefined;

  constructor(o: ApplianceOptions) {
    this.version = o.version;
    this.config = o.config;
    this.store = o.store;
    this.log = o.log;
    this.opener =
      o.opener ??
      (o.config.ioThreads || o.config.ioUring
        ? tunOpenerWith({ ioThreads: o.config.ioThreads === true, ioUring: o.config.ioUring === true })
        : tunOpener);
    this.stack = o.stack ?? buildStack();
    const statusApp = createStatusApp({
      version: this.version,
      startedAt: this.startedAt,
      now: () => Date.now(),
      nics: () => this.listNics().map((n) => ({ name: n.name, addresses: n.addresses, mtu: n.mtu })),
      counters: () => flattenStats(this.stack.stats),
    });
    this.http = serveFetch((req) => statusApp.fetch(req));
    this.services = new ServiceManager(this.stack, (s) => this.http.handle(s));
    this.conntrackTable = new ConnTable({ clock: this.stack.clock });
    this.app = createApp({
      controller: this,
      token: o.token,
      openReads: o.openReads ?? o.config.apiOpenReads,
    });
  }

  /** The first NIC's name (the one from the flags). */
  get primaryNic(): string {
    return this.nics.keys().next().value ?? this.config.device.name;
  }

  /** Opens the flag device and everything stored, starts services and timers. Throws with a one-line reason. */
  async start(): Promise<void> {
    const c = this.config;
    this.detachConntrack = attachConnTable(this.stack, this.conntrackTable);
    const flagSpec: NicSpec & { pcap?: string } = {
      name: c.device.name,
      kind: c.device.kind,
      offload: c.offload,
      hostAddresses: c.hostAddrs.map((h) => `${h.address}/${h.prefixLen}`),
      ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
      ...(c.mac !== undefined ? { mac: c.mac } : {}),
      ...(c.pcap !== undefined ? { pcap: c.pcap } : {}),
    };
    const storedNics = this.store.listNics();
    const flagRow = storedNics.find((r) => r.name === c.device.name);
    const flagNic = this.openNic(flagSpec, flagRow?.enabled ?? true);
    // Stored NICs other than the flag's: a device that cannot be opened is logged, not fatal.
    for (const row of storedNics) {
      if (row.name === flagNic.opened.name || row.name === c.device.name) continue;
      try {
        this.openNic(
          {
            name: row.name,
            kind: row.kind,
            offload: row.offload,
            ...(row.mtu !== null ? { mtu: row.mtu } : {}),
            ...(row.mac !== null ? { mac: row.mac } : {}),
            ...(row.hostAddresses ? { hostAddresses: JSON.parse(row.hostAddresses) as string[] } : {}),
          },
          row.enabled,
        );
      } catch (e) {
        this.log.warn("cannot open stored NIC", { nic: row.name, error: String(e) });
      }
    }

    for (const a of c.addrs) this.applyAddress(flagNic, a.address, a.prefixLen);
    for (const row of this.store.listAddresses()) {
      const nic = this.nics.get(row.nic);
      if (!nic) continue;
      const a = parseAddressWithPrefix(row.address);
      if (this.stack.hasAddress(nic.id, a.address)) continue;
      this.applyAddress(nic, a.address, a.prefixLen);
    }
    for (const r of c.routes)
      this.applyRoute(
        {
          destination: r.destination,
          ...(r.gateway ? { gateway: r.gateway } : {}),
          nic: flagNic.id,
          metric: 0,
        },
        "flag",
        null,
      );
    for (const row of this.store.listRoutes()) {
      const nic = this.nics.get(row.nic);
      if (!nic) continue;
      this.applyRoute(
        {
          destination: Subnet.parse(row.destination),
          ...(row.gateway ? { gateway: Address.parse(row.gateway) } : {}),
          nic: nic.id,
          metric: row.metric,
        },
        "api",
        row.id,
      );
    }

    for (const row of this.store.listServices()) {
      const spec: ServiceSpec = {
        kind: row.kind as ServiceSpec["kind"],
        protocol: row.protocol,
        port: row.port,
      };
      if (row.keepalive) spec.keepalive = JSON.parse(row.keepalive);
      this.serviceRecords.set(row.id, { id: row.id, spec, enabled: row.enabled, stored: true });
      if (row.enabled) await this.services.start(spec, row.id);
    }
    let i = 0;
    for (const s of c.services) {
      const id = FLAG_SERVICE_ID_BASE + i++;
      this.serviceRecords.set(id, { id, spec: s, enabled: true, stored: false });
      await this.services.start(s, id);
    }

    if (c.statsIntervalMs > 0) this.every(c.statsIntervalMs, () => this.sampleStats());
    if (c.conntrackIntervalMs > 0)
      this.every(c.conntrackIntervalMs, () => this.takeConntrackSnapshot("periodic"));
  }

  /** Starts the REST API server on the configured address. */
  listen(): void {
    const a = this.config.api;
    const fetch = this.app.fetch;
    this.apiServer =
      a.kind === "unix"
        ? Bun.serve({ unix: a.path, fetch })
        : Bun.serve({ hostname: a.host, port: a.port, fetch });
  }

  apiUrl(): string {
    const c = this.config.api;
    if (c.kind === "unix") return `unix:${c.path}`;
    const host = c.host.includes(":") ? `[${c.host}]` : c.host;
    return `http://${host}:${this.apiServer?.port ?? c.port}`;
  }

  private openNic(spec: NicSpec & { pcap?: string }, enabled: boolean): NicState {
    const opened = this.opener.open(spec, this.stack.clock, (e) =>
      this.log.warn("link error", { nic: spec.name, error: String(e) }),
    );
    const id = this.nextNicId++;
    try {
      this.stack.createNIC(id, opened.link, { name: opened.name, disabled: !enabled });
    } catch (e) {
      opened.close();
      throw e;
    }
    const nic: NicState = { id, spec: { ...spec, name: opened.name }, enabled, opened };
    this.nics.set(opened.name, nic);
    const { pcap: _, ...stored } = nic.spec as NicSpec & { pcap?: string };
    this.store.upsertNic({
      name: opened.name,
      kind: stored.kind,
      mtu: stored.mtu ?? null,
      mac: stored.mac ?? null,
      enabled,
      offload: stored.offload ?? false,
      hostAddresses: stored.hostAddresses ?? null,
    });
    return nic;
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

  private applyAddress(nic: NicState, address: Address, prefixLen: number): void {
    this.stack.addAddress(
      nic.id,
      address.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER,
      address,
      prefixLen,
    );
    // The address's own subnet is on-link (like the kernel's "proto kernel scope link" route).
    if (prefixLen < address.length * 8) {
      this.applyRoute(
        { destination: Subnet.fromPrefix(address, prefixLen), nic: nic.id, metric: 0 },
        "connected",
        null,
      );
    }
  }

  private nicName(id: number): string {
    for (const [name, n] of this.nics) if (n.id === id) return name;
    return String(id);
  }

  private applyRoute(route: Route, source: RouteView["source"], id: number | null): RouteView {
    this.stack.addRoute(route);
    const view: RouteView = {
      id,
      source,
      destination: route.destination.toString(),
      gateway: route.gateway?.toString() ?? null,
      nic: this.nicName(route.nic),
      metric: route.metric ?? 0,
    };
    this.routes.push({ view, route });
    return view;
  }

  private requireNic(name: string, field = "name"): NicState {
    const n = this.nics.get(name);
    if (!n) throw new ApiError(404, `no NIC named ${name}`, field);
    return n;
  }

  // ---- Controller: NICs ----

  listNics(): NicView[] {
    return this.stack.nicInfo().map((n) => {
      const st = this.nics.get(n.name);
      return {
        name: n.name,
        id: n.id,
        kind: st?.spec.kind ?? "tun",
        mtu: n.mtu,
        mac: n.linkAddress.length ? n.linkAddress.toString() : null,
        enabled: n.enabled,
        offload: st?.spec.offload ?? false,
        addresses: n.addresses.map((a) => `${a.address}/${a.prefixLen}`),
        stats: flattenStats(n.stats),
      };
    });
  }

  createNic(spec: NicSpec): NicView {
    if (this.config.noRuntimeNics)
      throw new ApiError(
        403,
        "this server runs with --no-runtime-nics: it dropped CAP_NET_ADMIN and cannot open new devices; restart it without that flag to add NICs over REST",
        "name",
      );
    if (this.nics.has(spec.name)) throw new ApiError(409, `a NIC named ${spec.name} exists`, "name");
    if (spec.mac !== undefined) {
      if (spec.kind !== "tap") throw new ApiError(400, "mac applies to tap NICs only", "mac");
      try {
        parseMACAddress(spec.mac);
      } catch (e) {
        throw new ApiError(400, (e as Error).message, "mac");
      }
    }
    for (const h of spec.hostAddresses ?? []) {
      try {
        parseAddressWithPrefix(h);
      } catch {
        throw new ApiError(400, `host address "${h}" is not an address with /prefix`, "hostAddresses");
      }
    }
    let nic: NicState;
    try {
      nic = this.openNic(spec, true);
    } catch (e) {
      throw new ApiError(
        409,
        `cannot open ${spec.kind} device ${spec.name}: ${(e as Error).message}`,
        "name",
      );
    }
    return this.listNics().find((n) => n.name === nic.opened.name)!;
  }

  setNicEnabled(name: string, enabled: boolean): NicView {
    const nic = this.requireNic(name);
    if (enabled) this.stack.enableNIC(nic.id);
    else this.stack.disableNIC(nic.id);
    nic.enabled = enabled;
    this.store.setNicEnabled(name, enabled);
    return this.listNics().find((n) => n.name === name)!;
  }

  deleteNic(name: string): void {
    const nic = this.requireNic(name);
    for (const c of this.captures.values()) if (c.nicName === name) c.stop();
    this.routes = this.routes.filter((r) => {
      if (r.route.nic !== nic.id) return true;
      this.stack.removeRoute(r.route);
      return false;
    });
    this.stack.removeNIC(nic.id);
    nic.opened.close();
    this.nics.delete(name);
    this.store.removeNic(name);
  }

  addAddress(nicName: string, cidr: string): { nic: string; address: string } {
    const nic = this.requireNic(nicName);
    if (!cidr.includes("/")) throw new ApiError(400, `address "${cidr}" needs a /prefix`, "address");
    let a: { address: Address; prefixLen: number };
    try {
      a = parseAddressWithPrefix(cidr);
    } catch {
      throw new ApiError(400, `address "${cidr}" is not an IPv4 or IPv6 address with /prefix`, "address");
    }
    try {
      this.applyAddress(nic, a.address, a.prefixLen);
    } catch (e) {
      if (e instanceof ErrDuplicateAddress)
        throw new ApiError(409, `${a.address} is already on ${nicName}`, "address");
      throw new ApiError(400, `cannot add ${cidr}: ${(e as Error).message}`, "address");
    }
    const text = `${a.address}/${a.prefixLen}`;
    this.store.addAddress(nicName, text);
    return { nic: nicName, address: text };
  }

  removeAddress(nicName: string, cidr: string): void {
    const nic = this.requireNic(nicName);
    let a: { address: Address; prefixLen: number };
    try {
      a = parseAddressWithPrefix(cidr);
    } catch {
      throw new ApiError(400, `address "${cidr}" is not an IP address`, "address");
    }
    try {
      this.stack.removeAddress(nic.id, a.address);
    } catch {
      throw new ApiError(404, `${a.address} is not on ${nicName}`, "address");
    }
    this.routes = this.routes.filter((r) => {
      if (r.view.source !== "connected" || r.route.nic !== nic.id || !r.route.destination.contains(a.address))
        return true;
      this.stack.removeRoute(r.route);
      return false;
    });
    for (const row of this.store.listAddresses(nicName)) {
      if (parseAddressWithPrefix(row.address).address.equals(a.address))
        this.store.removeAddress(nicName, row.address);
    }
  }

  // ---- routes ----

  listRoutes(): RouteView[] {
    return this.routes.map((r) => r.view);
  }

  private checkRoute(r: RouteSpec, at = ""): { route: Route; gateway?: Address } {
    const nic = this.requireNic(r.nic, `${at}nic`);
    const gateway = r.gateway === undefined ? undefined : Address.tryParse(r.gateway);
    if (r.gateway !== undefined && !gateway)
      throw new ApiError(400, `gateway "${r.gateway}" is not an IP address`, `${at}gateway`);
    let destination: Subnet;
    try {
      destination =
        r.destination === "default"
          ? Subnet.parse(gateway?.is6 ? "::/0" : "0.0.0.0/0")
          : Subnet.parse(r.destination);
    } catch {
      throw new ApiError(
        400,
        `destination "${r.destination}" is not a CIDR or "default"`,
        `${at}destination`,
      );
    }
    if (gateway && gateway.length !== destination.id.length)
      throw new ApiError(400, "gateway and destination are different address families", `${at}gateway`);
    return {
      route: { destination, ...(gateway ? { gateway } : {}), nic: nic.id, metric: r.metric ?? 0 },
      ...(gateway ? { gateway } : {}),
    };
  }

  addRoute(r: RouteSpec): RouteView {
    const { route } = this.checkRoute(r);
    const row = this.store.addRoute({
      destination: route.destination.toString(),
      gateway: route.gateway?.toString() ?? null,
      nic: r.nic,
      metric: route.metric ?? 0,
    });
    return this.applyRoute(route, "api", row.id);
  }

  replaceRoutes(list: RouteSpec[]): RouteView[] {
    const checked = list.map((r, i) => ({ spec: r, ...this.checkRoute(r, `${i}.`) }));
    this.routes = this.routes.filter((r) => {
      if (r.view.source !== "api") return true;
      this.stack.removeRoute(r.route);
      return false;
    });
    const rows = this.store.replaceRoutes(
      checked.map((c) => ({
        destination: c.route.destination.toString(),
        gateway: c.route.gateway?.toString() ?? null,
        nic: c.spec.nic,
        metric: c.route.metric ?? 0,
      })),
    );
    for (const [i, c] of checked.entries()) this.applyRoute(c.route, "api", rows[i]!.id);
    return this.listRoutes();
  }

  removeRoute(id: number): void {
    const i = this.routes.findIndex((r) => r.view.id === id);
    if (i < 0) throw new ApiError(404, `no route with id ${id}`, "id");
    this.stack.removeRoute(this.routes[i]!.route);
    this.routes.splice(i, 1);
    this.store.removeRoute(id);
  }

  // ---- services ----

  private serviceView(rec: ServiceRecord): ServiceView {
    const run = this.services.list().find((s) => s.id === rec.id);
    return {
      ...rec.spec,
      id: rec.id,
      enabled: rec.enabled,
      stored: rec.stored,
      connections: run?.connections ?? 0,
      bytesIn: run?.bytesIn ?? 0,
      bytesOut: run?.bytesOut ?? 0,
    };
  }

  listServices(): ServiceView[] {
    return [...this.serviceRecords.values()].map((r) => this.serviceView(r));
  }

  async addService(spec: ServiceSpec): Promise<ServiceView> {
    for (const r of this.serviceRecords.values()) {
      if (r.spec.protocol === spec.protocol && r.spec.port === spec.port) {
        throw new ApiError(
          409,
          `${spec.protocol} port ${spec.port} is taken by service ${r.id} (${r.spec.kind})`,
          "port",
        );
      }
    }
    const row = this.store.addService(spec);
    try {
      await this.services.start(spec, row.id);
    } catch (e) {
      this.store.removeService(row.id);
      throw new ApiError(409, (e as Error).message, "port");
    }
    const rec: ServiceRecord = { id: row.id, spec, enabled: true, stored: true };
    this.serviceRecords.set(row.id, rec);
    return this.serviceView(rec);
  }

  async setServiceEnabled(id: number, enabled: boolean): Promise<ServiceView> {
    const rec = this.serviceRecords.get(id);
    if (!rec) throw new ApiError(404, `no service with id ${id}`, "id");
    if (enabled && !rec.enabled) {
      try {
        await this.services.start(rec.spec, id);
      } catch (e) {
        throw new ApiError(409, (e as Error).message, "enabled");
      }
    } else if (!enabled && rec.enabled) await this.services.stop(id);
    rec.enabled = enabled;
    if (rec.stored) this.store.setServiceEnabled(id, enabled);
    return this.serviceView(rec);
  }

  async removeService(id: number): Promise<void> {
    const rec = this.serviceRecords.get(id);
    if (!rec) throw new ApiError(404, `no service with id ${id}`, "id");
    this.serviceRecords.delete(id);
    if (rec.stored) this.store.removeService(id);
    await this.services.stop(id);
  }

  // ---- diagnostics ----

  async tcpConnect(spec: TcpConnectSpec): Promise<TcpConnectResult> {
    const addr = Address.tryParse(spec.address);
    if (!addr) throw new ApiError(400, `address "${spec.address}" is not an IP address`, "address");
    const t0 = performance.now();
    const result: TcpConnectResult = { connected: false, bytesSent: 0, bytesReceived: 0, totalMs: 0 };
    const received: Uint8Array[] = [];
    let kept = 0;
    const KEEP = 1 << 20;
    await new Promise<void>((resolve) => {
      const sock = connect(this.stack, {
        port: spec.port,
        host: addr.toString(),
        timeout: 30_000 + spec.holdMs,
      });
      sock.on("timeout", () => sock.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
      sock.on("connect", () => {
        result.connected = true;
        result.connectMs = performance.now() - t0;
        if (sock.localAddress !== undefined) result.localAddress = sock.localAddress;
        if (sock.localPort !== undefined) result.localPort = sock.localPort;
        sock.write(spec.send, () => {
          result.bytesSent = spec.send.length;
          setTimeout(() => sock.end(), spec.holdMs);
        });
      });
      sock.on("data", (d: Uint8Array) => {
        result.bytesReceived += d.length;
        if (kept < KEEP) {
          const part = d.subarray(0, KEEP - kept);
          received.push(part);
          kept += part.length;
        }
      });
      sock.on("error", (e: Error & { code?: string }) => {
        result.error = e.code ?? e.message;
      });
      sock.on("close", () => resolve());
    });
    if (received.length) result.receivedBase64 = Buffer.concat(received).toString("base64");
    result.totalMs = performance.now() - t0;
    return result;
  }

  async ping(spec: PingSpec): Promise<PingResult> {
    const addr = Address.tryParse(spec.address);
    if (!addr) throw new ApiError(400, `address "${spec.address}" is not an IP address`, "address");
    return ping(this.stack, addr, spec);
  }

  // ---- stats, endpoints, conntrack ----

  stats(): object {
    return {
      stack: this.stack.stats,
      nics: Object.fromEntries(this.stack.nicInfo().map((n) => [n.name, n.stats])),
      conntrack: this.conntrackTable.counts(),
      services: this.services.list(),
    };
  }

  statsHistory(q: HistoryQuery): { ts: number; value: number }[] {
    return this.store.statsSeries(q.scope, q.name, q.from, q.to, q.stepMs);
  }

  listEndpoints(): EndpointView[] {
    const names: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6" };
    const seen = new Set<unknown>();
    const out: EndpointView[] = [];
    for (const e of this.stack.transportEndpoints()) {
      if (seen.has(e.ep)) continue;
      seen.add(e.ep);
      const ep = e.ep as Partial<{ getSockOpt(n: string): unknown }>;
      const opt = (n: string): unknown => {
        try {
          return ep.getSockOpt?.(n);
        } catch {
          return undefined;
        }
      };
      const info =
        e.transProto === 6 ? (opt(SockOpt.TCPInfo) as Record<string, unknown> | undefined) : undefined;
      const listening = e.id.remotePort === 0 && !e.id.remoteAddress;
      out.push({
        protocol: `${names[e.transProto] ?? e.transProto}${e.netProto === IPV6_PROTOCOL_NUMBER ? "6" : ""}`,
        state:
          typeof info?.state === "string"
            ? info.state
            : listening
              ? e.transProto === 6
                ? "listen"
                : "bound"
              : "connected",
        localAddress: e.id.localAddress?.toString() ?? null,
        localPort: e.id.localPort,
        remoteAddress: e.id.remoteAddress?.toString() ?? null,
        remotePort: e.id.remotePort,
        receiveQueue: Number(opt(SockOpt.ReceiveQueueSize) ?? 0),
        sendQueue: Number(opt(SockOpt.SendQueueSize) ?? 0),
        ...(info ? { tcpInfo: info } : {}),
      });
    }
    return out;
  }

  conntrack(f: FlowFilter): FlowView[] {
    return this.conntrackTable
      .snapshot()
      .filter(
        (x) =>
          (f.protocol === undefined || x.protocol === f.protocol) &&
          (f.state === undefined || x.state === f.state) &&
          (f.address === undefined || x.origSrc === f.address || x.origDst === f.address) &&
          (f.port === undefined || x.origSrcPort === f.port || x.origDstPort === f.port),
      )
      .map(flowView);
  }

  takeConntrackSnapshot(reason: string): { id: number; ts: number; flowCount: number } {
    const snap = this.store.saveConntrackSnapshot(reason, this.conntrack({}), Date.now());
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

  // ---- captures ----

  private captureView(c: Capture): CaptureView {
    return {
      id: c.id,
      nic: c.nicName,
      filter: c.filter ?? null,
      packets: c.packets,
      bytes: c.bytes,
      running: c.running,
      startedAt: c.startedAt,
    };
  }

  private requireCapture(id: number): Capture {
    const c = this.captures.get(id);
    if (!c) throw new ApiError(404, `no capture ${id}`, "id");
    return c;
  }

  startCapture(nicName: string, filter: string | undefined): CaptureView {
    const nic = this.requireNic(nicName, "nic");
    let c: Capture;
    try {
      c = new Capture(this.nextCaptureId++, nicName, nic.id, filter, this.stack, this.stack.clock);
    } catch (e) {
      if (e instanceof FilterError) throw new ApiError(400, e.message, "filter");
      throw e;
    }
    this.captures.set(c.id, c);
    return this.captureView(c);
  }

  stopCapture(id: number): CaptureView {
    const c = this.requireCapture(id);
    c.stop();
    return this.captureView(c);
  }

  listCaptures(): CaptureView[] {
    return [...this.captures.values()].map((c) => this.captureView(c));
  }

  capturePcap(id: number): Uint8Array {
    return this.requireCapture(id).pcap();
  }

  captureStream(id: number, signal: AbortSignal): ReadableStream<Uint8Array> {
    return this.requireCapture(id).stream(signal);
  }

  /** Clean shutdown: services closed (connections reset or closed), final samples, database flushed, devices closed. */
  async stop(): Promise<void> {
    for (const t of this.timers) t.stop();
    for (const c of this.captures.values()) c.stop();
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
    for (const n of this.nics.values()) n.opened.close();
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

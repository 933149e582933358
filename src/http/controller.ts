/**
 * What the REST API needs from the appliance. `src/cli/serve.ts` implements it
 * over a real Stack and Store; the HTTP layer knows no stack internals and no SQL.
 */
export interface NicView {
  name: string;
  id: number;
  kind: "tun" | "tap";
  mtu: number;
  mac: string | null;
  enabled: boolean;
  addresses: string[];
  stats: Record<string, number>;
}

export interface RouteView {
  /** Routes added over REST have an id (DELETE /v1/routes/{id}); routes from flags and addresses have null. */
  id: number | null;
  /** "api" (stored, restored at start), "flag" (--route) or "connected" (an address's own subnet). */
  source: "api" | "flag" | "connected";
  destination: string;
  gateway: string | null;
  nic: string;
  metric: number;
}

export interface KeepaliveSpec {
  idleMs: number;
  intervalMs: number;
  count: number;
}

export interface ServiceSpec {
  kind: "echo" | "discard" | "chargen" | "http";
  protocol: "tcp" | "udp";
  port: number;
  keepalive?: KeepaliveSpec;
}

export interface ServiceView extends ServiceSpec {
  id: number;
  connections: number;
}

export interface TcpConnectSpec {
  address: string;
  port: number;
  send: Uint8Array;
  holdMs: number;
  wait: boolean;
}

export interface TcpConnectResult {
  connected: boolean;
  localAddress?: string;
  localPort?: number;
  bytesSent: number;
  bytesReceived: number;
  receivedBase64?: string;
  error?: string;
}

export interface FlowView {
  protocol: string;
  origSrc: string;
  origSrcPort: number;
  origDst: string;
  origDstPort: number;
  state: string;
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
  firstSeen: number;
  lastSeen: number;
}

export interface Controller {
  readonly version: string;
  listNics(): NicView[];
  addAddress(nic: string, cidr: string): { nic: string; address: string };
  removeAddress(nic: string, cidr: string): void;
  listRoutes(): RouteView[];
  addRoute(route: { destination: string; gateway?: string; nic: string; metric?: number }): RouteView;
  removeRoute(id: number): void;
  listServices(): ServiceView[];
  addService(spec: ServiceSpec): Promise<ServiceView>;
  removeService(id: number): void;
  tcpConnect(spec: TcpConnectSpec): Promise<TcpConnectResult>;
  stats(): object;
  conntrack(): FlowView[];
  takeConntrackSnapshot(reason: string): { id: number; ts: number; flowCount: number };
  listConntrackSnapshots(): { id: number; ts: number; reason: string; flowCount: number }[];
  conntrackSnapshot(id: number): { id: number; ts: number; reason: string; flows: FlowView[] } | undefined;
  statsSeries(scope: string, name: string, since: number): { ts: number; value: number }[];
}

/** An error with an HTTP status; `field` names the offending input field. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 422 | 500 | 503,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

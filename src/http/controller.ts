/**
 * What the REST API needs from the appliance. `src/cli/appliance.ts` implements
 * it over a real Stack and Store; the HTTP layer knows no stack internals and no SQL.
 */
export interface NicView {
  name: string;
  id: number;
  kind: "tun" | "tap";
  mtu: number;
  mac: string | null;
  enabled: boolean;
  offload: boolean;
  addresses: string[];
  stats: Record<string, number>;
}

export interface NicSpec {
  name: string;
  kind: "tun" | "tap";
  mtu?: number;
  mac?: string;
  offload?: boolean;
  /** Addresses given to the kernel side of the device when netstack creates it. */
  hostAddresses?: string[];
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

export interface RouteSpec {
  destination: string;
  gateway?: string;
  nic: string;
  metric?: number;
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
  enabled: boolean;
  stored: boolean;
  connections: number;
  bytesIn: number;
  bytesOut: number;
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
  /** Milliseconds from start to established, and to closed. */
  connectMs?: number;
  totalMs: number;
}

export interface PingSpec {
  address: string;
  count: number;
  intervalMs: number;
  timeoutMs: number;
  size: number;
}

export interface PingResult {
  address: string;
  transmitted: number;
  received: number;
  rttMs: number[];
  minMs?: number;
  avgMs?: number;
  maxMs?: number;
  /** Size of the last reply, ICMP header included. */
  replyBytes?: number;
  /** Replies whose data differed from what was sent. */
  corrupted?: number;
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

export interface FlowFilter {
  protocol?: string;
  state?: string;
  address?: string;
  port?: number;
}

/** One socket of the stack, like a line of `ss`. */
export interface EndpointView {
  protocol: string;
  state: string;
  localAddress: string | null;
  localPort: number;
  remoteAddress: string | null;
  remotePort: number;
  receiveQueue: number;
  sendQueue: number;
  tcpInfo?: Record<string, unknown>;
}

export interface CaptureView {
  id: number;
  nic: string;
  filter: string | null;
  packets: number;
  bytes: number;
  running: boolean;
  startedAt: number;
}

export interface HistoryQuery {
  scope: string;
  name: string;
  from: number;
  to: number;
  stepMs: number;
}

export interface Controller {
  readonly version: string;
  listNics(): NicView[];
  createNic(spec: NicSpec): NicView;
  setNicEnabled(name: string, enabled: boolean): NicView;
  deleteNic(name: string): void;
  addAddress(nic: string, cidr: string): { nic: string; address: string };
  removeAddress(nic: string, cidr: string): void;
  listRoutes(): RouteView[];
  addRoute(route: RouteSpec): RouteView;
  replaceRoutes(routes: RouteSpec[]): RouteView[];
  removeRoute(id: number): void;
  listServices(): ServiceView[];
  addService(spec: ServiceSpec): Promise<ServiceView>;
  setServiceEnabled(id: number, enabled: boolean): Promise<ServiceView>;
  removeService(id: number): Promise<void>;
  tcpConnect(spec: TcpConnectSpec): Promise<TcpConnectResult>;
  ping(spec: PingSpec): Promise<PingResult>;
  stats(): object;
  statsHistory(q: HistoryQuery): { ts: number; value: number }[];
  listEndpoints(): EndpointView[];
  conntrack(filter: FlowFilter): FlowView[];
  takeConntrackSnapshot(reason: string): { id: number; ts: number; flowCount: number };
  listConntrackSnapshots(): { id: number; ts: number; reason: string; flowCount: number }[];
  conntrackSnapshot(id: number): { id: number; ts: number; reason: string; flows: FlowView[] } | undefined;
  startCapture(nic: string, filter: string | undefined): CaptureView;
  stopCapture(id: number): CaptureView;
  listCaptures(): CaptureView[];
  /** The capture so far as a pcap file. */
  capturePcap(id: number): Uint8Array;
  /** A live pcap stream: the header, what was captured so far, then packets as they come, until stopped. */
  captureStream(id: number, signal: AbortSignal): ReadableStream<Uint8Array>;
}

/** An error with an HTTP status and a stable code; `field` names the offending input field. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 422 | 500 | 503,
    message: string,
    readonly field?: string,
    readonly code: string = defaultCode(status),
  ) {
    super(message);
  }
}

function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 422:
      return "unprocessable";
    case 503:
      return "unavailable";
    default:
      return "internal";
  }
}

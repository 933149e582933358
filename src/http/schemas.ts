/** Request and response schemas: validation and the OpenAPI document come from the same zod values. */
import { z } from "@hono/zod-openapi";

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string(),
      field: z.string().optional(),
    }),
  })
  .openapi("Error");

export const NicName = z.object({
  name: z.string().regex(IFNAME, "must be 1..15 letters, digits, '_', '.' or '-'"),
});

export const Nic = z
  .object({
    name: z.string(),
    id: z.number().int(),
    kind: z.enum(["tun", "tap"]),
    mtu: z.number().int(),
    mac: z.string().nullable(),
    enabled: z.boolean(),
    offload: z.boolean(),
    addresses: z.array(z.string()).openapi({ example: ["198.18.0.2/24"] }),
    stats: z.record(z.string(), z.number()),
  })
  .openapi("Nic");

export const NicCreate = z
  .object({
    name: z.string().regex(IFNAME, "must be 1..15 letters, digits, '_', '.' or '-'"),
    kind: z.enum(["tun", "tap"]).default("tun"),
    mtu: z.number().int().min(576).max(65535).optional(),
    mac: z.string().optional(),
    offload: z.boolean().optional(),
    hostAddresses: z.array(z.string().max(64)).max(16).optional(),
  })
  .strict()
  .openapi("NicCreate");

export const NicPatch = z.object({ enabled: z.boolean() }).strict().openapi("NicPatch");

export const AddressCreate = z
  .object({ address: z.string().min(1).max(64).openapi({ example: "198.18.0.3/24" }) })
  .strict()
  .openapi("AddressCreate");

export const AddressParams = z.object({ name: z.string().regex(IFNAME), address: z.string().min(1).max(64) });

export const Route = z
  .object({
    id: z.number().int().nullable(),
    source: z.enum(["api", "flag", "connected"]),
    destination: z.string(),
    gateway: z.string().nullable(),
    nic: z.string(),
    metric: z.number().int(),
  })
  .openapi("Route");

export const RouteCreate = z
  .object({
    destination: z.string().min(1).max(64).openapi({ example: "198.18.5.0/24" }),
    gateway: z.string().min(1).max(64).optional().openapi({ example: "198.18.0.1" }),
    nic: z.string().regex(IFNAME),
    metric: z.number().int().min(0).max(2_147_483_647).optional(),
  })
  .strict()
  .openapi("RouteCreate");

export const IdParam = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

export const Keepalive = z
  .object({
    idleMs: z.number().int().min(1).max(86_400_000),
    intervalMs: z.number().int().min(1).max(86_400_000),
    count: z.number().int().min(1).max(1000),
  })
  .strict();

export const ServiceCreate = z
  .object({
    kind: z.enum(["echo", "discard", "chargen", "http"]),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    port: z.number().int().min(1).max(65535).optional(),
    keepalive: Keepalive.optional(),
  })
  .strict()
  .openapi("ServiceCreate");

export const Service = z
  .object({
    id: z.number().int(),
    kind: z.enum(["echo", "discard", "chargen", "http"]),
    protocol: z.enum(["tcp", "udp"]),
    port: z.number().int(),
    keepalive: Keepalive.optional(),
    enabled: z.boolean(),
    stored: z.boolean(),
    connections: z.number().int(),
    bytesIn: z.number(),
    bytesOut: z.number(),
  })
  .openapi("Service");

export const ServicePatch = z.object({ enabled: z.boolean() }).strict().openapi("ServicePatch");

export const TcpConnect = z
  .object({
    address: z.string().min(1).max(64),
    port: z.number().int().min(1).max(65535),
    sendBase64: z
      .base64()
      .max(24 * 1024 * 1024)
      .optional(),
    holdMs: z.number().int().min(0).max(3_600_000).default(0),
    wait: z.boolean().default(true),
  })
  .strict()
  .openapi("TcpConnect");

export const TcpConnectResult = z
  .object({
    connected: z.boolean(),
    localAddress: z.string().optional(),
    localPort: z.number().int().optional(),
    bytesSent: z.number(),
    bytesReceived: z.number(),
    receivedBase64: z.string().optional(),
    error: z.string().optional(),
    connectMs: z.number().optional(),
    totalMs: z.number(),
  })
  .openapi("TcpConnectResult");

export const Ping = z
  .object({
    address: z.string().min(1).max(64),
    count: z.number().int().min(1).max(100).default(3),
    intervalMs: z.number().int().min(10).max(10_000).default(200),
    timeoutMs: z.number().int().min(10).max(30_000).default(1000),
    size: z.number().int().min(0).max(65_000).default(56),
  })
  .strict()
  .openapi("Ping");

export const PingResult = z
  .object({
    address: z.string(),
    transmitted: z.number().int(),
    received: z.number().int(),
    rttMs: z.array(z.number()),
    minMs: z.number().optional(),
    avgMs: z.number().optional(),
    maxMs: z.number().optional(),
    replyBytes: z.number().int().optional(),
    corrupted: z.number().int().optional(),
    error: z.string().optional(),
  })
  .openapi("PingResult");

export const HistoryQuery = z.object({
  name: z.string().min(1).max(128).openapi({ example: "ip.packetsReceived" }),
  scope: z.string().max(15).default(""),
  from: z.coerce.number().int().min(0).optional(),
  to: z.coerce.number().int().min(0).optional(),
  step: z.coerce.number().int().min(1).max(86_400_000).optional(),
});

export const Sample = z.object({ ts: z.number(), value: z.number() }).openapi("Sample");

export const FlowQuery = z.object({
  protocol: z.enum(["tcp", "udp", "icmp", "icmpv6"]).optional(),
  state: z.string().max(32).optional(),
  address: z.string().max(64).optional(),
  port: z.coerce.number().int().min(0).max(65535).optional(),
});

export const Flow = z
  .object({
    protocol: z.string(),
    origSrc: z.string(),
    origSrcPort: z.number().int(),
    origDst: z.string(),
    origDstPort: z.number().int(),
    state: z.string(),
    origPackets: z.number(),
    origBytes: z.number(),
    replyPackets: z.number(),
    replyBytes: z.number(),
    firstSeen: z.number(),
    lastSeen: z.number(),
  })
  .openapi("Flow");

export const Snapshot = z
  .object({ id: z.number().int(), ts: z.number(), reason: z.string(), flowCount: z.number().int() })
  .openapi("Snapshot");

export const EndpointRow = z
  .object({
    protocol: z.string(),
    state: z.string(),
    localAddress: z.string().nullable(),
    localPort: z.number().int(),
    remoteAddress: z.string().nullable(),
    remotePort: z.number().int(),
    receiveQueue: z.number(),
    sendQueue: z.number(),
    tcpInfo: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi("Endpoint");

export const CaptureCreate = z
  .object({
    nic: z.string().regex(IFNAME),
    filter: z.string().max(256).optional().openapi({ example: "tcp and port 80" }),
  })
  .strict()
  .openapi("CaptureCreate");

export const Capture = z
  .object({
    id: z.number().int(),
    nic: z.string(),
    filter: z.string().nullable(),
    packets: z.number(),
    bytes: z.number(),
    running: z.boolean(),
    startedAt: z.number(),
  })
  .openapi("Capture");

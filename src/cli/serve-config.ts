/** Turns parsed flags into a checked `ServeConfig` (DESIGN.md contract for `netstack serve`). */
import { Address } from "../tcpip/address.ts";
import { parseMACAddress } from "../tcpip/link-address.ts";
import { parseAddressWithPrefix, Subnet } from "../tcpip/subnet.ts";
import { bool, FlagError, type FlagSpec, intFlag, list, type ParsedFlags, str } from "./flags.ts";

export const SERVE_FLAGS: FlagSpec[] = [
  {
    name: "tun",
    kind: "string",
    value: "NAME",
    help: "attach to (or create) TUN device NAME (default ns-tun0 when neither --tun nor --tap)",
  },
  { name: "tap", kind: "string", value: "NAME", help: "attach to (or create) TAP device NAME" },
  {
    name: "addr",
    kind: "list",
    value: "CIDR",
    help: "address of the user-space stack, IPv4 or IPv6 (default 198.18.0.2/24)",
  },
  {
    name: "host-addr",
    kind: "list",
    value: "CIDR",
    help: "address given to the kernel side of a device netstack creates (default 198.18.0.1/24)",
  },
  { name: "mac", kind: "string", value: "MAC", help: "link address of the stack on a TAP device" },
  {
    name: "route",
    kind: "list",
    value: "DEST,GATEWAY",
    help: "route; DEST is a CIDR or 'default'; GATEWAY optional (on-link)",
  },
  { name: "mtu", kind: "string", value: "N", help: "MTU of the device (576..65535)" },
  { name: "offload", kind: "bool", help: "use IFF_VNET_HDR segmentation/checksum offload (TSO/GRO)" },
  {
    name: "io-threads",
    kind: "bool",
    help: "TUN: packet read()/write() on worker threads (more bulk throughput, more latency)",
  },
  {
    name: "io-uring",
    kind: "bool",
    help: "read and write packets in batches through io_uring, not one syscall each (not with --offload or --io-threads; falls back to read/write where io_uring is off)",
  },
  {
    name: "api",
    kind: "string",
    value: "HOST:PORT|unix:PATH",
    help: "REST API address (default 127.0.0.1:7070)",
  },
  { name: "api-open-reads", kind: "bool", help: "let read-only API calls through without the token" },
  {
    name: "token-file",
    kind: "string",
    value: "PATH",
    help: "API token file; created with mode 0600 if missing (default ./netstack.token)",
  },
  { name: "db", kind: "string", value: "PATH", help: "SQLite database (default ./netstack.db)" },
  { name: "pcap", kind: "string", value: "FILE", help: "write every packet to a pcap file" },
  {
    name: "service",
    kind: "list",
    value: "KIND[/udp][:PORT]",
    help: "diagnostic service: echo, discard, chargen, http",
  },
  {
    name: "stats-interval",
    kind: "string",
    value: "MS",
    help: "stats sampling interval in ms (default 10000; 0 disables)",
  },
  {
    name: "stats-retention",
    kind: "string",
    value: "MS",
    help: "keep stats samples this long (default 86400000)",
  },
  {
    name: "conntrack-interval",
    kind: "string",
    value: "MS",
    help: "periodic conntrack snapshot interval (default 60000; 0 disables)",
  },
  {
    name: "user",
    kind: "string",
    value: "NAME|UID[:GID]",
    help: "after setup, switch to this user (and group); keeps only CAP_NET_ADMIN",
  },
  {
    name: "no-runtime-nics",
    kind: "bool",
    help: "keep no capability after setup; POST /v1/nics answers 403",
  },
  { name: "log-level", kind: "string", value: "LEVEL", help: "debug, info, warn or error (default info)" },
  { name: "config", kind: "string", value: "FILE", help: "read flags from a JSON file" },
  { name: "help", kind: "bool", help: "show this help" },
];

export type ServiceKind = "echo" | "discard" | "chargen" | "http";

export interface ServiceFlag {
  kind: ServiceKind;
  protocol: "tcp" | "udp";
  port: number;
}

export interface RouteFlag {
  destination: Subnet;
  gateway?: Address;
}

export type ApiAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export interface ServeConfig {
  device: { kind: "tun" | "tap"; name: string; explicit: boolean };
  addrs: { address: Address; prefixLen: number }[];
  hostAddrs: { address: Address; prefixLen: number }[];
  mac?: string;
  routes: RouteFlag[];
  mtu?: number;
  offload: boolean;
  /** --io-threads: TUN NICs do their packet syscalls on worker threads (link-opener.ts). */
  ioThreads?: boolean;
  /** --io-uring: FdEndpoint NICs batch their reads and writes through io_uring (fd-endpoint.ts `ioUring`). */
  ioUring?: boolean;
  api: ApiAddress;
  apiOpenReads: boolean;
  tokenFile: string;
  db: string;
  pcap?: string;
  services: ServiceFlag[];
  statsIntervalMs: number;
  statsRetentionMs: number;
  conntrackIntervalMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** --user: switch to this user after setup (src/cli/privileges.ts). */
  user?: string;
  /** --no-runtime-nics: drop CAP_NET_ADMIN too; POST /v1/nics answers 403. */
  noRuntimeNics?: boolean;
}

const DEFAULT_PORTS: Record<ServiceKind, number> = { echo: 7, discard: 9, chargen: 19, http: 80 };

export function parseService(text: string): ServiceFlag {
  const m = /^(echo|discard|chargen|http)(\/(udp|tcp))?(:([0-9]{1,5}))?$/.exec(text);
  if (!m)
    throw new FlagError(
      "--service",
      `"${text}" is not KIND[/udp][:PORT] with KIND echo, discard, chargen or http`,
    );
  const kind = m[1] as ServiceKind;
  const protocol = (m[3] ?? "tcp") as "tcp" | "udp";
  const port = m[5] === undefined ? DEFAULT_PORTS[kind] : Number(m[5]);
  if (port < 1 || port > 65535)
    throw new FlagError("--service", `port ${port} in "${text}" is outside 1..65535`);
  if (protocol === "udp" && (kind === "chargen" || kind === "http"))
    throw new FlagError("--service", `${kind} runs over tcp only`);
  return { kind, protocol, port };
}

export function parseRoute(text: string): RouteFlag {
  const [dest, gw, ...rest] = text.split(",");
  if (!dest || rest.length > 0) throw new FlagError("--route", `"${text}" is not DEST[,GATEWAY]`);
  const gateway = gw === undefined || gw === "" ? undefined : Address.tryParse(gw);
  if (gw && !gateway) throw new FlagError("--route", `gateway "${gw}" is not an IP address`);
  let destination: Subnet;
  if (dest === "default") destination = Subnet.parse(gateway?.is6 ? "::/0" : "0.0.0.0/0");
  else {
    try {
      destination = Subnet.parse(dest.includes("/") ? dest : `${dest}/${dest.includes(":") ? 128 : 32}`);
    } catch {
      throw new FlagError("--route", `destination "${dest}" is not a CIDR or 'default'`);
    }
  }
  if (gateway && gateway.length !== destination.id.length)
    throw new FlagError("--route", `gateway ${gateway} and ${dest} are different families`);
  return gateway ? { destination, gateway } : { destination };
}

export function parseApi(text: string): ApiAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (!path) throw new FlagError("--api", "unix: needs a path");
    return { kind: "unix", path };
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):([0-9]{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new FlagError("--api", `"${text}" is not HOST:PORT or unix:PATH`);
  return { kind: "tcp", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

function cidrs(f: ParsedFlags, name: string, dflt: string[]): { address: Address; prefixLen: number }[] {
  const v = list(f, name);
  return (v.length ? v : dflt).map((t) => {
    try {
      return parseAddressWithPrefix(t);
    } catch {
      throw new FlagError(`--${name}`, `"${t}" is not an IPv4 or IPv6 address with optional /prefix`);
    }
  });
}

export function serveConfig(f: ParsedFlags): ServeConfig {
  const tun = str(f, "tun");
  const tap = str(f, "tap");
  if (tun && tap) throw new FlagError("--tap", "give either --tun or --tap, not both");
  for (const [flag, name] of [["--tun", tun] as const, ["--tap", tap] as const]) {
    if (name !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(name)) {
      throw new FlagError(flag, `device name "${name}" must be 1..15 letters, digits, '_', '.' or '-'`);
    }
  }
  const device = tap
    ? { kind: "tap" as const, name: tap, explicit: true }
    : { kind: "tun" as const, name: tun ?? "ns-tun0", explicit: !!tun };
  const mac = str(f, "mac");
  if (mac !== undefined) {
    if (device.kind !== "tap") throw new FlagError("--mac", "only applies to --tap devices");
    try {
      parseMACAddress(mac);
    } catch (e) {
      throw new FlagError("--mac", (e as Error).message);
    }
  }
  const level = str(f, "log-level") ?? "info";
  if (!["debug", "info", "warn", "error"].includes(level))
    throw new FlagError("--log-level", `"${level}" is not debug, info, warn or error`);
  const mtu = intFlag(f, "mtu", 576, 65535);
  const cfg: ServeConfig = {
    device,
    addrs: cidrs(f, "addr", ["198.18.0.2/24"]),
    hostAddrs: cidrs(f, "host-addr", device.explicit ? [] : ["198.18.0.1/24"]),
    routes: list(f, "route").map(parseRoute),
    offload: bool(f, "offload"),
    api: parseApi(str(f, "api") ?? "127.0.0.1:7070"),
    apiOpenReads: bool(f, "api-open-reads"),
    tokenFile: str(f, "token-file") ?? "./netstack.token",
    db: str(f, "db") ?? "./netstack.db",
    services: list(f, "service").map(parseService),
    statsIntervalMs: intFlag(f, "stats-interval", 0, 86_400_000) ?? 10_000,
    statsRetentionMs: intFlag(f, "stats-retention", 1000, 3650 * 86_400_000) ?? 86_400_000,
    conntrackIntervalMs: intFlag(f, "conntrack-interval", 0, 86_400_000) ?? 60_000,
    logLevel: level as ServeConfig["logLevel"],
  };
  if (mac !== undefined) cfg.mac = mac;
  if (mtu !== undefined) cfg.mtu = mtu;
  const user = str(f, "user");
  if (user !== undefined) cfg.user = user;
  if (bool(f, "no-runtime-nics")) cfg.noRuntimeNics = true;
  if (bool(f, "io-threads")) {
    if (device.kind !== "tun") throw new FlagError("--io-threads", "only applies to --tun devices");
    cfg.ioThreads = true;
  }
  if (bool(f, "io-uring")) {
    if (cfg.offload) throw new FlagError("--io-uring", "does not apply with --offload (virtio-net header)");
    if (cfg.ioThreads) throw new FlagError("--io-uring", "does not apply with --io-threads");
    cfg.ioUring = true;
  }
  const pcap = str(f, "pcap");
  if (pcap !== undefined) cfg.pcap = pcap;
  const seen = new Set<string>();
  for (const s of cfg.services) {
    const k = `${s.protocol}:${s.port}`;
    if (seen.has(k)) throw new FlagError("--service", `two services on ${s.protocol} port ${s.port}`);
    seen.add(k);
  }
  return cfg;
}

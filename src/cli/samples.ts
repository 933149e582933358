/**
 * The seed's samples as subcommands:
 * - `tun-tcp-echo`: listens on PORT on the user-space stack and echoes every connection;
 * - `tun-tcp-connect`: connects from the user-space stack to HOST PORT, copies stdin to the
 *   connection and the connection to stdout, and exits when both directions are closed.
 */
import { readFileSync } from "node:fs";
import { connect, createServer } from "../adapters/net/server.ts";
import { Address } from "../tcpip/address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { parseAddressWithPrefix, Subnet } from "../tcpip/subnet.ts";
import { buildStack } from "./build-stack.ts";
import {
  bool,
  FlagError,
  type FlagSpec,
  helpText,
  intFlag,
  list,
  type ParsedFlags,
  parseFlags,
  str,
} from "./flags.ts";
import { tunOpener } from "./link-opener.ts";
import { createLogger } from "./logger.ts";
import { parseRoute } from "./serve-config.ts";

const SAMPLE_FLAGS: FlagSpec[] = [
  { name: "tun", kind: "string", value: "NAME", help: "TUN device to attach to (or create)" },
  { name: "tap", kind: "string", value: "NAME", help: "TAP device to attach to (or create)" },
  { name: "addr", kind: "list", value: "CIDR", help: "address of the user-space stack (required)" },
  { name: "route", kind: "list", value: "DEST,GATEWAY", help: "route; DEST is a CIDR or 'default'" },
  { name: "mac", kind: "string", value: "MAC", help: "link address on a TAP device" },
  { name: "mtu", kind: "string", value: "N", help: "device MTU" },
  { name: "offload", kind: "bool", help: "IFF_VNET_HDR offloads" },
  { name: "pcap", kind: "string", value: "FILE", help: "capture every packet" },
  { name: "log-level", kind: "string", value: "LEVEL", help: "debug, info, warn, error (default warn)" },
  { name: "config", kind: "string", value: "FILE", help: "read flags from a JSON file" },
  { name: "help", kind: "bool", help: "show this help" },
];

function port(text: string | undefined, flag: string): number {
  if (text === undefined || !/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new FlagError(flag, `"${text ?? ""}" is not a port (1..65535)`);
  }
  return Number(text);
}

async function withStack(
  f: ParsedFlags,
  run: (stack: ReturnType<typeof buildStack>) => Promise<number>,
): Promise<number> {
  const tun = str(f, "tun");
  const tap = str(f, "tap");
  if (!tun && !tap) throw new FlagError("--tun", "give --tun NAME or --tap NAME");
  if (tun && tap) throw new FlagError("--tap", "give either --tun or --tap, not both");
  const addrs = list(f, "addr").map((t) => {
    try {
      return parseAddressWithPrefix(t);
    } catch {
      throw new FlagError("--addr", `"${t}" is not an address with optional /prefix`);
    }
  });
  if (addrs.length === 0) throw new FlagError("--addr", "at least one address is required");
  const routes = list(f, "route").map(parseRoute);
  const mtu = intFlag(f, "mtu", 576, 65535);
  const log = createLogger((str(f, "log-level") ?? "warn") as "warn");
  const stack = buildStack();
  const mac = str(f, "mac");
  const pcap = str(f, "pcap");
  const dev = tunOpener.open(
    {
      kind: tap ? "tap" : "tun",
      name: (tap ?? tun)!,
      offload: bool(f, "offload"),
      ...(mac !== undefined ? { mac } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
      ...(pcap !== undefined ? { pcap } : {}),
    },
    stack.clock,
    (e: unknown) => log.warn("link error", { error: String(e) }),
  );
  try {
    stack.createNIC(1, dev.link, { name: dev.name });
  } catch (e) {
    dev.close();
    throw e;
  }
  try {
    for (const a of addrs) {
      stack.addAddress(
        1,
        a.address.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER,
        a.address,
        a.prefixLen,
      );
      if (a.prefixLen < a.address.length * 8)
        stack.addRoute({ destination: Subnet.fromPrefix(a.address, a.prefixLen), nic: 1 });
    }
    for (const r of routes)
      stack.addRoute({ destination: r.destination, ...(r.gateway ? { gateway: r.gateway } : {}), nic: 1 });
    return await run(stack);
  } finally {
    stack.close();
    dev.close();
  }
}

export async function tunTcpEchoCommand(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const f = parseFlags(argv, SAMPLE_FLAGS, env, (p) => readFileSync(p, "utf8"));
  if (f.values.get("help")) {
    process.stdout.write(helpText("tun-tcp-echo", "--tun NAME --addr CIDR [flags] PORT", SAMPLE_FLAGS));
    return 0;
  }
  if (f.positionals.length !== 1)
    throw new FlagError("PORT", "tun-tcp-echo takes exactly one argument, the port");
  const p = port(f.positionals[0], "PORT");
  return withStack(f, async (stack) => {
    const server = createServer(stack, { allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: p, host: "::" }, () => resolve());
    });
    process.stdout.write(`ready echo port=${p}\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    for (const s of server.connections) s.destroy();
    server.close();
    return 0;
  });
}

export async function tunTcpConnectCommand(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const f = parseFlags(argv, SAMPLE_FLAGS, env, (p) => readFileSync(p, "utf8"));
  if (f.values.get("help")) {
    process.stdout.write(
      helpText("tun-tcp-connect", "--tun NAME --addr CIDR [flags] HOST PORT", SAMPLE_FLAGS),
    );
    return 0;
  }
  if (f.positionals.length !== 2)
    throw new FlagError("HOST", "tun-tcp-connect takes two arguments: HOST PORT");
  const host = Address.tryParse(f.positionals[0]!);
  if (!host) throw new FlagError("HOST", `"${f.positionals[0]}" is not an IP address`);
  const p = port(f.positionals[1], "PORT");
  return withStack(f, async (stack) => {
    const sock = connect(stack, { port: p, host: host.toString() });
    // Copy both ways; exit once both directions are closed (the seed's behaviour).
    return await new Promise<number>((resolve) => {
      let failed = false;
      sock.on("error", (e: Error) => {
        failed = true;
        process.stderr.write(`netstack tun-tcp-connect: ${e.message}\n`);
      });
      sock.on("connect", () => {
        process.stdin.pipe(sock);
      });
      sock.on("data", (d: Uint8Array) => {
        if (!process.stdout.write(d)) {
          sock.pause();
          process.stdout.once("drain", () => sock.resume());
        }
      });
      sock.on("close", () => {
        process.stdin.unpipe(sock);
        process.stdin.destroy();
        resolve(failed ? 1 : 0);
      });
    });
  });
}

#!/usr/bin/env bun
/**
 * The netstack executable. Exit codes (DESIGN.md): 0 clean shutdown, 2 bad
 * flags (one line naming the flag), 1 runtime failure (one line with the reason).
 */
import { FlagError } from "./cli/flags.ts";
import { tunTcpConnectCommand, tunTcpEchoCommand } from "./cli/samples.ts";
import { serveCommand } from "./cli/serve.ts";
import { VERSION } from "./cli/version.ts";

const USAGE = `netstack ${VERSION}: a user-space TCP/IP stack on a TUN/TAP device

Usage:
  netstack serve [flags]            run the stack, services and the REST API (default command)
  netstack tun-tcp-echo [flags] PORT   echo every TCP connection to PORT on the user-space stack
  netstack tun-tcp-connect [flags] HOST PORT   connect from the user-space stack; stdin/stdout
  netstack version                  print the version
  netstack COMMAND --help           flags of a command
`;

function errno(e: unknown): string | undefined {
  return (e as { code?: string })?.code;
}

/** A one-line reason, with how to fix the common ones. */
function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const code = errno(e);
  if (code === "EPERM" || code === "EACCES" || /permission|not permitted/i.test(msg)) {
    return `${msg.split("\n")[0]} (run as root, or grant CAP_NET_ADMIN: sudo setcap cap_net_admin+ep dist/netstack)`;
  }
  if (code === "EADDRINUSE") return `${msg.split("\n")[0]} (is another netstack running? pick another --api)`;
  return msg.split("\n")[0]!;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd = "serve", ...rest] = argv[0]?.startsWith("--") ? ["serve", ...argv] : argv;
  try {
    switch (cmd) {
      case "serve":
        return await serveCommand(rest, process.env);
      case "tun-tcp-echo":
        return await tunTcpEchoCommand(rest, process.env);
      case "tun-tcp-connect":
        return await tunTcpConnectCommand(rest, process.env);
      case "version":
      case "--version":
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case "help":
      case "-h":
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`netstack: unknown command "${cmd}"\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`netstack ${cmd}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`netstack ${cmd}: ${reason(e)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}

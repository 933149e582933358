#!/usr/bin/env bun
/**
 * The netstack executable. Exit codes (DESIGN.md): 0 clean shutdown, 2 bad
 * flags (one line naming the flag), 1 runtime failure (one line with the reason).
 */
import { FlagError } from "./cli/flags.ts";
import { VERSION } from "./cli/version.ts";
import { execve } from "./link/rawfile/exec.ts";

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
        // Loaded here, not at the top: `serve` may execute itself again first (tuneAllocator), and
        // top-level imports were parsed twice (`serve --help` 0.19 s alone, 0.40 s with the re-exec;
        // 0.23 s loaded here).
        return await (await import("./cli/serve.ts")).serveCommand(rest, process.env);
      case "tun-tcp-echo":
        return await (await import("./cli/samples.ts")).tunTcpEchoCommand(rest, process.env);
      case "tun-tcp-connect":
        return await (await import("./cli/samples.ts")).tunTcpConnectCommand(rest, process.env);
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

/**
 * The allocator's page purge, tuned before `serve` runs. Bun's allocator
 * (mimalloc) returns emptied pages to the kernel 10 ms after they empty
 * (`purge_delay`); a stack that receives into fresh arrays and frees them a
 * moment later then takes page faults on every packet's memory again. With
 * pages kept 1 s, tun.bench upload (1 GiB, quiet VM, 2 interleaved pairs) went
 * 0.86/0.86 → 1.28/1.23 Gbit/s on plain TUN and 2.95/3.03 → 4.10/4.17 with
 * `--offload` (download unchanged within the noise). mimalloc reads the option
 * from the environment once, at start-up, so `serve` sets it and executes
 * itself again (execve: the same PID, so signals and supervisors see one
 * process), unless the operator set MIMALLOC_PURGE_DELAY already, or
 * NETSTACK_NO_REEXEC=1. A failed execve leaves the process as it was.
 */
function tuneAllocator(args: readonly string[]): void {
  if (process.platform !== "linux") return;
  const cmd = args[0] === undefined || args[0].startsWith("--") ? "serve" : args[0];
  if (cmd !== "serve") return;
  if (process.env.MIMALLOC_PURGE_DELAY !== undefined || process.env.NETSTACK_NO_REEXEC === "1") return;
  // A `bun build --compile` executable runs its embedded entry point itself: argv[1] is that virtual path.
  const compiled = process.argv[1]?.startsWith("/$bunfs/") === true;
  const argv = compiled
    ? [process.execPath, ...args]
    : [process.execPath, ...process.execArgv, process.argv[1]!, ...args];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.MIMALLOC_PURGE_DELAY = "1000";
  try {
    execve(process.execPath, argv, env);
  } catch {
    // Not fatal: the stack runs with the allocator's defaults.
  }
}

if (import.meta.main) {
  tuneAllocator(process.argv.slice(2));
  const code = await main(process.argv.slice(2));
  process.exit(code);
}

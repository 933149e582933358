/**
 * What the interop tests that run the compiled `netstack serve` share: its
 * argument list for one TUN with an IPv4 and an IPv6 address, the REST API on
 * 127.0.0.1:7070 inside the test's namespace, and state files in `dir`; and
 * the hash of the bytes chargen (RFC 864) sends first.
 */
import { join } from "node:path";
import { chargenChunk } from "../../src/services/chargen.ts";
import { sha256 } from "./drivers/pattern.ts";

export interface ServeArgs {
  bin: string;
  tun: string;
  /** "ADDR/LEN" each. */
  addrs: string[];
  mtu: number;
  /** Where the database and the token file go. */
  dir: string;
  /** `--service` values. */
  services: string[];
  /** More flags (`--offload`, `--io-threads`). */
  flags?: string[];
}

export function serveArgs(o: ServeArgs): string[] {
  return [
    o.bin,
    "serve",
    "--tun",
    o.tun,
    ...(o.flags ?? []),
    ...o.addrs.flatMap((a) => ["--addr", a]),
    "--mtu",
    String(o.mtu),
    "--api",
    "127.0.0.1:7070",
    "--db",
    join(o.dir, "netstack.db"),
    "--token-file",
    join(o.dir, "token"),
    ...o.services.flatMap((s) => ["--service", s]),
  ];
}

/** SHA-256 of the first `size` bytes chargen sends on a connection. */
export function chargenPrefix(size: number): string {
  const chunk = chargenChunk(1);
  const b = new Uint8Array(size);
  for (let off = 0; off < size; off += chunk.length)
    b.set(chunk.subarray(0, Math.min(chunk.length, size - off)), off);
  return sha256(b);
}

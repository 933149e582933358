/**
 * One end of the sharedmem interop test, in its own process: maps the memfd
 * region passed as fd 3 (memfd.ts), opens side 0 or 1 of it, builds the
 * appliance's stack over it (IP packets, or Ethernet frames with ARP when the
 * region was made with `frames`) and either
 *
 *   server SIDE ADDR PORT              hashes one TCP connection's bytes until the
 *                                      peer's FIN, answers "<bytes> <sha256>\n"
 *   client SIDE ADDR PEER PORT BYTES SEED  connects, sends the seeded pattern, half-closes,
 *                                      and reads the answer
 *
 * then prints one JSON line and exits 0 (1 on an error, 2 if nothing happened for 60 s).
 * Knobs for measuring: SHM_SPIN_MS (the endpoint's spinMs), SHM_WAIT=poll (poll instead of futex).
 */
import { createHash } from "node:crypto";
import { connect, createServer } from "../../../src/adapters/net/server.ts";
import type { Socket } from "../../../src/adapters/net/socket.ts";
import { buildStack } from "../../../src/cli/build-stack.ts";
import { EthernetEndpoint } from "../../../src/link/ethernet/ethernet.ts";
import { openMemfdRegion } from "../../../src/link/sharedmem/memfd.ts";
import { readSharedMemRegion } from "../../../src/link/sharedmem/region.ts";
import { SharedMemEndpoint } from "../../../src/link/sharedmem/sharedmem.ts";
import { parseMACAddress } from "../../../src/tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../../src/tcpip/protocols.ts";
import { parseAddressWithPrefix, Subnet } from "../../../src/tcpip/subnet.ts";
import { pattern } from "./pattern.ts";

const [role, sideText, addrText = "", ...rest] = process.argv.slice(2);
const side = Number(sideText) as 0 | 1;
const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const region = openMemfdRegion(3);
const frames = readSharedMemRegion(region).frames;
// Frame mode: each side has its own MAC and an EthernetEndpoint on top (ARP resolves the peer).
const link = new SharedMemEndpoint(region, {
  side,
  ...(process.env.SHM_SPIN_MS ? { spinMs: Number(process.env.SHM_SPIN_MS) } : {}),
  ...(process.env.SHM_WAIT === "poll" ? { crossProcessWait: "poll" as const, pollMs: 1 } : {}),
  ...(frames ? { linkAddress: parseMACAddress(`02:00:00:00:00:0${side + 1}`) } : {}),
});
const stack = buildStack();
stack.createNIC(1, frames ? new EthernetEndpoint(link) : link, { name: `shm${side}` });
const a = parseAddressWithPrefix(addrText);
stack.addAddress(1, IPV4_PROTOCOL_NUMBER, a.address, a.prefixLen);
stack.addRoute({ destination: Subnet.fromPrefix(a.address, a.prefixLen), nic: 1 });

const guard = setTimeout(() => {
  out({ error: "timeout", link: link.stats });
  process.exit(2);
}, 60_000);

function finish(o: Record<string, unknown>, code = 0): void {
  clearTimeout(guard);
  out({ ...o, link: link.stats });
  // Let the last segments (our FIN's ACK) leave before the mapping goes.
  setTimeout(() => process.exit(code), 200);
}

function hashAll(s: Socket, done: (r: { bytes: number; sha256: string; ms: number }) => void): void {
  const h = createHash("sha256");
  let n = 0;
  let first = 0;
  s.on("data", (d: Uint8Array) => {
    if (n === 0) first = performance.now();
    h.update(d);
    n += d.length;
  });
  s.on("end", () => done({ bytes: n, sha256: h.digest("hex"), ms: performance.now() - first }));
}

if (role === "server") {
  const port = Number(rest[0]);
  const server = createServer(stack, { allowHalfOpen: true }, (s) => {
    s.on("error", (e) => finish({ error: String(e) }, 1));
    hashAll(s, (r) => {
      s.end(`${r.bytes} ${r.sha256}\n`, () => finish(r));
    });
  });
  server.listen({ port, host: "0.0.0.0" }, () => out({ listening: true }));
} else {
  const [peer = "", portText = "0", bytesText = "0", seedText = "1"] = rest;
  const data = pattern(Number(bytesText), Number(seedText));
  const s = connect(stack, { port: Number(portText), host: peer });
  s.on("error", (e) => finish({ error: String(e) }, 1));
  let reply = "";
  s.setEncoding("utf8");
  s.on("data", (d: string) => {
    reply += d;
  });
  s.on("end", () => finish({ reply, ms: performance.now() - t0 }));
  let t0 = 0;
  s.on("connect", async () => {
    t0 = performance.now();
    const CHUNK = 1 << 20;
    for (let off = 0; off < data.length; off += CHUNK) {
      if (!s.write(data.subarray(off, Math.min(data.length, off + CHUNK))))
        await new Promise((r) => s.once("drain", r));
    }
    s.end();
  });
}

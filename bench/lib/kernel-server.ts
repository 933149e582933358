/**
 * The kernel side of the baseline: discard (RFC 863), chargen-style source
 * (RFC 864) and echo (RFC 862) over kernel sockets (node:net), behaving as
 * `netstack serve --service discard --service chargen --service echo` does:
 * discard reads and closes once the peer has; chargen writes ~63 KiB chunks
 * until the peer goes away; echo sends back what it reads.
 *
 *   bun bench/lib/kernel-server.ts HOST [DISCARD_PORT CHARGEN_PORT ECHO_PORT]
 *
 * Prints `ready` once all three listen. Stops on SIGTERM/SIGINT.
 */
import net from "node:net";

const host = process.argv[2] ?? "0.0.0.0";
const [discardPort, chargenPort, echoPort] = [
  Number(process.argv[3] ?? 9),
  Number(process.argv[4] ?? 19),
  Number(process.argv[5] ?? 7),
];

/** 95 printable characters rotated by one per 72-character line, as RFC 864's example. */
function chargenChunk(lines: number): Uint8Array {
  const out = new Uint8Array(lines * 74);
  let o = 0;
  for (let l = 0; l < lines; l++) {
    for (let i = 0; i < 72; i++) out[o++] = 32 + ((l + i) % 95);
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}
const CHARGEN = chargenChunk(95 * 9);

const servers: net.Server[] = [];
function listen(port: number, onConn: (s: net.Socket) => void): Promise<void> {
  const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on("error", () => {});
    onConn(s);
  });
  servers.push(srv);
  return new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen({ port, host, backlog: 4096 }, () => resolve());
  });
}

await Promise.all([
  listen(discardPort, (s) => {
    s.on("data", () => {});
    s.on("end", () => s.end());
  }),
  listen(chargenPort, (s) => {
    s.setNoDelay(false);
    s.on("data", () => {});
    s.on("end", () => s.destroy());
    const pump = () => {
      while (!s.destroyed && s.write(CHARGEN)) {}
    };
    s.on("drain", pump);
    pump();
  }),
  listen(echoPort, (s) => {
    s.pipe(s);
  }),
]);
process.stdout.write("ready\n");

const stop = () => {
  for (const s of servers) s.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

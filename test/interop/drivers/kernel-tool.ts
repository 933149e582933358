/**
 * The kernel's side of the interop tests: ordinary `node:net` / `node:dgram`
 * sockets (Linux's stack), run inside the test's namespace. Prints one JSON line.
 *
 *   send HOST PORT BYTES [SEED]   connect, send the seeded pattern, shut down writing,
 *                                 then read the peer's reply to its end (half-close);
 *                                 reports its length and SHA-256 (and the text up to 4 KiB)
 *   conns HOST PORT N             N connections at once to an echo service; each sends
 *                                 its own message, half-closes and must get exactly it back
 *   udp-echo HOST PORT            a UDP echo server (prints {"listening":true} first)
 *   tcp-server HOST PORT          a TCP listener that answers "pong:<what it read>" after the
 *                                 client's FIN (prints {"listening":true} first)
 *
 * The kernel's TCP echo listener is tcp-echo.py: Bun's listen(2) backlog is always 512.
 */
import { createSocket } from "node:dgram";
import net from "node:net";
import { pattern, sha256 } from "./pattern.ts";

const [mode, host = "", portText = "0", arg = "0", seedText] = process.argv.slice(2);
const port = Number(portText);
const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

function send(): void {
  const data = pattern(Number(arg), seedText === undefined ? undefined : Number(seedText));
  const chunks: Buffer[] = [];
  const t0 = performance.now();
  let sentMs = 0;
  const s = net.connect({ host, port }, () => {
    s.end(data, () => {
      sentMs = performance.now() - t0;
    });
  });
  s.on("data", (d: Buffer) => chunks.push(d));
  s.on("end", () => {
    const reply = Buffer.concat(chunks);
    out({
      ...(reply.length <= 4096 ? { reply: reply.toString() } : {}),
      replyBytes: reply.length,
      replySha256: sha256(reply),
      sentMs,
      ms: performance.now() - t0,
    });
    process.exit(0);
  });
  s.on("error", (e: Error & { code?: string }) => {
    out({ error: e.code ?? e.message });
    process.exit(1);
  });
}

function conns(): void {
  const n = Number(arg);
  let ok = 0;
  let done = 0;
  const bad: string[] = [];
  const finish = () => {
    if (++done < n) return;
    out({ ok, bad: bad.length, examples: bad.slice(0, 5) });
    process.exit(0);
  };
  for (let i = 0; i < n; i++) {
    const msg = `connection ${i} says ${"x".repeat(i % 97)}\n`;
    let got = "";
    const s = net.connect({ host, port }, () => s.end(msg));
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      got += d;
    });
    s.on("end", () => {
      if (got === msg) ok++;
      else bad.push(`${i}: got ${JSON.stringify(got.slice(0, 40))}`);
      finish();
    });
    s.on("error", (e: Error & { code?: string }) => {
      bad.push(`${i}: ${e.code ?? e.message}`);
      finish();
    });
  }
}

function udpEcho(): void {
  const sock = createSocket(host.includes(":") ? "udp6" : "udp4");
  sock.on("message", (m, r) => sock.send(m, r.port, r.address));
  sock.bind(port, host, () => out({ listening: true }));
}

function tcpServer(): void {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    let got = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      got += d;
    });
    s.on("end", () => s.end(`pong:${got}`));
    s.on("error", () => {});
  });
  srv.listen(port, host, () => out({ listening: true }));
}

switch (mode) {
  case "send":
    send();
    break;
  case "conns":
    conns();
    break;
  case "udp-echo":
    udpEcho();
    break;
  case "tcp-server":
    tcpServer();
    break;
  default:
    out({ error: `unknown mode ${mode}` });
    process.exit(2);
}

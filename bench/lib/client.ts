/**
 * The benchmark client: one small Bun script on kernel sockets (node:net),
 * used unchanged against the kernel server (over veth) and against
 * `netstack serve` (over TUN), so the two figures differ only by the server
 * side and the path. Every mode is bounded by a count and by a time limit and
 * prints one JSON line on stdout, then exits by itself.
 *
 *   bun bench/lib/client.ts upload   HOST PORT BYTES LIMIT_MS   # write BYTES, half-close, wait for the server's FIN
 *   bun bench/lib/client.ts download HOST PORT BYTES LIMIT_MS   # read BYTES from a chargen-style source
 *   bun bench/lib/client.ts rr       HOST PORT COUNT LIMIT_MS   # 1-byte request, 1-byte response, one connection
 *   bun bench/lib/client.ts cps      HOST PORT COUNT LIMIT_MS   # connect, 1-byte echo, close, one after another
 *   bun bench/lib/client.ts idle     HOST PORT COUNT LIMIT_MS   # open COUNT idle connections, hold until SIGTERM / LIMIT_MS
 *
 * Output: {"mode":..,"count":..,"bytes":..,"seconds":..,"capped":bool,"error"?:string}.
 * `capped` says the time limit ended the run before the count was reached;
 * the rate is then computed over what was done in the time.
 */
import net from "node:net";

export interface ClientResult {
  mode: string;
  /** Bytes moved (upload/download) or operations done (rr/cps/idle). */
  count: number;
  bytes: number;
  seconds: number;
  capped: boolean;
  error?: string;
  /** rr only: round-trip time percentiles in microseconds. */
  p50us?: number;
  p99us?: number;
  /** The native client's rr also reports these (the shape of the tail). */
  p90us?: number;
  p999us?: number;
  maxus?: number;
}

const CHUNK = new Uint8Array(256 * 1024).fill(0x61);

function finish(r: ClientResult, code = 0): never {
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(code);
}

function upload(host: string, port: number, bytes: number, limitMs: number): void {
  let t0 = 0;
  let sent = 0;
  let capped = false;
  const sock = net.connect({ host, port });
  const pump = () => {
    while (sent < bytes) {
      const n = Math.min(CHUNK.length, bytes - sent);
      sent += n;
      if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return;
    }
    sock.end();
  };
  sock.on("connect", () => {
    t0 = performance.now();
    pump();
  });
  sock.on("drain", pump);
  sock.on("error", (e) =>
    finish({ mode: "upload", count: 0, bytes: sent, seconds: 0, capped, error: String(e.message) }, 1),
  );
  // The discard server closes its side once it has read our FIN: every byte has arrived.
  sock.on("close", () => {
    if (capped) return;
    finish({ mode: "upload", count: sent, bytes: sent, seconds: (performance.now() - t0) / 1000, capped });
  });
  setTimeout(() => {
    capped = true;
    // What is still in node's buffer has not reached the kernel, let alone the peer.
    const done = t0 ? sent - sock.writableLength : 0;
    const seconds = t0 ? (performance.now() - t0) / 1000 : limitMs / 1000;
    sock.destroy();
    finish({
      mode: "upload",
      count: done,
      bytes: done,
      seconds,
      capped,
      ...(t0 ? {} : { error: "no connection" }),
    });
  }, limitMs).unref();
}

function download(host: string, port: number, bytes: number, limitMs: number): void {
  let t0 = 0;
  let got = 0;
  const sock = net.connect({ host, port });
  sock.on("connect", () => {
    t0 = performance.now();
  });
  sock.on("data", (d: Buffer) => {
    got += d.length;
    if (got >= bytes) {
      const seconds = (performance.now() - t0) / 1000;
      sock.destroy();
      finish({ mode: "download", count: got, bytes: got, seconds, capped: false });
    }
  });
  sock.on("error", (e) =>
    finish({ mode: "download", count: got, bytes: got, seconds: 0, capped: false, error: e.message }, 1),
  );
  sock.on("close", () =>
    finish(
      {
        mode: "download",
        count: got,
        bytes: got,
        seconds: t0 ? (performance.now() - t0) / 1000 : 0,
        capped: false,
        error: "server closed early",
      },
      1,
    ),
  );
  setTimeout(() => {
    const seconds = t0 ? (performance.now() - t0) / 1000 : limitMs / 1000;
    sock.destroy();
    finish({ mode: "download", count: got, bytes: got, seconds, capped: true });
  }, limitMs).unref();
}

function rr(host: string, port: number, count: number, limitMs: number): void {
  const one = new Uint8Array([0x78]);
  const rtts = new Float64Array(count);
  let done = 0;
  let t0 = 0;
  let tSend = 0;
  let capped = false;
  const sock = net.connect({ host, port, noDelay: true });
  const report = () => {
    const seconds = (performance.now() - t0) / 1000;
    const s = rtts.subarray(0, done).sort();
    sock.destroy();
    finish({
      mode: "rr",
      count: done,
      bytes: done,
      seconds,
      capped,
      p50us: Math.round((s[Math.floor(done * 0.5)] ?? 0) * 1000),
      p99us: Math.round((s[Math.floor(done * 0.99)] ?? 0) * 1000),
    });
  };
  sock.on("connect", () => {
    t0 = performance.now();
    tSend = t0;
    sock.write(one);
  });
  sock.on("data", (d: Buffer) => {
    // One byte is outstanding at a time, so each chunk is one reply.
    for (let i = 0; i < d.length; i++) {
      const now = performance.now();
      rtts[done++] = now - tSend;
      if (done >= count || now - t0 >= limitMs) {
        capped = done < count;
        report();
      }
      tSend = now;
      sock.write(one);
    }
  });
  sock.on("error", (e) =>
    finish({ mode: "rr", count: done, bytes: done, seconds: 0, capped, error: e.message }, 1),
  );
  // A stall (no reply) ends the run here; the partial count is still reported.
  setTimeout(() => {
    capped = true;
    if (!t0)
      finish({ mode: "rr", count: 0, bytes: 0, seconds: limitMs / 1000, capped, error: "no connection" }, 1);
    report();
  }, limitMs + 2000).unref();
}

function cps(host: string, port: number, count: number, limitMs: number): void {
  const one = new Uint8Array([0x79]);
  let done = 0;
  let failed = 0;
  let lastError = "";
  const t0 = performance.now();
  const report = (capped: boolean) =>
    finish({
      mode: "cps",
      count: done,
      bytes: done,
      seconds: (performance.now() - t0) / 1000,
      capped,
      ...(failed ? { error: `${failed} failed connections, last: ${lastError}` } : {}),
    });
  const next = () => {
    if (done >= count) report(false);
    if (performance.now() - t0 >= limitMs) report(true);
    let echoed = false;
    const sock = net.connect({ host, port, noDelay: true });
    sock.on("connect", () => sock.write(one));
    sock.on("data", () => {
      echoed = true;
      sock.end();
    });
    sock.on("error", (e) => {
      lastError = e.message;
    });
    sock.on("close", () => {
      if (echoed) done++;
      else failed++;
      if (failed > 50) report(true);
      next();
    });
  };
  next();
  // If one connection stalls, the run ends at the limit (+2 s grace) with what was done.
  setTimeout(() => {
    lastError ||= "stalled";
    failed++;
    report(true);
  }, limitMs + 2000).unref();
}

function idle(host: string, port: number, count: number, limitMs: number): void {
  const socks: net.Socket[] = [];
  let open = 0;
  let failed = 0;
  let started = 0;
  const t0 = performance.now();
  const CONCURRENCY = 50;
  const end = (why: string) => {
    for (const s of socks) s.destroy();
    finish({
      mode: "idle",
      count: open,
      bytes: 0,
      seconds: (performance.now() - t0) / 1000,
      capped: why !== "done",
      ...(failed ? { error: `${failed} connections failed` } : {}),
    });
  };
  const launch = () => {
    while (started < count && started - open - failed < CONCURRENCY) {
      started++;
      const s = net.connect({ host, port });
      socks.push(s);
      let up = false;
      s.on("connect", () => {
        up = true;
        open++;
        if (open + failed === count) process.stdout.write(`open ${open}\n`);
        launch();
      });
      s.on("error", () => {});
      s.on("close", () => {
        if (!up) {
          failed++;
          if (open + failed === count) process.stdout.write(`open ${open}\n`);
          launch();
        }
      });
    }
  };
  launch();
  process.on("SIGTERM", () => end("done"));
  process.on("SIGINT", () => end("done"));
  setTimeout(() => end("limit"), limitMs).unref();
  // Keep the process alive while holding the connections.
  setInterval(() => {}, 1 << 30);
}

if (import.meta.main) {
  const [mode, host, portS, nS, limitS] = process.argv.slice(2);
  const port = Number(portS);
  const n = Number(nS);
  const limitMs = Number(limitS ?? 5000);
  if (!mode || !host || !Number.isFinite(port) || !Number.isFinite(n)) {
    console.error("usage: client.ts upload|download|rr|cps|idle HOST PORT N LIMIT_MS");
    process.exit(2);
  }
  // A hard stop whatever happens (a socket that never closes, a hung event loop turn).
  setTimeout(() => {
    finish({ mode, count: 0, bytes: 0, seconds: 0, capped: true, error: "hard timeout" }, 1);
  }, limitMs + 5000).unref();
  switch (mode) {
    case "upload":
      upload(host, port, n, limitMs);
      break;
    case "download":
      download(host, port, n, limitMs);
      break;
    case "rr":
      rr(host, port, n, limitMs);
      break;
    case "cps":
      cps(host, port, n, limitMs);
      break;
    case "idle":
      idle(host, port, n, limitMs);
      break;
    default:
      console.error(`unknown mode ${mode}`);
      process.exit(2);
  }
}

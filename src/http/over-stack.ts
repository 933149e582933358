/**
 * Serves any fetch handler (a Hono app) on connections accepted by the
 * user-space stack. HTTP/1.1 parsing, keep-alive, chunked bodies and
 * pipelining come from the runtime's own `node:http` server, fed our sockets
 * through its `connection` event (measured to work in Bun: research/bun-io.md §8),
 * so we do not maintain an HTTP parser.
 */
import { createServer, type Server } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { Socket } from "../adapters/net/socket.ts";

export interface FetchServer {
  /** Hands one accepted stack connection to the HTTP server. */
  handle(socket: Socket): void;
  close(): void;
  readonly server: Server;
}

export function serveFetch(
  fetch: (req: Request) => Response | Promise<Response>,
  opts: { keepAliveTimeoutMs?: number; requestTimeoutMs?: number } = {},
): FetchServer {
  // overrideGlobalObjects: false keeps the runtime's own Request/Response, which Bun.serve (the REST API) needs.
  const server = createServer(getRequestListener(fetch, { overrideGlobalObjects: false }));
  const idleMs = opts.keepAliveTimeoutMs ?? 5000;
  const requestMs = opts.requestTimeoutMs ?? 60_000;
  server.keepAliveTimeout = idleMs;
  server.requestTimeout = requestMs;
  // Bun's node:http enforces none of its timeouts on sockets handed to it through
  // `connection` (measured), so enforce them with the socket's own idle timer:
  // `idleMs` between requests (what `Keep-Alive: timeout=5` promises), `requestMs`
  // while a request is being read and answered.
  server.on("request", (req, res) => {
    const sock = req.socket as unknown as Socket;
    sock.setTimeout(requestMs);
    res.once("finish", () => {
      if (!sock.destroyed) sock.setTimeout(idleMs);
    });
  });
  return {
    server,
    handle(socket: Socket) {
      // A client reset is normal; it must not become an unhandled error.
      socket.on("error", () => {});
      socket.setTimeout(idleMs, () => socket.destroy());
      server.emit("connection", socket);
    },
    close() {
      server.close();
    },
  };
}

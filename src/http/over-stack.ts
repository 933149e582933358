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
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5000;
  server.requestTimeout = opts.requestTimeoutMs ?? 60_000;
  return {
    server,
    handle(socket: Socket) {
      server.emit("connection", socket);
    },
    close() {
      server.close();
    },
  };
}

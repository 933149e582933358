/**
 * Diagnostic services on the user-space stack (DESIGN.md `--service`):
 * echo (RFC 862, TCP/UDP), discard (RFC 863, TCP/UDP), chargen (RFC 864, TCP)
 * and http (a status page; the HTTP engine is injected by src/http, since the
 * pure core does not import an HTTP framework).
 */
import { createServer, type Server } from "../adapters/net/server.ts";
import type { Socket, StackLike } from "../adapters/net/socket.ts";
import type { Endpoint } from "../stack/registration.ts";
import { ErrWouldBlock, TcpipError } from "../tcpip/errors.ts";
import type { FullAddress } from "../tcpip/full-address.ts";
import { SockOpt } from "../tcpip/options.ts";
import { IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { type Entry, EventIn, Queue } from "../waiter/waiter.ts";
import { StreamService } from "./stream-service.ts";

export type ServiceKind = "echo" | "discard" | "chargen" | "http";

export interface ServiceSpec {
  kind: ServiceKind;
  protocol: "tcp" | "udp";
  port: number;
  keepalive?: { idleMs: number; intervalMs: number; count: number };
}

export interface RunningService {
  readonly id: number;
  readonly spec: ServiceSpec;
  /** Open connections (TCP) or datagrams answered (UDP). */
  readonly connections: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Handles one accepted HTTP connection (src/http feeds it to node:http with the status app). */
export type HttpConnectionHandler = (socket: Socket) => void;

export class ServiceError extends Error {
  constructor(
    readonly code: "EADDRINUSE" | "EINVAL",
    message: string,
  ) {
    super(message);
  }
}

interface Entry_ extends RunningService {
  connections: number;
  bytesIn: number;
  bytesOut: number;
  close(): Promise<void>;
}

export class ServiceManager {
  private readonly running = new Map<number, Entry_>();
  private nextId = 1;

  constructor(
    private readonly stack: StackLike,
    private readonly http?: HttpConnectionHandler,
  ) {}

  list(): RunningService[] {
    return [...this.running.values()].map((e) => ({
      id: e.id,
      spec: e.spec,
      connections: e.connections,
      bytesIn: e.bytesIn,
      bytesOut: e.bytesOut,
    }));
  }

  /** Starts a service; `id` lets the caller reuse a stored id. Throws `ServiceError` (port in use, bad spec). */
  async start(spec: ServiceSpec, id = this.nextId): Promise<RunningService> {
    if (this.running.has(id)) throw new ServiceError("EINVAL", `service id ${id} is taken`);
    for (const e of this.running.values()) {
      if (e.spec.protocol === spec.protocol && e.spec.port === spec.port) {
        throw new ServiceError(
          "EADDRINUSE",
          `${spec.protocol} port ${spec.port} is in use by service ${e.id} (${e.spec.kind})`,
        );
      }
    }
    this.nextId = Math.max(this.nextId, id + 1);
    const entry = spec.protocol === "tcp" ? await this.startTcp(id, spec) : this.startUdp(id, spec);
    this.running.set(id, entry);
    return entry;
  }

  async stop(id: number): Promise<boolean> {
    const e = this.running.get(id);
    if (!e) return false;
    this.running.delete(id);
    await e.close();
    return true;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
  }

  private async startTcp(id: number, spec: ServiceSpec): Promise<Entry_> {
    if (spec.kind === "http" && !this.http) throw new ServiceError("EINVAL", "no HTTP handler configured");
    const e: Entry_ = { id, spec, connections: 0, bytesIn: 0, bytesOut: 0, close: async () => {} };
    if (spec.kind !== "http") {
      // Straight on the endpoints: a node:net-style Socket per connection cost as much heap as the
      // TCP endpoint itself (issue 10). Its counters are live.
      let svc: StreamService;
      try {
        svc = new StreamService(this.stack, spec.kind, spec.port, e, { keepalive: spec.keepalive });
      } catch (err) {
        const code = (err as { code?: string }).code;
        throw new ServiceError(
          code === "EADDRINUSE" ? "EADDRINUSE" : "EINVAL",
          `cannot listen on tcp port ${spec.port}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      e.close = async () => svc.close();
      return e;
    }
    const server: Server = createServer(this.stack, { allowHalfOpen: true, noDelay: true }, (s) => {
      e.connections++;
      s.on("close", () => {
        e.connections--;
        e.bytesIn += s.bytesRead;
        e.bytesOut += s.bytesWritten;
      });
      s.on("error", () => {});
      if (spec.keepalive) {
        const ep = s.endpoint!;
        ep.setSockOpt(SockOpt.KeepaliveEnabled, true);
        ep.setSockOpt(SockOpt.KeepaliveIdle, spec.keepalive.idleMs);
        ep.setSockOpt(SockOpt.KeepaliveInterval, spec.keepalive.intervalMs);
        ep.setSockOpt(SockOpt.KeepaliveCount, spec.keepalive.count);
      }
      this.http!(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: Error & { code?: string }) =>
        reject(
          new ServiceError(
            err.code === "EADDRINUSE" ? "EADDRINUSE" : "EINVAL",
            `cannot listen on tcp port ${spec.port}: ${err.message}`,
          ),
        ),
      );
      server.listen({ port: spec.port, host: "::" }, () => resolve());
    });
    e.close = () =>
      new Promise<void>((resolve) => {
        for (const s of server.connections) s.destroy();
        server.close(() => resolve());
      });
    return e;
  }

  private startUdp(id: number, spec: ServiceSpec): Entry_ {
    if (spec.kind !== "echo" && spec.kind !== "discard")
      throw new ServiceError("EINVAL", `${spec.kind} runs over tcp only`);
    const wq = new Queue();
    const ep: Endpoint = this.stack.newEndpoint(UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, wq);
    try {
      ep.bind({ port: spec.port });
    } catch (err) {
      ep.close();
      throw new ServiceError(
        "EADDRINUSE",
        `cannot bind udp port ${spec.port}: ${err instanceof Error ? err.message : err}`,
      );
    }
    const e: Entry_ = { id, spec, connections: 0, bytesIn: 0, bytesOut: 0, close: async () => {} };
    const drain = () => {
      for (;;) {
        let data: Uint8Array;
        let from: FullAddress | undefined;
        try {
          const r = ep.read();
          data = r.data;
          from = r.from;
        } catch (err) {
          if (err instanceof ErrWouldBlock || err instanceof TcpipError) return;
          throw err;
        }
        e.bytesIn += data.length;
        e.connections++;
        if (spec.kind === "echo" && from?.addr) {
          try {
            e.bytesOut += ep.write(data, {
              to: { addr: from.addr, port: from.port, ...(from.nic ? { nic: from.nic } : {}) },
            });
          } catch {
            // RFC 862 is best effort: a reply that cannot be sent (no route, buffer full) is dropped.
          }
        }
      }
    };
    const entry: Entry = { callback: drain };
    wq.register(entry, EventIn);
    drain();
    e.close = async () => {
      wq.unregister(entry);
      ep.close();
    };
    return e;
  }
}

import type { Queue } from "../waiter/waiter.ts";
import type { Address } from "./address.ts";
import type { FullAddress } from "./full-address.ts";
import type { SockOptName } from "./options.ts";
import type { ControlMessages, Payload, WriteOptions } from "./write-options.ts";

/**
 * The seed's `tcpip.Endpoint`: what `Stack.newEndpoint` returns for every
 * transport (TCP, UDP, ping). Non-blocking throughout: calls that cannot
 * complete now throw `ErrWouldBlock` (or `ErrConnectStarted` for `connect`),
 * and readiness is signalled through the endpoint's waiter queue.
 */
export interface Endpoint {
  /** Notified when readiness changes (the queue given to `newEndpoint`, or a new one for accepted endpoints). */
  readonly waiterQueue: Queue;
  /** Reads one message (datagram) or up to the available bytes (stream). `from` receives the sender's address. Throws `ErrWouldBlock`, `ErrClosedForReceive` (EOF). */
  read(from?: FullAddress): { data: Uint8Array; control: ControlMessages };
  /** Like `read` without consuming. */
  peek(maxBytes: number, from?: FullAddress): { data: Uint8Array; control: ControlMessages };
  /** Writes as much as fits; returns bytes accepted. Throws `ErrWouldBlock` when none fit. */
  write(p: Payload, opts?: WriteOptions): number;
  connect(addr: FullAddress): void;
  disconnect?(): void;
  shutdown(flags: number): void;
  listen(backlog: number): void;
  /** Returns a connected endpoint; throws `ErrWouldBlock` when the accept queue is empty. */
  accept(): Endpoint;
  bind(addr: FullAddress): void;
  getLocalAddress(): FullAddress;
  getRemoteAddress(): FullAddress;
  /** The subset of `mask` (waiter event bits) that is ready now. */
  readiness(mask: number): number;
  setSockOpt(name: SockOptName, value: unknown): void;
  getSockOpt(name: SockOptName): unknown;
  close(): void;
}

/** Helper for adapters: a FullAddress from text. */
export function fullAddress(addr: Address | undefined, port: number, nic?: number): FullAddress {
  const a: FullAddress = { port };
  if (addr) a.addr = addr;
  if (nic !== undefined) a.nic = nic;
  return a;
}

/**
 * Two TCP stacks back to back on a manual clock. Segments written by one are
 * delivered to the other after `delay` ms; a filter may drop or delay
 * particular segments (to reorder them).
 */
import { expect } from "bun:test";
import { Address } from "../../../tcpip/address.ts";
import { ManualClock } from "../../../tcpip/clock.ts";
import { ErrConnectStarted } from "../../../tcpip/errors.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
} from "../../../tcpip/protocols.ts";
import { Queue } from "../../../waiter/waiter.ts";
import type { TcpEndpoint } from "../endpoint.ts";
import type { TcpStackOptions } from "../protocol-options.ts";
import { decodeSegment, describe, type SegmentFields } from "./segments.ts";
import { TestStack } from "./test-stack.ts";

export type Side = "a" | "b";

/** Returns "drop", a delay in ms, several delays (the segment is duplicated), or undefined for the default delay. */
export type Filter = (seg: SegmentFields, from: Side, n: number) => "drop" | number | number[] | undefined;

export interface PairOptions {
  v6?: boolean;
  delay?: number;
  tcpA?: Partial<TcpStackOptions>;
  tcpB?: Partial<TcpStackOptions>;
  tcp?: Partial<TcpStackOptions>;
  mtuA?: number;
  mtuB?: number;
}

export class Pair {
  readonly clock = new ManualClock(1000);
  readonly a: TestStack;
  readonly b: TestStack;
  readonly addrA: Address;
  readonly addrB: Address;
  readonly netProto: NetworkProtocolNumber;
  delay: number;
  filter: Filter | undefined;
  /**
   * A congested router's ECN marking (RFC 3168 §5): segments sent ECT (ECT(0) or ECT(1)) for which it
   * returns true arrive CE-marked. Not-ECT segments pass unchanged.
   */
  ceMark: ((seg: SegmentFields, from: Side, n: number) => boolean) | undefined;
  readonly trace: string[] = [];
  private n = 0;

  constructor(o: PairOptions = {}) {
    this.addrA = o.v6 ? Address.parse("fd00::a") : Address.parse("198.18.0.1");
    this.addrB = o.v6 ? Address.parse("fd00::b") : Address.parse("198.18.0.2");
    this.netProto = o.v6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
    this.delay = o.delay ?? 5;
    const mk = (
      addr: Address,
      seed: number,
      tcp: Partial<TcpStackOptions> | undefined,
      mtu: number | undefined,
    ) => {
      const init: ConstructorParameters<typeof TestStack>[0] = { addresses: [addr], clock: this.clock, seed };
      const t = { ...o.tcp, ...tcp };
      init.tcp = t;
      if (mtu) init.mtu = mtu;
      return new TestStack(init);
    };
    this.a = mk(this.addrA, 11, o.tcpA, o.mtuA);
    this.b = mk(this.addrB, 22, o.tcpB, o.mtuB);
    this.a.wire = (bytes, src, dst, np, tos) => this.carry("a", this.b, bytes, src, dst, np, tos);
    this.b.wire = (bytes, src, dst, np, tos) => this.carry("b", this.a, bytes, src, dst, np, tos);
  }

  private carry(
    from: Side,
    to: TestStack,
    bytes: Uint8Array,
    src: Address,
    dst: Address,
    np: NetworkProtocolNumber,
    sentTos = 0,
  ) {
    const seg = decodeSegment(bytes, src, dst);
    expect(seg.checksumOk).toBe(true);
    seg.tos = sentTos;
    const n = this.n++;
    const verdict = this.filter?.(seg, from, n);
    let tos = sentTos;
    if ((tos & 3) !== 0 && this.ceMark?.(seg, from, n) === true) tos |= 3;
    const t = Math.round(this.clock.now());
    if (verdict === "drop") {
      this.trace.push(`${t} ${from} ${seg.srcPort}>${seg.dstPort} DROP ${describe(seg)}`);
      return;
    }
    this.trace.push(`${t} ${from} ${seg.srcPort}>${seg.dstPort} ${describe(seg)}`);
    const delays = typeof verdict === "number" ? [verdict] : Array.isArray(verdict) ? verdict : [this.delay];
    for (const d of delays) this.clock.afterFunc(d, () => to.deliver(bytes, src, dst, np, tos));
  }

  endpoint(side: Side): { ep: TcpEndpoint; wq: Queue } {
    const wq = new Queue();
    const s = side === "a" ? this.a : this.b;
    return { ep: s.tcp.newEndpoint(this.netProto, wq), wq };
  }

  /** A listens? No: B listens on `port`, A connects; returns both ends once established. */
  connect(port = 80): {
    client: TcpEndpoint;
    server: TcpEndpoint;
    listener: TcpEndpoint;
    cq: Queue;
    sq: Queue;
  } {
    const { ep: listener } = this.endpoint("b");
    listener.bind({ port });
    listener.listen(10);
    const { ep: client, wq: cq } = this.endpoint("a");
    expect(() => client.connect({ addr: this.addrB, port })).toThrow(ErrConnectStarted);
    this.run(100);
    expect(client.state).toBe("ESTABLISHED");
    const { endpoint, waiterQueue } = listener.accept();
    return { client, server: endpoint, listener, cq, sq: waiterQueue };
  }

  run(ms: number): void {
    this.clock.advance(ms);
  }
}

/** Reads everything readable from `ep` (until ErrWouldBlock or end of stream). */
export function drain(ep: TcpEndpoint): Uint8Array {
  const parts: Uint8Array[] = [];
  for (;;) {
    try {
      const { data } = ep.read();
      if (data.length === 0) break;
      parts.push(data);
    } catch {
      break;
    }
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Deterministic test bytes. */
export function bytes(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

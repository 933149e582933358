/**
 * ICMP echo from the user-space stack (the REST `diagnostics/ping` and test
 * drivers): sends `count` echo requests (RFC 792 / RFC 4443 §4.1) through a
 * ping endpoint and times each reply on the stack's clock.
 */
import type { Endpoint, WaiterQueueLike } from "../stack/registration.ts";
import type { Address } from "../tcpip/address.ts";
import type { Clock } from "../tcpip/clock.ts";
import { ErrWouldBlock } from "../tcpip/errors.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
} from "../tcpip/protocols.ts";
import type { Random } from "../tcpip/random.ts";
import { EventIn, Queue, waitFor } from "../waiter/waiter.ts";

export interface PingStack {
  newEndpoint(transport: number, network: number, waiterQueue: WaiterQueueLike): Endpoint;
  readonly clock: Clock;
  readonly random: Random;
}

export interface PingOptions {
  count: number;
  intervalMs: number;
  timeoutMs: number;
  /** Bytes of payload after the 8-byte ICMP header. */
  size: number;
}

export interface PingReport {
  address: string;
  transmitted: number;
  received: number;
  rttMs: number[];
  minMs?: number;
  avgMs?: number;
  maxMs?: number;
  error?: string;
}

const sleep = (clock: Clock, ms: number) => new Promise<void>((r) => clock.afterFunc(ms, r));

export async function ping(stack: PingStack, addr: Address, o: PingOptions): Promise<PingReport> {
  const v6 = addr.is6;
  const clock = stack.clock;
  const wq = new Queue();
  const ep = stack.newEndpoint(
    v6 ? ICMPV6_PROTOCOL_NUMBER : ICMPV4_PROTOCOL_NUMBER,
    v6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
    wq,
  );
  const r: PingReport = { address: addr.toString(), transmitted: 0, received: 0, rttMs: [] };
  try {
    // The ident is the endpoint's port (Linux ping sockets do the same).
    ep.bind({ port: 1 + (stack.random.u32() % 65534) });
    for (let seq = 1; seq <= o.count; seq++) {
      const msg = new Uint8Array(8 + o.size);
      msg[0] = v6 ? 128 : 8;
      msg[6] = seq >> 8;
      msg[7] = seq & 255;
      const sent = clock.now();
      try {
        ep.write(msg, { to: { addr, port: 0 } });
      } catch (e) {
        r.error = (e as Error).message;
        break;
      }
      r.transmitted++;
      const deadline = sent + o.timeoutMs;
      let got = false;
      while (!got && clock.now() < deadline) {
        const ac = new AbortController();
        const t = clock.afterFunc(Math.max(1, deadline - clock.now()), () => ac.abort());
        try {
          await waitFor(wq, EventIn, (m) => ep.readiness(m), ac.signal);
        } catch {
          break;
        } finally {
          t.stop();
        }
        for (;;) {
          let data: Uint8Array;
          try {
            data = ep.read().data;
          } catch (e) {
            if (e instanceof ErrWouldBlock) break;
            throw e;
          }
          if (((data[6]! << 8) | data[7]!) === seq) {
            got = true;
            r.received++;
            r.rttMs.push(Math.round((clock.now() - sent) * 1000) / 1000);
          }
        }
      }
      const wait = sent + o.intervalMs - clock.now();
      if (seq < o.count && wait > 0) await sleep(clock, wait);
    }
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    ep.close();
  }
  if (r.rttMs.length) {
    r.minMs = Math.min(...r.rttMs);
    r.maxMs = Math.max(...r.rttMs);
    r.avgMs = Math.round((r.rttMs.reduce((a, b) => a + b, 0) / r.rttMs.length) * 1000) / 1000;
  }
  return r;
}

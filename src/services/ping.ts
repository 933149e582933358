/**
 * ICMP echo from the user-space stack (the REST `diagnostics/ping` and test
 * drivers): sends `count` echo requests (RFC 792 / RFC 4443 §4.1) through a
 * ping endpoint, times each reply on the stack's clock, and checks that the
 * reply carries the data that was sent.
 */
import type { Endpoint, WaiterQueueLike } from "../stack/registration.ts";
import type { Address } from "../tcpip/address.ts";
import type { Clock } from "../tcpip/clock.ts";
import { ErrWouldBlock } from "../tcpip/errors.ts";
import type { NICID } from "../tcpip/protocols.ts";
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
  /**
   * The NIC to send through. Link-local destinations (fe80::/10, 169.254/16) need it, as a scope
   * id (`%eth0`) does on Linux; others are routed as usual when it is left out.
   */
  nic?: NICID;
}

export interface PingReport {
  address: string;
  transmitted: number;
  received: number;
  rttMs: number[];
  minMs?: number;
  avgMs?: number;
  maxMs?: number;
  /** Size of the last reply counted, ICMP header included (like ping's "64 bytes from"). */
  replyBytes?: number;
  /**
   * Replies whose data differed from what was sent (RFC 792: "The data received in the echo
   * message must be returned in the echo reply message"). They count as received too, as in
   * Linux ping ("wrong data byte").
   */
  corrupted: number;
  error?: string;
}

/** The payload byte at `i` of an echo message (ICMP header included in `i`), as Linux ping fills it. */
function patternByte(i: number): number {
  return i & 0xff;
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
  const r: PingReport = { address: addr.toString(), transmitted: 0, received: 0, rttMs: [], corrupted: 0 };
  const to = { addr, port: 0, ...(o.nic !== undefined ? { nic: o.nic } : {}) };
  try {
    // The ident is the endpoint's port (Linux ping sockets do the same).
    ep.bind({ port: 1 + (stack.random.u32() % 65534) });
    for (let seq = 1; seq <= o.count; seq++) {
      const msg = new Uint8Array(8 + o.size);
      msg[0] = v6 ? 128 : 8;
      msg[6] = seq >> 8;
      msg[7] = seq & 255;
      for (let i = 8; i < msg.length; i++) msg[i] = patternByte(i);
      const sent = clock.now();
      try {
        ep.write(msg, { to });
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
            r.replyBytes = data.length;
            if (!echoedIntact(data, msg.length)) r.corrupted++;
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

/** Whether an echo reply carries the payload that was sent: same length, same bytes. */
function echoedIntact(reply: Uint8Array, sentLength: number): boolean {
  if (reply.length !== sentLength) return false;
  for (let i = 8; i < reply.length; i++) if (reply[i] !== patternByte(i)) return false;
  return true;
}

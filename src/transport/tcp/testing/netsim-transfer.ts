/**
 * A timed bulk transfer between two real stacks (IPv4 + TCP) over NetSim, for
 * throughput tests: the client writes a byte stream as fast as the send buffer
 * takes it, the server reads everything as it arrives and checks every byte,
 * and goodput is measured over a window of simulated time after a warm-up.
 * The loss, bandwidth, queue (with its ECN marking threshold,
 * `PathOptions.ceThresholdBytes`) and delay apply to the data direction; ACKs
 * return over a clean path with the same delay. Everything is seeded and runs
 * on a ManualClock, so a run is the same on every machine.
 */
import { NetSim, type PathOptions, type PathStats } from "../../../link/netsim/netsim.ts";
import type { Stack } from "../../../stack/stack.ts";
import { Address } from "../../../tcpip/address.ts";
import { ManualClock } from "../../../tcpip/clock.ts";
import { ErrConnectStarted, ErrWouldBlock } from "../../../tcpip/errors.ts";
import { TCP_PROTOCOL_NUMBER } from "../../../tcpip/protocols.ts";
import { SeededRandom } from "../../../tcpip/random.ts";
import type { Stats } from "../../../tcpip/stats.ts";
import { addV4, endpoint, newTestStack } from "../../udp/testing.ts";
import type { TcpEndpoint } from "../endpoint.ts";
import { EventIn, EventOut } from "../events.ts";
import { TcpProtocol } from "../protocol.ts";
import type { TcpStackOptions } from "../protocol-options.ts";
import { bytes } from "./pair.ts";

export interface TimedTransferOptions {
  seed: number;
  /** The data direction (client to server); the ACK direction gets only its `delayMs`. */
  path: PathOptions;
  mtu?: number;
  /** Stack-wide TCP options of both stacks. */
  tcp?: Partial<TcpStackOptions>;
  /** Sets ReceiveBufferSize and SendBufferSize on both endpoints (locks them: no auto-tuning). */
  fixedBuffer?: number;
  /** Simulated ms after the connection is established before goodput is measured. */
  warmupMs: number;
  /** Simulated ms of the measurement. */
  measureMs: number;
}

export interface TimedTransferResult {
  /** Every byte arrived in order and intact. */
  ok: boolean;
  /** Bytes the server read during the measurement. */
  measuredBytes: number;
  /** Simulated ms the measurement actually took (the clock moves in event steps). */
  measuredMs: number;
  /** Goodput over the measurement, bits per second. */
  goodputBps: number;
  /** The client's counters over the whole run. */
  timeouts: number;
  retransmits: number;
  /** Buffer limits at the end: the server's receive buffer, the client's send buffer. */
  rcvBuf: number;
  sndBuf: number;
  dataPath: PathStats;
  client: TcpEndpoint;
  server: TcpEndpoint;
}

/** Period of the byte pattern (a prime, so it never lines up with segment or buffer sizes). */
const PATTERN = 65521;

/** Two stacks joined by NetSim (A is 198.18.0.1, B 198.18.0.2) with one established connection A → B:9. */
export interface NetSimConnection {
  clock: ManualClock;
  a: Stack;
  b: Stack;
  sim: NetSim;
  client: TcpEndpoint;
  server: TcpEndpoint;
}

/**
 * Builds the two stacks and connects. The clock moves in `stepMs` steps until
 * the server accepts: a lost SYN or SYN-ACK is resent after the 1 s initial
 * RTO (and backs off), so the handshake may take several steps.
 */
export function connectOverNetSim(o: {
  seed: number;
  path: PathOptions;
  mtu?: number;
  tcp?: Partial<TcpStackOptions>;
  fixedBuffer?: number;
  stepMs: number;
}): NetSimConnection {
  const clock = new ManualClock();
  const extra = { transportProtocols: [TcpProtocol.factory(o.tcp ?? {})] };
  const a: Stack = newTestStack(clock, o.seed + 1, extra);
  const b: Stack = newTestStack(clock, o.seed + 2, extra);
  const sim = new NetSim({
    clock,
    random: new SeededRandom(o.seed),
    ...(o.mtu ? { mtu: o.mtu } : {}),
    aToB: o.path,
    bToA: { delayMs: o.path.delayMs ?? 0 },
  });
  a.createNIC(1, sim.a);
  b.createNIC(1, sim.b);
  addV4(a, 1, "198.18.0.1/24");
  addV4(b, 1, "198.18.0.2/24");
  const listener = endpoint(b, TCP_PROTOCOL_NUMBER);
  const client = endpoint(a, TCP_PROTOCOL_NUMBER);
  if (o.fixedBuffer !== undefined) {
    for (const ep of [listener.ep, client.ep]) {
      ep.setSockOpt("ReceiveBufferSize", o.fixedBuffer);
      ep.setSockOpt("SendBufferSize", o.fixedBuffer);
    }
  }
  listener.ep.bind({ port: 9 });
  listener.ep.listen!(1);
  try {
    client.ep.connect({ addr: Address.parse("198.18.0.2"), port: 9 });
  } catch (e) {
    if (!(e instanceof ErrConnectStarted)) throw e;
  }
  let server: TcpEndpoint | undefined;
  for (let i = 0; i < 64 && server === undefined; i++) {
    clock.advance(o.stepMs);
    try {
      server = listener.ep.accept!().endpoint as TcpEndpoint;
    } catch (e) {
      if (!(e instanceof ErrWouldBlock)) throw e;
    }
  }
  if (server === undefined) throw new Error("the connection was not established");
  return { clock, a, b, sim, client: client.ep as TcpEndpoint, server };
}

export interface SizedTransferResult {
  /** Every byte arrived in order and intact. */
  ok: boolean;
  /** Simulated ms from the accept to the last byte read. */
  simMs: number;
  /** The client's (sender's) TCP counters over the whole run. */
  tcp: Stats["tcp"];
  /** The server's (receiver's) TCP counters over the whole run (ECN: the CE marks it saw, the CWRs). */
  receiverTcp: Stats["tcp"];
  dataPath: PathStats;
}

/**
 * `size` seeded bytes from A to B, written as fast as the send buffer takes
 * them and checked byte by byte; stops at the last byte or after 600 s of
 * simulated time. The handshake steps the clock by 1 s.
 */
export function sizedTransfer(o: {
  seed: number;
  path: PathOptions;
  tcp?: Partial<TcpStackOptions>;
  size: number;
}): SizedTransferResult {
  const { clock, a, b, sim, client, server } = connectOverNetSim({ ...o, stepMs: 1000 });
  const data = bytes(o.size, o.seed);
  let sent = 0;
  let received = 0;
  let ok = true;
  const start = clock.now();
  while (received < o.size && clock.now() - start < 600_000) {
    while (sent < o.size) {
      try {
        sent += client.write(data.subarray(sent, Math.min(o.size, sent + 65536)));
      } catch (e) {
        if (e instanceof ErrWouldBlock) break;
        throw e;
      }
    }
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = server.read().data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) break;
        throw e;
      }
      if (chunk.length === 0) break;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== data[received + i]) ok = false;
      received += chunk.length;
    }
    if (received < o.size && !clock.advanceToNext()) break;
  }
  const out = {
    ok: ok && received === o.size,
    simMs: clock.now() - start,
    tcp: { ...a.stats.tcp },
    receiverTcp: { ...b.stats.tcp },
    dataPath: { ...sim.statsAToB },
  };
  sim.close();
  return out;
}

export function timedTransfer(o: TimedTransferOptions): TimedTransferResult {
  const { clock, a, sim, client: cl, server } = connectOverNetSim({ ...o, stepMs: 500 });

  // Two periods of the pattern back to back, so any PATTERN-long piece is one subarray.
  const src = new Uint8Array(2 * PATTERN);
  for (let i = 0; i < src.length; i++) src[i] = ((i % PATTERN) * 131 + ((i % PATTERN) >>> 8)) & 0xff;
  let sent = 0;
  let received = 0;
  let ok = true;
  const start = clock.now();
  const from = start + o.warmupMs;
  const to = from + o.measureMs;
  let fromBytes = -1;
  let fromTime = 0;
  for (;;) {
    const now = clock.now();
    if (fromBytes < 0 && now >= from) {
      fromBytes = received;
      fromTime = now;
    }
    if (now >= to) break;
    while (cl.readiness(EventOut) !== 0) {
      const off = sent % PATTERN;
      sent += cl.write(src.subarray(off, off + PATTERN));
    }
    while (server.readiness(EventIn) !== 0) {
      const chunk = server.read().data;
      if (chunk.length === 0) break;
      for (let i = 0; i < chunk.length; ) {
        const off = (received + i) % PATTERN;
        const n = Math.min(chunk.length - i, PATTERN);
        if (Buffer.compare(chunk.subarray(i, i + n), src.subarray(off, off + n)) !== 0) ok = false;
        i += n;
      }
      received += chunk.length;
    }
    if (!clock.advanceToNext()) break;
  }
  const measuredMs = clock.now() - fromTime;
  const measuredBytes = fromBytes < 0 ? 0 : received - fromBytes;
  const t = a.stats.tcp;
  const out: TimedTransferResult = {
    ok: ok && received > 0,
    measuredBytes,
    measuredMs,
    goodputBps: measuredMs > 0 ? (measuredBytes * 8 * 1000) / measuredMs : 0,
    timeouts: t.timeouts,
    retransmits: t.retransmits,
    rcvBuf: server.rcv.bufSize,
    sndBuf: cl.snd.bufSize,
    dataPath: { ...sim.statsAToB },
    client: cl,
    server,
  };
  sim.close();
  return out;
}

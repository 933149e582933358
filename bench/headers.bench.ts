/**
 * Micro-benchmark of src/header: parse IPv4 + TCP headers with options (the
 * receive fast path: validate, read the fields a demuxer needs, parse
 * options, verify the TCP checksum) and compute Internet checksums over
 * 1500-byte and 64 KiB buffers.
 *
 *     bun bench/headers.bench.ts [--quick]
 *
 * `runHeadersBench()` returns the numbers for a driver such as bench/run.ts.
 */
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../src/header/checksum.ts";
import { encodeIpv4, IPV4_DST_OFFSET, IPV4_SRC_OFFSET, Ipv4Header } from "../src/header/ipv4.ts";
import {
  encodeTcp,
  encodeTcpOptions,
  newTcpOptions,
  parseTcpOptions,
  TCP_ACK,
  TcpHeader,
} from "../src/header/tcp.ts";
import { Address } from "../src/tcpip/address.ts";

export interface BenchResult {
  name: string;
  /** Operations (packets or checksum runs) per second. */
  opsPerSec: number;
  /** Bytes processed per second / 1e9. */
  gbPerSec: number;
  nsPerOp: number;
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns ops/s. */
function measure(fn: (iterations: number) => number, ms: number): { opsPerSec: number; sink: number } {
  let sink = fn(10_000); // warm up the JIT
  let n = 1_000;
  for (;;) {
    const t0 = performance.now();
    sink += fn(n);
    const dt = performance.now() - t0;
    if (dt >= ms) return { opsPerSec: (n / dt) * 1000, sink };
    n = Math.min(n * Math.max(2, Math.ceil(ms / Math.max(dt, 1))), 1 << 30);
  }
}

/** A 1500-byte IPv4 + TCP segment whose options carry timestamps and one SACK block (a 64-byte header). */
function buildSegment(): Uint8Array {
  const src = Address.parse("198.18.0.1");
  const dst = Address.parse("198.18.0.2");
  const b = new Uint8Array(1500);
  const tcpOff = 20;
  const optLen = encodeTcpOptions(b, tcpOff + 20, {
    timestamp: true,
    tsVal: 0x12345678,
    tsEcr: 0x9abcdef0,
    sackBlocks: [1000, 2000],
  });
  const hlen = encodeTcp(b, tcpOff, {
    srcPort: 40000,
    dstPort: 80,
    seq: 0x01020304,
    ack: 0x05060708,
    flags: TCP_ACK,
    window: 512,
    optionsLength: optLen,
  });
  const payloadLen = 1500 - 20 - hlen;
  for (let i = 0; i < payloadLen; i++) b[tcpOff + hlen + i] = i & 0xff;
  const tcpLen = 1500 - 20;
  const sum = checksum(b, tcpOff, tcpLen, pseudoHeaderChecksum(6, src, dst, tcpLen));
  new TcpHeader(b, tcpOff).setChecksum(finishChecksum(sum));
  encodeIpv4(b, 0, { totalLength: 1500, id: 1, flags: 2, ttl: 64, protocol: 6, src, dst });
  return b;
}

/** Pseudo-header sum from the address bytes in place (no Address allocation on the hot path). */
function pseudoSum(b: Uint8Array, ipOff: number, proto: number, len: number): number {
  return checksum(b, ipOff + IPV4_SRC_OFFSET, 8, proto + len);
}

export function runHeadersBench(opts: { ms?: number } = {}): BenchResult[] {
  const ms = opts.ms ?? 500;
  const seg = buildSegment();
  const out = newTcpOptions();
  const results: BenchResult[] = [];
  let sink = 0;

  // 1. Parse only: validate both headers, read the demux fields, parse options.
  const parse = measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const ip = new Ipv4Header(seg, 0);
      if (!ip.isValid(seg.length)) continue;
      const t = new TcpHeader(seg, ip.headerLength);
      if (!t.isValid(ip.payloadLength)) continue;
      parseTcpOptions(seg, t.optionsOffset, t.optionsLength, out);
      acc += t.srcPort + t.dstPort + t.sequenceNumber + t.ackNumber + t.flags + t.windowSize + out.tsVal;
      acc += ip.protocol + ip.ttl + seg[IPV4_DST_OFFSET]!;
    }
    return acc;
  }, ms);
  sink += parse.sink;
  results.push(result("parse ipv4+tcp+options (1500 B packet)", parse.opsPerSec, 0));

  // 2. Full receive check: the above plus IPv4 header checksum and TCP checksum over 1480 bytes.
  const full = measure((n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const ip = new Ipv4Header(seg, 0);
      if (!ip.isValid(seg.length) || !ip.isChecksumValid()) continue;
      const len = ip.payloadLength;
      const t = new TcpHeader(seg, ip.headerLength);
      if (!t.isValid(len)) continue;
      if (checksum(seg, ip.headerLength, len, pseudoSum(seg, 0, 6, len)) !== 0xffff) continue;
      parseTcpOptions(seg, t.optionsOffset, t.optionsLength, out);
      acc += t.sequenceNumber + out.tsVal;
    }
    return acc;
  }, ms);
  sink += full.sink;
  results.push(result("parse + verify checksums (1500 B packet)", full.opsPerSec, 1500));

  // 3. Checksums alone.
  for (const size of [1500, 65536]) {
    const buf = new Uint8Array(size);
    for (let i = 0; i < size; i++) buf[i] = (i * 7 + 3) & 0xff;
    const r = measure((n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += checksum(buf, 0, size, i & 0xff);
      return acc;
    }, ms);
    sink += r.sink;
    results.push(result(`checksum ${size === 1500 ? "1500 B" : "64 KiB"}`, r.opsPerSec, size));
  }
  if (sink === 0.5) console.log(""); // keep `sink` alive
  return results;
}

function result(name: string, opsPerSec: number, bytesPerOp: number): BenchResult {
  return { name, opsPerSec, gbPerSec: (opsPerSec * bytesPerOp) / 1e9, nsPerOp: 1e9 / opsPerSec };
}

export function formatResults(rs: BenchResult[]): string {
  const rows = rs.map(
    (r) =>
      `${r.name.padEnd(44)} ${(r.opsPerSec / 1e6).toFixed(2).padStart(8)} M/s ${r.nsPerOp.toFixed(1).padStart(9)} ns/op ${r.gbPerSec > 0 ? `${r.gbPerSec.toFixed(2).padStart(7)} GB/s` : ""}`,
  );
  return [
    `${"benchmark".padEnd(44)} ${"ops/s".padStart(10)} ${"time".padStart(15)} ${"throughput".padStart(12)}`,
    ...rows,
  ].join("\n");
}

if (import.meta.main) {
  const quick = process.argv.includes("--quick");
  console.log(`headers bench: Bun ${Bun.version}, ${process.platform}/${process.arch}`);
  console.log(formatResults(runHeadersBench({ ms: quick ? 100 : 1000 })));
}

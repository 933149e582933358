/**
 * A Worker that opens one end of a sharedmem region it is sent, for the
 * two-Worker test and the benchmark (bench/sharedmem.bench.ts).
 *
 * Roles:
 * - "send": on "go", writes IPv4/UDP packets (conformance.ts `ipv4Packet`)
 *   numbered 0, 1, ... either `count` of them or for `durationMs`, then one end
 *   marker (number 0xffffffff); waits for buffers when the lane is full. With
 *   `verify` every packet is built fresh, so its whole payload depends on its
 *   number; otherwise a few prebuilt packets are re-stamped and reused. It
 *   then waits for one reply packet from the receiver and posts "sent".
 * - "receive": counts packets until the end marker, checks order (and with
 *   `verify` every byte), answers with one packet, and posts "done" with the
 *   time from the first packet to the marker.
 */
import { PacketBuffer } from "../../../buffer/packet-buffer.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../../tcpip/protocols.ts";
import { ipv4Packet, packetSeq } from "../../testing/conformance.ts";
import { SharedMemEndpoint } from "../sharedmem.ts";

export interface PeerStart {
  role: "send" | "receive";
  buffer: SharedArrayBuffer;
  side: 0 | 1;
  /** IP packet size in bytes (at least 32). */
  size: number;
  count?: number;
  durationMs?: number;
  verify?: boolean;
  /** The endpoint's `spinMs`. */
  spinMs?: number;
}

export type PeerReport =
  | { type: "ready" }
  | { type: "sent"; sent: number; waits: number; replyOk: boolean }
  | { type: "done"; received: number; bytes: number; errors: number; elapsedMs: number; wakeups: number };

export const END_MARKER = 0xffffffff;
const BATCH = 32;
const UDP_SEQ_OFFSET = 28;

declare const self: Worker;

let endpoint: SharedMemEndpoint | undefined;
let start: PeerStart | undefined;

self.onmessage = (e: MessageEvent) => {
  const m = e.data as PeerStart | { type: "go" };
  if ("role" in m) {
    start = m;
    endpoint = new SharedMemEndpoint(m.buffer, { side: m.side, spinMs: m.spinMs ?? 0 });
    if (m.role === "receive") receive(endpoint, m);
    post({ type: "ready" });
  } else if (m.type === "go" && start?.role === "send" && endpoint) {
    void send(endpoint, start);
  }
};

function post(r: PeerReport): void {
  self.postMessage(r);
}

function packet(seq: number, size: number): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq, size - 28));
  p.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return p;
}

function stamp(p: PacketBuffer, seq: number): void {
  const d = p.data;
  const at = p.head + UDP_SEQ_OFFSET;
  d[at] = seq >>> 24;
  d[at + 1] = (seq >>> 16) & 0xff;
  d[at + 2] = (seq >>> 8) & 0xff;
  d[at + 3] = seq & 0xff;
}

async function send(link: SharedMemEndpoint, s: PeerStart): Promise<void> {
  let replied: () => void = () => {};
  const reply = new Promise<void>((r) => {
    replied = r;
  });
  let replyOk = false;
  link.attach({
    deliverNetworkPacket: (_p, pkt) => {
      replyOk = packetSeq(pkt.bytes()) === END_MARKER;
      replied();
    },
  });
  const prebuilt = Array.from({ length: BATCH }, (_, i) => packet(i, s.size));
  const batch: PacketBuffer[] = [];
  const count = s.count ?? Number.MAX_SAFE_INTEGER;
  const deadline = s.durationMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + s.durationMs;
  let seq = 0;
  let waits = 0;
  while (seq < count) {
    if ((seq & 0x3ff) === 0 && Date.now() >= deadline) break;
    batch.length = 0;
    const n = Math.min(BATCH, count - seq);
    for (let i = 0; i < n; i++) {
      if (s.verify) batch.push(packet(seq + i, s.size));
      else {
        const p = prebuilt[i]!;
        stamp(p, seq + i);
        batch.push(p);
      }
    }
    const accepted = link.writePackets(batch);
    seq += accepted;
    if (accepted < n) {
      waits++;
      await link.waitWritable();
    }
  }
  const end = packet(END_MARKER, s.size);
  while (link.writePackets([end]) === 0) await link.waitWritable();
  await reply;
  post({ type: "sent", sent: seq, waits, replyOk });
}

function receive(link: SharedMemEndpoint, s: PeerStart): void {
  let next = 0;
  let errors = 0;
  let bytes = 0;
  let first = 0;
  link.attach({
    deliverNetworkPacket: (_p, pkt) => {
      const b = pkt.bytes();
      const seq = packetSeq(b);
      if (seq === END_MARKER) {
        const elapsedMs = performance.now() - first;
        link.writePackets([packet(END_MARKER, 64)]);
        post({ type: "done", received: next, bytes, errors, elapsedMs, wakeups: link.stats.rxWakeups });
        return;
      }
      if (next === 0) first = performance.now();
      if (seq !== next) errors++;
      else if (s.verify && !sameBytes(b, ipv4Packet(seq, s.size - 28))) errors++;
      next = seq + 1;
      bytes += b.length;
    },
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

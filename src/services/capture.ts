/**
 * Packet capture on a NIC, fed by the stack's packet hooks (inbound and
 * outbound network-layer packets), kept in memory as pcap records
 * (LINKTYPE_RAW) up to a byte bound, downloadable as a file or streamed live.
 *
 * Filters are a small, tcpdump-like language: terms joined by `and`, each
 * optionally preceded by `not`: `tcp`, `udp`, `icmp`, `icmp6`, `arp`, `ip`,
 * `ip6`, `[src|dst] host ADDR`, `[src|dst] port N`.
 */
import { LINKTYPE_RAW, PcapWriter } from "../link/sniffer/pcap.ts";
import { FlowPacket, PARSE_MALFORMED, parseFlowPacket } from "../tcpconntrack/parse.ts";
import { Address } from "../tcpip/address.ts";
import type { Clock } from "../tcpip/clock.ts";
import {
  ARP_PROTOCOL_NUMBER,
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../tcpip/protocols.ts";

export class FilterError extends Error {}

interface Pkt {
  netProto: number;
  proto: number;
  src: Uint8Array | undefined;
  dst: Uint8Array | undefined;
  srcPort: number;
  dstPort: number;
}

type Pred = (p: Pkt) => boolean;

const PROTO_WORDS: Record<string, Pred> = {
  tcp: (p) => p.proto === TCP_PROTOCOL_NUMBER,
  udp: (p) => p.proto === UDP_PROTOCOL_NUMBER,
  icmp: (p) => p.proto === ICMPV4_PROTOCOL_NUMBER,
  icmp6: (p) => p.proto === ICMPV6_PROTOCOL_NUMBER,
  arp: (p) => p.netProto === ARP_PROTOCOL_NUMBER,
  ip: (p) => p.netProto === IPV4_PROTOCOL_NUMBER,
  ip6: (p) => p.netProto === IPV6_PROTOCOL_NUMBER,
};

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Compiles a filter; throws `FilterError` naming the word it cannot read. */
export function compileFilter(text: string | undefined): Pred {
  const words = (text ?? "").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return () => true;
  const preds: Pred[] = [];
  let i = 0;
  const next = () => words[i++];
  while (i < words.length) {
    let neg = false;
    let w = next()!;
    if (w === "not") {
      neg = true;
      w = next() ?? "";
    }
    let dir: "src" | "dst" | undefined;
    if (w === "src" || w === "dst") {
      dir = w;
      w = next() ?? "";
    }
    let p: Pred;
    if (!dir && PROTO_WORDS[w]) p = PROTO_WORDS[w]!;
    else if (w === "host") {
      const a = Address.tryParse(next() ?? "");
      if (!a) throw new FilterError(`filter: "host" needs an IP address`);
      const b = a.bytes;
      p =
        dir === "src"
          ? (x) => sameBytes(x.src, b)
          : dir === "dst"
            ? (x) => sameBytes(x.dst, b)
            : (x) => sameBytes(x.src, b) || sameBytes(x.dst, b);
    } else if (w === "port") {
      const t = next() ?? "";
      const n = Number(t);
      if (!/^[0-9]{1,5}$/.test(t) || n > 65535)
        throw new FilterError(`filter: "port" needs a number 0..65535, got "${t}"`);
      p =
        dir === "src"
          ? (x) => x.srcPort === n
          : dir === "dst"
            ? (x) => x.dstPort === n
            : (x) => x.srcPort === n || x.dstPort === n;
    } else
      throw new FilterError(
        `filter: cannot read "${w}" (want tcp, udp, icmp, icmp6, arp, ip, ip6, host, port, src, dst, not, and)`,
      );
    preds.push(neg ? (x) => !p(x) : p);
    if (i < words.length) {
      const and = next();
      if (and !== "and") throw new FilterError(`filter: expected "and", got "${and}"`);
      if (i >= words.length) throw new FilterError(`filter: nothing after "and"`);
    }
  }
  return (x) => preds.every((f) => f(x));
}

const scratch = new FlowPacket();

function describe(netProto: number, b: Uint8Array): Pkt {
  const p: Pkt = { netProto, proto: 0, src: undefined, dst: undefined, srcPort: 0, dstPort: 0 };
  if (netProto === IPV4_PROTOCOL_NUMBER && b.length >= 20) {
    p.src = b.subarray(12, 16);
    p.dst = b.subarray(16, 20);
  } else if (netProto === IPV6_PROTOCOL_NUMBER && b.length >= 40) {
    p.src = b.subarray(8, 24);
    p.dst = b.subarray(24, 40);
  }
  if (parseFlowPacket(netProto, b, 0, b.length, scratch) !== PARSE_MALFORMED && p.src) {
    p.proto = scratch.protocol;
    p.srcPort = scratch.srcPort;
    p.dstPort = scratch.dstPort;
  }
  if (!p.proto && p.src) p.proto = netProto === IPV4_PROTOCOL_NUMBER ? b[9]! : b[6]!;
  return p;
}

export interface CaptureHookHost {
  addHook(
    kind: "inbound" | "outbound",
    fn: (netProto: number, bytes: Uint8Array, nic: number) => unknown,
  ): () => void;
}

/** One capture: pcap records in memory (bounded), live listeners. */
export class Capture {
  packets = 0;
  bytes = 0;
  running = true;
  readonly startedAt: number;
  private readonly chunks: Uint8Array[] = [];
  private stored = 0;
  private readonly writer: PcapWriter;
  private readonly header: Uint8Array;
  private readonly listeners = new Set<(chunk: Uint8Array | null) => void>();
  private readonly detach: (() => void)[] = [];
  /** Packets not kept because the memory bound was reached. */
  dropped = 0;

  constructor(
    readonly id: number,
    readonly nicName: string,
    nicId: number,
    readonly filter: string | undefined,
    host: CaptureHookHost,
    private readonly clock: Clock,
    private readonly maxBytes = 64 << 20,
  ) {
    const match = compileFilter(filter);
    this.startedAt = clock.wallNow();
    let header: Uint8Array = new Uint8Array(0);
    let first = true;
    this.writer = new PcapWriter(
      {
        write: (b) => {
          if (first) {
            header = b;
            first = false;
            return;
          }
          this.record(b);
        },
      },
      { linkType: LINKTYPE_RAW },
    );
    this.header = header;
    const on = (netProto: number, bytes: Uint8Array, nic: number) => {
      if (nic !== nicId || netProto === ARP_PROTOCOL_NUMBER) return;
      if (!match(describe(netProto, bytes))) return;
      this.writer.writePacket(this.clock.wallNow(), bytes);
    };
    this.detach.push(host.addHook("inbound", on), host.addHook("outbound", on));
  }

  private record(rec: Uint8Array): void {
    this.packets++;
    this.bytes += rec.length - 16;
    if (this.stored + rec.length <= this.maxBytes) {
      this.chunks.push(rec);
      this.stored += rec.length;
    } else this.dropped++;
    for (const l of this.listeners) l(rec);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const d of this.detach) d();
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }

  /** The pcap file so far. */
  pcap(): Uint8Array {
    const out = new Uint8Array(this.header.length + this.stored);
    out.set(this.header, 0);
    let at = this.header.length;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** The header, what was captured so far, then live records until the capture stops or `signal` aborts. */
  stream(signal: AbortSignal): ReadableStream<Uint8Array> {
    let listener: ((c: Uint8Array | null) => void) | undefined;
    return new ReadableStream<Uint8Array>({
      start: (ctl) => {
        ctl.enqueue(this.pcap());
        if (!this.running) {
          ctl.close();
          return;
        }
        listener = (c) => {
          if (c === null) {
            try {
              ctl.close();
            } catch {}
            return;
          }
          try {
            ctl.enqueue(c);
          } catch {}
        };
        this.listeners.add(listener);
        signal.addEventListener("abort", () => {
          if (listener) this.listeners.delete(listener);
          try {
            ctl.close();
          } catch {}
        });
      },
      cancel: () => {
        if (listener) this.listeners.delete(listener);
      },
    });
  }
}

import { describe, expect, test } from "bun:test";
import { readPcap } from "../link/sniffer/pcap.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { Capture, compileFilter, FilterError } from "./capture.ts";

/** A minimal IPv4 + TCP/UDP packet (only the fields the filter reads). */
function ipv4(proto: number, src: number[], dst: number[], sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(40);
  b[0] = 0x45;
  b[2] = 0;
  b[3] = 40;
  b[8] = 64;
  b[9] = proto;
  b.set(src, 12);
  b.set(dst, 16);
  b[20] = sport >> 8;
  b[21] = sport & 255;
  b[22] = dport >> 8;
  b[23] = dport & 255;
  if (proto === 6) b[32] = 0x50; // data offset 5
  if (proto === 17) {
    b[24] = 0;
    b[25] = 20;
  }
  return b;
}

class Hooks {
  fns: { kind: string; fn: (p: number, b: Uint8Array, nic: number) => unknown }[] = [];
  addHook(kind: "inbound" | "outbound", fn: (p: number, b: Uint8Array, nic: number) => unknown) {
    const e = { kind, fn };
    this.fns.push(e);
    return () => {
      this.fns = this.fns.filter((x) => x !== e);
    };
  }
  run(kind: string, bytes: Uint8Array, nic = 1) {
    for (const e of this.fns) if (e.kind === kind) e.fn(IPV4_PROTOCOL_NUMBER, bytes, nic);
  }
}

describe("capture filters", () => {
  const a = [198, 18, 0, 1];
  const b = [198, 18, 0, 2];
  test("protocol, host, port, src/dst, not, and", () => {
    const tcp80 = ipv4(6, a, b, 40000, 80);
    const udp53 = ipv4(17, b, a, 5353, 53);
    const cases: [string, boolean, boolean][] = [
      ["", true, true],
      ["tcp", true, false],
      ["udp and port 53", false, true],
      ["host 198.18.0.1", true, true],
      ["src host 198.18.0.1", true, false],
      ["dst port 80", true, false],
      ["not tcp", false, true],
      ["ip and not port 80", false, true],
    ];
    for (const [f, t, u] of cases) {
      const m = compileFilter(f);
      expect([
        f,
        m({
          netProto: 0x800,
          proto: 6,
          src: tcp80.subarray(12, 16),
          dst: tcp80.subarray(16, 20),
          srcPort: 40000,
          dstPort: 80,
        }),
      ]).toEqual([f, t]);
      expect([
        f,
        m({
          netProto: 0x800,
          proto: 17,
          src: udp53.subarray(12, 16),
          dst: udp53.subarray(16, 20),
          srcPort: 5353,
          dstPort: 53,
        }),
      ]).toEqual([f, u]);
    }
  });

  test("bad filters name the word", () => {
    expect(() => compileFilter("tcp or udp")).toThrow(FilterError);
    expect(() => compileFilter("port http")).toThrow(/port/);
    expect(() => compileFilter("host nowhere")).toThrow(/host/);
    expect(() => compileFilter("tcp and")).toThrow(/after/);
  });
});

describe("Capture", () => {
  test("records matching packets of its NIC as pcap, streams them live, stops", async () => {
    const hooks = new Hooks();
    const clock = new ManualClock();
    const cap = new Capture(1, "tun0", 1, "tcp", hooks, clock);
    const ctl = new AbortController();
    const reader = cap.stream(ctl.signal).getReader();
    const first = await reader.read();
    expect(first.value!.length).toBe(24); // pcap global header only

    hooks.run("inbound", ipv4(6, [198, 18, 0, 1], [198, 18, 0, 2], 1, 80));
    hooks.run("outbound", ipv4(17, [198, 18, 0, 2], [198, 18, 0, 1], 9, 9));
    hooks.run("inbound", ipv4(6, [198, 18, 0, 1], [198, 18, 0, 2], 1, 80), 2);
    clock.advance(1500);
    hooks.run("outbound", ipv4(6, [198, 18, 0, 2], [198, 18, 0, 1], 80, 1));
    expect(cap.packets).toBe(2);
    const live = await reader.read();
    expect(live.value!.length).toBe(16 + 40);

    const file = readPcap(cap.pcap())!;
    expect(file.linkType).toBe(101);
    expect(file.records.length).toBe(2);
    cap.stop();
    hooks.run("inbound", ipv4(6, [198, 18, 0, 1], [198, 18, 0, 2], 1, 80));
    expect(cap.packets).toBe(2);
    expect(hooks.fns.length).toBe(0);
  });
});

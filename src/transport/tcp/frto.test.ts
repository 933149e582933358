/**
 * F-RTO (RFC 5682) with the undo response (RFC 4015 as Linux): a bulk transfer
 * over a `Pair` (5 ms each way) meets either a delay spike (every ACK held back
 * 300 ms, past the 200 ms RTO, nothing lost) or a blackout of the data path
 * (every data segment lost for 150 ms, a real loss the RTO repairs). Each runs
 * with SACK (the §3 variant) and without (the §2.1 basic one), with the `frto`
 * switch on and off; only counters, windows and the bytes delivered are
 * asserted, never times.
 */
import { describe, expect, test } from "bun:test";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";

const SPIKE_AT = 35;
const SPIKE_MS = 300;
const TOTAL = 2_000_000;

interface Run {
  /** Every byte arrived, in order. */
  intact: boolean;
  timeouts: number;
  retransmits: number;
  tlpRetransmits: number;
  frtoAttempts: number;
  spuriousRtos: number;
  spuriousRetransmits: number;
  fastRetransmit: number;
  /** The sender's cwnd (bytes) when the event began, and 1 ms after the held ACKs (or the first new ACK) came. */
  cwndBefore: number;
  cwndAfter: number;
  ssthreshAfter: number;
  mss: number;
}

/**
 * 2 MB from A to B; at SPIKE_AT ms after the connection, either B's ACKs are held until SPIKE_AT + 300
 * ("spike": they then arrive together, in order) or A's data segments are dropped for 150 ms ("blackout").
 */
function transfer(o: {
  sack: boolean;
  frto: boolean;
  event: "spike" | "blackout";
  spikeMs?: number;
  cc?: string;
}): Run {
  const pair = new Pair({
    delay: 5,
    tcp: { sack: o.sack, frto: o.frto, congestionControl: o.cc ?? "reno" },
  });
  const { client, server } = pair.connect();
  const start = pair.clock.now();
  const t0 = start + SPIKE_AT;
  const release = t0 + (o.spikeMs ?? SPIKE_MS);
  let held = 0;
  let cwndBefore = -1;
  let firstAckAfter = -1;
  pair.filter = (seg, from) => {
    const now = pair.clock.now();
    if (o.event === "spike" && from === "b" && now >= t0 && now < release) {
      // Held in a queue that drains at `release`: the ACKs keep their order.
      return release - now + 0.001 * held++;
    }
    if (o.event === "blackout" && from === "a" && seg.payload.length > 0 && now >= t0 && now < t0 + 150) {
      return "drop";
    }
    if (o.event === "blackout" && from === "b" && now >= t0 + 150 && firstAckAfter < 0) firstAckAfter = now;
    return undefined;
  };
  const data = bytes(TOTAL, 3);
  let written = 0;
  let got = 0;
  let intact = true;
  let cwndAfter = -1;
  let ssthreshAfter = -1;
  const s = client.snd;
  for (let i = 0; i < 5000 && got < TOTAL; i++) {
    if (written < TOTAL) {
      try {
        written += client.write(data.subarray(written));
      } catch {
        // The send buffer is full; try again after the next step.
      }
    }
    pair.run(1);
    const now = pair.clock.now();
    if (cwndBefore < 0 && now >= t0) cwndBefore = s.cc.cwnd;
    const chunk = drain(server);
    for (let k = 0; k < chunk.length; k++) if (chunk[k] !== data[got + k]) intact = false;
    got += chunk.length;
    const settled = o.event === "spike" ? release + 1 : firstAckAfter >= 0 ? firstAckAfter + 11 : -1;
    if (cwndAfter < 0 && settled > 0 && now >= settled) {
      cwndAfter = s.cc.cwnd;
      ssthreshAfter = s.cc.ssthresh;
    }
  }
  const t = pair.a.stats.tcp;
  return {
    intact: intact && got === TOTAL,
    timeouts: t.timeouts,
    retransmits: t.retransmits,
    tlpRetransmits: t.tlpRetransmits,
    frtoAttempts: t.frtoAttempts,
    spuriousRtos: t.spuriousRtos,
    spuriousRetransmits: t.spuriousRetransmits,
    fastRetransmit: t.fastRetransmit,
    cwndBefore,
    cwndAfter,
    ssthreshAfter,
    mss: client.maxPayload(),
  };
}

describe("F-RTO (RFC 5682)", () => {
  for (const sack of [true, false]) {
    const variant = sack ? "SACK-enhanced (§3)" : "basic (§2.1)";

    test(`${variant}: a delay spike past the RTO is found spurious, the window restored, the window not resent`, () => {
      const on = transfer({ sack, frto: true, event: "spike" });
      const off = transfer({ sack, frto: false, event: "spike" });
      console.log(`delay spike, ${variant}:`, { on, off });
      expect(on.intact).toBe(true);
      expect(off.intact).toBe(true);
      // One timeout either way: the ACKs were 300 ms late, the RTO 200 ms.
      expect(on.timeouts).toBe(1);
      expect(off.timeouts).toBe(1);
      // F-RTO: new data on the first ACK (step 2b), the next ACK acknowledges never-retransmitted data
      // (step 3b): spurious, undone.
      expect(on.frtoAttempts).toBe(1);
      expect(on.spuriousRtos).toBe(1);
      expect(on.cwndAfter).toBeGreaterThanOrEqual(on.cwndBefore);
      // Only the timeout's one segment was resent (with SACK the tail loss probe before the RTO sent new
      // data, not a retransmission).
      expect(on.retransmits).toBe(1);
      expect(on.tlpRetransmits).toBe(sack ? 1 : 0);
      expect(on.fastRetransmit).toBe(0);
      // Without F-RTO the window after the timeout is slow start from one segment (ssthresh half the
      // flight), and go-back-N resends data that had arrived: with SACK, a D-SACK for every one of them.
      expect(off.frtoAttempts).toBe(0);
      expect(off.spuriousRtos).toBe(0);
      expect(off.cwndAfter).toBeLessThan(off.cwndBefore);
      expect(off.ssthreshAfter).toBeLessThan(off.cwndBefore);
      expect(off.retransmits).toBe(sack ? 38 : 48);
      if (sack) {
        expect(on.spuriousRetransmits).toBe(1);
        expect(off.spuriousRetransmits).toBe(off.retransmits);
      }
    });

    test(`${variant}: a real loss at the timeout is not undone, and every byte still arrives`, () => {
      const on = transfer({ sack, frto: true, event: "blackout" });
      const off = transfer({ sack, frto: false, event: "blackout" });
      console.log(`blackout, ${variant}:`, { on, off });
      expect(on.intact).toBe(true);
      expect(off.intact).toBe(true);
      expect(on.timeouts).toBeGreaterThanOrEqual(1);
      // Step 2b ran (the first ACK covered the retransmission but not "recover"), and step 3 saw the new
      // segments arrive past the hole: conventional recovery, no undo.
      expect(on.frtoAttempts).toBe(1);
      expect(on.spuriousRtos).toBe(0);
      expect(on.cwndAfter).toBeLessThan(on.cwndBefore);
      expect(on.ssthreshAfter).toBeLessThan(on.cwndBefore);
      expect(off.frtoAttempts).toBe(0);
      expect(off.spuriousRtos).toBe(0);
      // The test costs at most the two new segments, which the basic variant's go-back-N resends.
      expect(on.retransmits).toBeLessThanOrEqual(off.retransmits + 2);
      expect(on.retransmits).toBe(sack ? 74 : 76);
      expect(off.retransmits).toBe(74);
    });

    test(`${variant}: a spike past two RTOs gets no F-RTO at the repeated timeout (§2.1 step 1), as before`, () => {
      const on = transfer({ sack, frto: true, event: "spike", spikeMs: 700 });
      const off = transfer({ sack, frto: false, event: "spike", spikeMs: 700 });
      expect(on.intact).toBe(true);
      expect(on.timeouts).toBe(2);
      // "If the TCP sender is already in RTO recovery AND recover is larger than or equal to SND.UNA, do
      // not enter step 2": the second timeout ends the first one's test, and recovery is conventional.
      expect(on.frtoAttempts).toBe(0);
      expect(on.spuriousRtos).toBe(0);
      expect(on.retransmits).toBe(off.retransmits);
      expect(on.cwndAfter).toBeLessThan(on.cwndBefore);
    });
  }

  test("CUBIC: the undo restores its window too (RFC 9438 §4.9 through the controller's undo)", () => {
    const on = transfer({ sack: true, frto: true, event: "spike", cc: "cubic" });
    const off = transfer({ sack: true, frto: false, event: "spike", cc: "cubic" });
    expect(on.intact).toBe(true);
    expect(on.spuriousRtos).toBe(1);
    expect(on.retransmits).toBe(1);
    expect(on.cwndAfter).toBeGreaterThanOrEqual(on.cwndBefore);
    expect(off.cwndAfter).toBeLessThan(off.cwndBefore);
    expect(off.retransmits).toBeGreaterThan(10);
  });

  test("the stack-wide switch `frto` is a boolean option", () => {
    const pair = new Pair();
    expect(pair.a.tcp.option("frto")).toBe(true);
    pair.a.tcp.setOption("frto", false);
    expect(pair.a.tcp.option("frto")).toBe(false);
    expect(() => pair.a.tcp.setOption("frto", 1)).toThrow(ErrInvalidOptionValue);
  });
});

/**
 * Seeded whole-connection simulations over a `Pair`: random buffer sizes, MTUs, options on or off,
 * NewReno or CUBIC, Nagle on or off, loss, duplication and reordering, slow readers, and a clean close
 * (half-close first or FINs crossing). Every byte must arrive in order and both ends must end CLOSED.
 * (Raise SEEDS locally to explore: 2000 seeds ran clean when this was written.)
 */
import { describe, expect, test } from "bun:test";
import { SeededRandom } from "../../tcpip/random.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";

const SEEDS = 25;

describe("seeded connection simulations", () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    test(`seed ${seed}`, () => {
      const r = new SeededRandom(seed * 31 + 7);
      const small = r.u32() % 2 === 0;
      const rcvBuf = small ? 4096 + (r.u32() % 20000) : 1 << 20;
      const pair = new Pair({
        tcp: {
          timeWaitMs: 1000,
          congestionControl: seed % 2 ? "reno" : "cubic",
          receiveBufferSize: { min: 1024, default: rcvBuf, max: rcvBuf },
          sendBufferSize: { min: 1024, default: 8192 + (r.u32() % 100000), max: 1 << 20 },
          timestamps: r.u32() % 3 !== 0,
          sack: r.u32() % 3 !== 0,
          windowScaling: r.u32() % 3 !== 0,
        },
        mtuA: 200 + (r.u32() % 1300),
        mtuB: 200 + (r.u32() % 1300),
      });
      const { client, server } = pair.connect();
      const loss = r.u32() % 8;
      pair.filter = () => {
        const x = r.u32() % 100;
        if (x < loss) return "drop";
        if (x < loss + 2) return [1 + (r.u32() % 40), 1 + (r.u32() % 40)];
        return 1 + (r.u32() % 25);
      };
      if (r.u32() % 2) client.setSockOpt("NoDelay", true);
      if (r.u32() % 2) server.setSockOpt("NoDelay", true);
      const up = bytes(r.u32() % 150_000, seed);
      const down = bytes(r.u32() % 100_000, seed + 1);
      let upOff = 0;
      let downOff = 0;
      const gotUp: Uint8Array[] = [];
      const gotDown: Uint8Array[] = [];
      let cShut = false;
      let sClosed = false;
      const readEvery = 1 + (r.u32() % 50);
      const simul = r.u32() % 2 === 0;
      for (let i = 0; i < 400_000 && !(client.state === "CLOSED" && server.state === "CLOSED"); i++) {
        try {
          if (upOff < up.length) upOff += client.write(up.subarray(upOff, upOff + 1 + (r.u32() % 5000)));
          else if (!cShut) {
            client.shutdown(2);
            cShut = true;
          }
        } catch {}
        try {
          if (downOff < down.length)
            downOff += server.write(down.subarray(downOff, downOff + 1 + (r.u32() % 5000)));
        } catch {}
        pair.run(1 + (r.u32() % 5));
        if (i % readEvery === 0) {
          gotUp.push(drain(server));
          gotDown.push(drain(client));
        }
        if (!sClosed && downOff === down.length && (simul || server.rcv.finReceived)) {
          server.shutdown(2);
          sClosed = true;
        }
        if (sClosed && server.rcv.finReceived && server.rcv.queue.size === 0 && !server.closedByUser)
          server.close();
        if (cShut && client.rcv.finReceived && client.rcv.queue.size === 0 && !client.closedByUser)
          client.close();
      }
      const info = `seed ${seed} c=${client.state} s=${server.state} up ${Buffer.concat(gotUp).length}/${up.length} down ${Buffer.concat(gotDown).length}/${down.length} ch=${client.hardError?.name} sh=${server.hardError?.name}`;
      expect(
        info +
          (Buffer.compare(Buffer.concat(gotUp), up) === 0 &&
          Buffer.compare(Buffer.concat(gotDown), down) === 0
            ? " ok"
            : " BAD"),
      ).toEndWith(" ok");
      pair.run(5000);
      expect(`${client.state} ${server.state}`).toBe("CLOSED CLOSED");
    });
  }
});

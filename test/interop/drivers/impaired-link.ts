/**
 * A link wrapper for the interop driver that impairs traffic the way a bad
 * path would, deterministically (seeded): drops packets both ways, and on the
 * way in also duplicates and reorders them (a held packet is delivered after
 * the next one). The kernel's TCP on the other side is real, so the stack's
 * loss recovery, SACK and duplicate handling meet Linux's.
 */
import type { PacketBuffer } from "../../../src/buffer/packet-buffer.ts";
import type { LinkEndpoint, NetworkDispatcher } from "../../../src/link/link-endpoint.ts";
import { SeededRandom } from "../../../src/tcpip/random.ts";

export interface Impairment {
  /** Probability of dropping an inbound (kernel → stack) packet. */
  lossIn?: number;
  /** Probability of dropping an outbound (stack → kernel) packet. */
  lossOut?: number;
  /** Probability of delivering an inbound packet twice. */
  dupIn?: number;
  /** Probability of holding an inbound packet back until the next one has been delivered. */
  reorderIn?: number;
  seed?: number;
}

export interface ImpairmentCounts {
  droppedIn: number;
  droppedOut: number;
  duplicatedIn: number;
  reorderedIn: number;
}

export function impair(inner: LinkEndpoint, o: Impairment): { link: LinkEndpoint; counts: ImpairmentCounts } {
  const rnd = new SeededRandom(o.seed ?? 1);
  const p = () => rnd.u32() / 2 ** 32;
  const counts: ImpairmentCounts = { droppedIn: 0, droppedOut: 0, duplicatedIn: 0, reorderedIn: 0 };
  let held: { protocol: number; pkt: PacketBuffer } | undefined;
  const link: LinkEndpoint = {
    get mtu() {
      return inner.mtu;
    },
    get capabilities() {
      return inner.capabilities;
    },
    get maxHeaderLength() {
      return inner.maxHeaderLength;
    },
    get linkAddress() {
      return inner.linkAddress;
    },
    ...(inner.gsoMaxSize !== undefined ? { gsoMaxSize: inner.gsoMaxSize } : {}),
    ...(inner.carriesFrames !== undefined ? { carriesFrames: inner.carriesFrames } : {}),
    attach(d: NetworkDispatcher | undefined) {
      if (!d) return inner.attach(undefined);
      inner.attach({
        deliverNetworkPacket(protocol, pkt) {
          if (p() < (o.lossIn ?? 0)) {
            counts.droppedIn++;
            return;
          }
          if (!held && p() < (o.reorderIn ?? 0)) {
            // The link may reuse its read buffers once we return: keep a copy.
            held = { protocol, pkt: pkt.clone() };
            counts.reorderedIn++;
            return;
          }
          const dup = p() < (o.dupIn ?? 0) ? pkt.clone() : undefined;
          d.deliverNetworkPacket(protocol, pkt);
          if (dup) {
            counts.duplicatedIn++;
            d.deliverNetworkPacket(protocol, dup);
          }
          if (held) {
            const h = held;
            held = undefined;
            d.deliverNetworkPacket(h.protocol, h.pkt);
          }
        },
      });
    },
    isAttached: () => inner.isAttached(),
    writePackets(pkts: readonly PacketBuffer[]): number {
      let done = 0;
      for (const pkt of pkts) {
        if (p() < (o.lossOut ?? 0)) {
          counts.droppedOut++;
          done++;
          continue;
        }
        if (inner.writePackets([pkt]) === 0) break;
        done++;
      }
      return done;
    },
    ...(inner.wait ? { wait: () => inner.wait!() } : {}),
    ...(inner.close ? { close: () => inner.close!() } : {}),
  };
  return { link, counts };
}

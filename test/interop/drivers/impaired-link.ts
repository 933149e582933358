/**
 * A link wrapper for the interop driver that impairs traffic the way a bad
 * path would, deterministically (seeded): drops packets both ways, and on the
 * way in also duplicates and reorders them (a held packet is delivered after
 * the next one), or marks ECN-capable ones CE as a congested router would
 * instead of dropping them (RFC 3168 §5). The kernel's TCP on the other side is real, so the stack's
 * loss recovery, SACK and duplicate handling meet Linux's.
 */
import type { PacketBuffer } from "../../../src/buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../../src/header/checksum.ts";
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
  /** Probability of marking an inbound ECN-capable (ECT(0) or ECT(1)) packet CE (RFC 3168 §5). */
  ceIn?: number;
  /** Probability of marking an outbound ECN-capable packet CE. */
  ceOut?: number;
  seed?: number;
}

export interface ImpairmentCounts {
  droppedIn: number;
  droppedOut: number;
  duplicatedIn: number;
  reorderedIn: number;
  /** Inbound and outbound packets marked CE. */
  ceMarkedIn: number;
  ceMarkedOut: number;
}

/** How long a reordered packet waits for one to overtake it. */
const HOLD_MS = 5;
/** Packets up to this many bytes count as ACK-sized (IPv6 + TCP with options is 92). */
const SMALL = 128;

/**
 * Sets an ECN-capable packet's ECN field to CE in place (RFC 3168 §5); IPv4's header checksum is updated
 * (RFC 1624). Returns whether it marked. Not-ECT and already-CE packets are left alone.
 */
function markCe(pkt: PacketBuffer): boolean {
  const b = pkt.data;
  const h = pkt.head;
  if (pkt.size < 40) return false;
  const version = b[h]! >>> 4;
  if (version === 4) {
    const tos = b[h + 1]!;
    if ((tos & 3) === 0 || (tos & 3) === 3) return false;
    b[h + 1] = tos | 3;
    b[h + 10] = 0;
    b[h + 11] = 0;
    const c = finishChecksum(checksum(b, h, (b[h]! & 0x0f) * 4));
    b[h + 10] = c >>> 8;
    b[h + 11] = c & 0xff;
    return true;
  }
  if (version === 6) {
    const ecn = (b[h + 1]! >>> 4) & 3;
    if (ecn === 0 || ecn === 3) return false;
    b[h + 1] = b[h + 1]! | 0x30;
    return true;
  }
  return false;
}

export function impair(inner: LinkEndpoint, o: Impairment): { link: LinkEndpoint; counts: ImpairmentCounts } {
  // One stream per decision kind, and for losses one per direction and size
  // class: whether the n-th data packet (or the n-th ACK-sized one) in a
  // direction is dropped depends only on the seed, not on how packets
  // interleave in time. A seed that drops early always drops, so a test's
  // "the path really was bad" check holds even for the ~50 data packets of a
  // 64 KiB-offload transfer (a single shared stream made that flaky).
  const stream = (salt: number) => {
    const rnd = new SeededRandom((o.seed ?? 1) * 8 + salt);
    return () => rnd.u32() / 2 ** 32;
  };
  const lossIn = [stream(0), stream(1)];
  const lossOut = [stream(2), stream(3)];
  const pReorder = stream(4);
  const pDup = stream(5);
  const pCe = stream(6);
  const pCeOut = stream(7);
  /** 0 for packets that carry data, 1 for ACK-sized ones. */
  const sizeClass = (pkt: PacketBuffer) => (pkt.size > SMALL ? 0 : 1);
  const counts: ImpairmentCounts = {
    droppedIn: 0,
    droppedOut: 0,
    duplicatedIn: 0,
    reorderedIn: 0,
    ceMarkedIn: 0,
    ceMarkedOut: 0,
  };
  let held: { protocol: number; pkt: PacketBuffer } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
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
      if (!d) {
        clearTimeout(timer);
        held = undefined;
        return inner.attach(undefined);
      }
      // A held packet goes out behind the next one, or after HOLD_MS if none
      // comes (a path reorders, it does not keep the last packet forever: the
      // last fragment of the last ping would never arrive).
      const release = () => {
        timer = undefined;
        if (!held) return;
        const h = held;
        held = undefined;
        d.beginBatch?.();
        try {
          d.deliverNetworkPacket(h.protocol, h.pkt);
        } finally {
          d.endBatch?.();
        }
      };
      inner.attach({
        ...(d.beginBatch ? { beginBatch: () => d.beginBatch!() } : {}),
        ...(d.endBatch ? { endBatch: () => d.endBatch!() } : {}),
        deliverNetworkPacket(protocol, pkt) {
          if (lossIn[sizeClass(pkt)]!() < (o.lossIn ?? 0)) {
            counts.droppedIn++;
            return;
          }
          if ((o.ceIn ?? 0) > 0 && pCe() < o.ceIn! && markCe(pkt)) counts.ceMarkedIn++;
          if (!held && pReorder() < (o.reorderIn ?? 0)) {
            // The link may reuse its read buffers once we return: keep a copy.
            held = { protocol, pkt: pkt.clone() };
            counts.reorderedIn++;
            timer = setTimeout(release, HOLD_MS);
            return;
          }
          const dup = pDup() < (o.dupIn ?? 0) ? pkt.clone() : undefined;
          d.deliverNetworkPacket(protocol, pkt);
          if (dup) {
            counts.duplicatedIn++;
            d.deliverNetworkPacket(protocol, dup);
          }
          if (held) {
            clearTimeout(timer);
            timer = undefined;
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
        if (lossOut[sizeClass(pkt)]!() < (o.lossOut ?? 0)) {
          counts.droppedOut++;
          done++;
          continue;
        }
        if ((o.ceOut ?? 0) > 0 && pCeOut() < o.ceOut! && markCe(pkt)) counts.ceMarkedOut++;
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

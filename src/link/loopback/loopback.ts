/**
 * The loopback link: every packet written comes back in as received.
 *
 * Delivery choice: written packets are copied into a FIFO and delivered after
 * the writer's batch has been queued, by the outermost `writePackets` call on
 * the stack (like Linux's loopback, which hands packets to the receive softirq
 * rather than calling the receiver from the sender). A packet written while
 * that delivery runs (a SYN-ACK answering a SYN) joins the FIFO and is
 * delivered by the same loop, so delivery never nests deeper than one level
 * however long the exchange goes on. It still happens inside the first
 * writer's call; a stack that cannot take that can pass `schedule` (for
 * example `(fn) => clock.afterFunc(0, fn)`) to deliver later instead, or call
 * `flush()` itself.
 *
 * `maxPerDrain` bounds one drain so a ping-pong bug ends instead of hanging;
 * what is left is delivered by the next write or `flush()`.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";

export const LOOPBACK_MTU = 65536;

export interface LoopbackOptions {
  /** Default 65536, as Linux's `lo`. */
  mtu?: number;
  /**
   * Default `Loopback | RXChecksumOffload`: nothing on the loopback wire can
   * corrupt a packet, so the receiver may skip verifying checksums, while the
   * sender still computes them (pcaps stay valid). Add `TXChecksumOffload` to
   * skip those as well.
   */
  capabilities?: number;
  /** Defers delivery: called with the drain function when the FIFO becomes non-empty. */
  schedule?: (drain: () => void) => void;
  /** Most packets one drain delivers (default 100 000). */
  maxPerDrain?: number;
}

export class LoopbackEndpoint implements LinkEndpoint {
  readonly mtu: number;
  readonly capabilities: number;
  readonly maxHeaderLength = 0;
  readonly linkAddress = LinkAddress.EMPTY;

  readonly stats = {
    /** Packets delivered back in. */
    delivered: 0,
    /** Packets larger than the MTU, dropped at write. */
    oversize: 0,
    /** Packets dropped because no dispatcher was attached when their turn came. */
    detached: 0,
    /** Written packets dropped after `close()`. */
    closed: 0,
  };

  private dispatcher: NetworkDispatcher | undefined;
  private fifo: (PacketBuffer | undefined)[] = [];
  private next = 0;
  private draining = false;
  private scheduled = false;
  private isClosed = false;
  private readonly schedule: ((drain: () => void) => void) | undefined;
  private readonly maxPerDrain: number;

  constructor(opts: LoopbackOptions = {}) {
    const mtu = opts.mtu ?? LOOPBACK_MTU;
    if (!Number.isInteger(mtu) || mtu <= 0) throw new ErrInvalidOptionValue();
    this.mtu = mtu;
    this.capabilities = opts.capabilities ?? LinkCapability.Loopback | LinkCapability.RXChecksumOffload;
    this.schedule = opts.schedule;
    this.maxPerDrain = opts.maxPerDrain ?? 100_000;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /** Copies each packet into the FIFO, then delivers (see the file comment). */
  writePackets(pkts: readonly PacketBuffer[]): number {
    let accepted = 0;
    for (const pkt of pkts) {
      if (this.isClosed) {
        this.stats.closed++;
        continue;
      }
      if (pkt.size > this.mtu && !pkt.gso) {
        this.stats.oversize++;
        continue;
      }
      // A fresh buffer: the receiver must not share bytes with the sender's retransmit queue.
      const copy = PacketBuffer.withPayload(0, pkt.bytes());
      copy.networkProtocol = pkt.networkProtocol || protocolFromVersion(copy);
      copy.checksumVerified = (this.capabilities & LinkCapability.RXChecksumOffload) !== 0;
      this.fifo.push(copy);
      accepted++;
    }
    if (accepted > 0) this.kick();
    return accepted;
  }

  /** Delivers queued packets now (up to `maxPerDrain`); returns how many. Re-entrant calls return 0. */
  flush(): number {
    if (this.draining) return 0;
    this.draining = true;
    let n = 0;
    try {
      while (this.next < this.fifo.length && n < this.maxPerDrain) {
        const pkt = this.fifo[this.next]!;
        this.fifo[this.next++] = undefined;
        n++;
        const d = this.dispatcher;
        if (!d) {
          this.stats.detached++;
          continue;
        }
        this.stats.delivered++;
        d.deliverNetworkPacket(pkt.networkProtocol, pkt);
      }
    } finally {
      this.draining = false;
      if (this.next === this.fifo.length) {
        this.fifo.length = 0;
        this.next = 0;
      }
    }
    return n;
  }

  /** Packets written but not yet delivered. */
  get pending(): number {
    return this.fifo.length - this.next;
  }

  wait(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops undelivered packets; later writes are dropped and counted. */
  close(): void {
    this.isClosed = true;
    this.fifo.length = 0;
    this.next = 0;
  }

  private kick(): void {
    if (this.draining) return; // The running drain delivers the new packets.
    if (!this.schedule) {
      this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.flush();
      if (this.pending > 0) this.kick();
    });
  }
}

/** The network protocol from the IP version nibble, for packets written without `networkProtocol`. */
function protocolFromVersion(pkt: PacketBuffer): number {
  if (pkt.size === 0) return 0;
  const v = pkt.data[pkt.head]! >>> 4;
  return v === 4 ? IPV4_PROTOCOL_NUMBER : v === 6 ? IPV6_PROTOCOL_NUMBER : 0;
}

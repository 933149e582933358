/**
 * The test workhorse (gVisor's `link/channel`): a link whose wire is two
 * in-memory queues. Tests inject inbound packets with `injectInbound` and read
 * what the stack wrote with `read`/`readAll`; `connectChannels` (pipe.ts)
 * wires two stacks together.
 *
 * Outbound packets are queued by reference in a bounded ring; when it is full
 * the rest of the batch is dropped and counted (`stats.queueFull`), as a real
 * NIC's TX ring would. Packets larger than the MTU are dropped and counted
 * (`stats.oversize`) unless `enforceMtu: false`, so a stack bug that sends
 * past the MTU shows up in tests instead of passing silently.
 *
 * In "frame" mode the channel carries whole Ethernet frames: put an
 * `EthernetEndpoint` on top of it to run ARP/NDP between stacks.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";

/** Bytes an Ethernet II header adds in front of the MTU in "frame" mode (RFC 894). */
const FRAME_HEADER_ALLOWANCE = 14;

export interface ChannelOptions {
  /** Largest network-layer packet (in "frame" mode: largest frame payload, as Linux counts a NIC's MTU). */
  mtu: number;
  linkAddress?: LinkAddress;
  capabilities?: number;
  /** Capacity of the outbound queue in packets (default 1024). */
  queueSize?: number;
  /** Largest super-segment accepted when `capabilities` has `HardwareGSO` (default 0). */
  gsoMaxSize?: number;
  /** Headroom the channel asks for in front of each packet (default 0). */
  maxHeaderLength?: number;
  /** "ip" (default): network-layer packets; "frame": whole Ethernet frames. */
  mode?: "ip" | "frame";
  /** Drop outbound packets larger than the MTU (default true). */
  enforceMtu?: boolean;
}

/**
 * One packet that the stack wrote, with the network protocol it was written
 * with (`pkt.networkProtocol`, or in "ip" mode the IP version when that is 0).
 */
export interface PacketInfo {
  protocol: number;
  pkt: PacketBuffer;
}

export class ChannelEndpoint implements LinkEndpoint {
  readonly mtu: number;
  readonly capabilities: number;
  readonly maxHeaderLength: number;
  readonly linkAddress: LinkAddress;
  readonly gsoMaxSize: number;
  readonly carriesFrames: boolean;
  readonly queueSize: number;

  readonly stats = {
    /** Packets accepted into the outbound queue. */
    written: 0,
    /** Outbound packets dropped because the queue was full. */
    queueFull: 0,
    /** Outbound packets dropped for exceeding the MTU. */
    oversize: 0,
    /** Outbound packets dropped because the channel was closed. */
    closed: 0,
    /** Inbound packets delivered to the dispatcher. */
    injected: 0,
    /** Inbound packets dropped because no dispatcher was attached. */
    injectedDetached: 0,
  };

  private dispatcher: NetworkDispatcher | undefined;
  private readonly ring: (PacketBuffer | undefined)[];
  private readonly protocols: Uint32Array;
  private first = 0;
  private count = 0;
  private isClosed = false;
  private readonly enforceMtu: boolean;
  private readonly notifiers: (() => void)[] = [];

  constructor(opts: ChannelOptions) {
    const queueSize = opts.queueSize ?? 1024;
    if (!Number.isInteger(opts.mtu) || opts.mtu <= 0) throw new ErrInvalidOptionValue();
    if (!Number.isInteger(queueSize) || queueSize <= 0) throw new ErrInvalidOptionValue();
    this.mtu = opts.mtu;
    this.linkAddress = opts.linkAddress ?? LinkAddress.EMPTY;
    this.capabilities = opts.capabilities ?? LinkCapability.None;
    this.gsoMaxSize = opts.gsoMaxSize ?? 0;
    this.maxHeaderLength = opts.maxHeaderLength ?? 0;
    this.carriesFrames = opts.mode === "frame";
    this.enforceMtu = opts.enforceMtu ?? true;
    this.queueSize = queueSize;
    this.ring = new Array<PacketBuffer | undefined>(queueSize).fill(undefined);
    this.protocols = new Uint32Array(queueSize);
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /**
   * Queues packets for the test to read. Returns how many were accepted:
   * packets past a full queue, oversize ones, and all after `close()` are
   * dropped and counted. Notifies `onWrite` listeners once per batch that
   * queued anything.
   */
  writePackets(pkts: readonly PacketBuffer[]): number {
    let accepted = 0;
    for (const pkt of pkts) {
      if (this.isClosed) {
        this.stats.closed++;
        continue;
      }
      if (this.enforceMtu && pkt.size > this.limitFor(pkt)) {
        this.stats.oversize++;
        continue;
      }
      if (this.count === this.queueSize) {
        this.stats.queueFull++;
        continue;
      }
      const i = (this.first + this.count) % this.queueSize;
      this.ring[i] = pkt;
      this.protocols[i] = pkt.networkProtocol || (this.carriesFrames ? 0 : protocolFromVersion(pkt));
      this.count++;
      accepted++;
    }
    this.stats.written += accepted;
    if (accepted > 0) for (const fn of this.notifiers) fn();
    return accepted;
  }

  /**
   * Delivers one packet to the attached dispatcher, as if it arrived on the
   * wire (bytes are wrapped without copying). Dropped and counted when detached.
   * In "frame" mode `pkt` is a whole frame and `protocol` is passed through unread.
   */
  injectInbound(protocol: number, pkt: PacketBuffer | Uint8Array): void {
    const d = this.dispatcher;
    if (!d) {
      this.stats.injectedDetached++;
      return;
    }
    this.stats.injected++;
    d.deliverNetworkPacket(protocol, pkt instanceof PacketBuffer ? pkt : PacketBuffer.wrap(pkt));
  }

  /** The oldest queued outbound packet, removed from the queue; `undefined` when empty. */
  read(): PacketInfo | undefined {
    if (this.count === 0) return undefined;
    const i = this.first;
    const pkt = this.ring[i]!;
    this.ring[i] = undefined;
    this.first = (i + 1) % this.queueSize;
    this.count--;
    return { protocol: this.protocols[i]!, pkt };
  }

  /** Every queued outbound packet, oldest first; the queue is left empty. */
  readAll(): PacketInfo[] {
    const out: PacketInfo[] = [];
    for (let p = this.read(); p; p = this.read()) out.push(p);
    return out;
  }

  /** Discards every queued outbound packet; returns how many there were. */
  drain(): number {
    const n = this.count;
    for (let k = 0; k < n; k++) this.ring[(this.first + k) % this.queueSize] = undefined;
    this.first = 0;
    this.count = 0;
    return n;
  }

  /** Outbound packets waiting to be read. */
  get queued(): number {
    return this.count;
  }

  /**
   * Registers `fn` to run after each `writePackets` call that queued at least
   * one packet (the packets are readable when it runs). Returns a function that
   * unregisters it. Listeners must not assume they run outside the writer's
   * call: deliver to another stack from `Pipe.flush`, not from here, unless
   * re-entrancy is what the test wants.
   */
  onWrite(fn: () => void): () => void {
    this.notifiers.push(fn);
    return () => {
      const i = this.notifiers.indexOf(fn);
      if (i !== -1) this.notifiers.splice(i, 1);
    };
  }

  /** Resolves at once: a channel has no in-flight work. */
  wait(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops queued packets; later writes are dropped and counted (`stats.closed`). */
  close(): void {
    this.isClosed = true;
    this.drain();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private limitFor(pkt: PacketBuffer): number {
    const framing = this.carriesFrames ? FRAME_HEADER_ALLOWANCE : 0;
    const gso = pkt.gso;
    if (gso && gso.type !== 0 && (this.capabilities & LinkCapability.HardwareGSO) !== 0) {
      return Math.max(this.mtu, this.gsoMaxSize) + framing;
    }
    return this.mtu + framing;
  }
}

/** For a packet written without `networkProtocol`: the IP version nibble decides (0 if neither). */
function protocolFromVersion(pkt: PacketBuffer): number {
  if (pkt.size === 0) return 0;
  const v = pkt.data[pkt.head]! >>> 4;
  return v === 4 ? IPV4_PROTOCOL_NUMBER : v === 6 ? IPV6_PROTOCOL_NUMBER : 0;
}

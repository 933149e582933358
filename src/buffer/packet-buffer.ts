import type { LinkAddress } from "../tcpip/link-address.ts";

/**
 * Segmentation offload metadata carried with a packet (virtio-net semantics).
 * On outbound packets it asks the link to segment a super-packet; on inbound
 * ones it says the packet was coalesced by the peer (GRO) and its checksum is
 * partial.
 */
export interface GsoInfo {
  /** 0 none, 1 TCPv4, 4 TCPv6, 5 UDP L4 (VIRTIO_NET_HDR_GSO_*). */
  type: number;
  /** Payload bytes per segment (the MSS for TCP). */
  size: number;
  /** Length of all headers before the payload. */
  headerLength: number;
  /** Whether the transport checksum must still be completed (NEEDS_CSUM). */
  needsChecksum: boolean;
  checksumStart: number;
  checksumOffset: number;
}

/**
 * A packet in one contiguous buffer with headroom, so each lower layer can
 * prepend its header in place (`prepend`) without copying the payload.
 *
 * Bytes live in `data[head, tail)`. Layer offsets are absolute indexes into
 * `data` (or -1 when not known yet); they stay valid while the packet moves
 * up or down, since neither `prepend` nor `consume` moves bytes.
 */
export class PacketBuffer {
  head: number;
  tail: number;
  linkHeader = -1;
  networkHeader = -1;
  transportHeader = -1;
  /** EtherType of the network layer (0 when unknown). */
  networkProtocol = 0;
  /** IP protocol number of the transport layer (0 when unknown). */
  transportProtocol = 0;
  /** NIC the packet arrived on (inbound) or leaves through (outbound); 0 when not set. */
  nic = 0;
  /** Link addresses: source and destination of the frame, when the link has them. */
  linkSrc: LinkAddress | undefined;
  linkDst: LinkAddress | undefined;
  /** Whether the link or its peer already verified the transport checksum (checksum offload). */
  checksumVerified = false;
  gso: GsoInfo | undefined;
  /** Whether the packet was addressed to a link broadcast or multicast address. */
  linkBroadcastOrMulticast = false;
  /**
   * Set by the NIC when it handed the packet straight to a link that declares `synchronousWrite`
   * (src/link/link-endpoint.ts): that link was done with it when `writePackets` returned, and no layer
   * between the writer and the link kept it (no neighbor queue, no local delivery, no fragments made
   * of it). Only then may the writer reuse the packet and its `data` for a later packet (issue 10).
   * False on every other path, so a link or test that keeps packets never sees a buffer reused.
   */
  consumedByLink = false;
  /**
   * Set by a link on an inbound packet whose bytes a layer above may keep as views instead of copying
   * them (TCP's receive queue does for large in-order segments, issue 10); a kept view pins `data`'s
   * whole backing buffer. Without a `lease` the link will never write or reuse `data` again; with one,
   * a layer that keeps a view must `hold` the lease first. False by default: the bytes may be reused.
   */
  dataKeepable = false;
  /**
   * With `dataKeepable`: the link reuses `data` once no layer holds this lease (the fdbased link
   * rewinds its receive slab instead of allocating a fresh one, which cost a garbage collection every
   * few MiB, issue 10). `undefined`: the bytes are given away for good.
   */
  lease: BufferLease | undefined = undefined;

  constructor(
    public data: Uint8Array,
    head = 0,
    tail = data.length,
  ) {
    this.head = head;
    this.tail = tail;
  }

  /** A packet with `headroom` free bytes before `payload` (payload copied in once). */
  static withPayload(headroom: number, payload: Uint8Array): PacketBuffer {
    const data = new Uint8Array(headroom + payload.length);
    data.set(payload, headroom);
    return new PacketBuffer(data, headroom, headroom + payload.length);
  }

  /** A packet of `size` zero bytes with `headroom` before it. */
  static alloc(headroom: number, size: number): PacketBuffer {
    return new PacketBuffer(new Uint8Array(headroom + size), headroom, headroom + size);
  }

  /** Wraps received bytes without copying. */
  static wrap(bytes: Uint8Array): PacketBuffer {
    return new PacketBuffer(bytes, 0, bytes.length);
  }

  /**
   * Makes this packet new again over the same `data`: bytes `[head, tail)`, every offset and metadata
   * field reset. For a writer that owns the packet again (`consumedByLink`); the bytes are not cleared.
   */
  reuse(head: number, tail: number): void {
    this.head = head;
    this.tail = tail;
    this.linkHeader = -1;
    this.networkHeader = -1;
    this.transportHeader = -1;
    this.networkProtocol = 0;
    this.transportProtocol = 0;
    this.nic = 0;
    this.linkSrc = undefined;
    this.linkDst = undefined;
    this.checksumVerified = false;
    this.gso = undefined;
    this.linkBroadcastOrMulticast = false;
    this.consumedByLink = false;
    this.dataKeepable = false;
    this.lease = undefined;
  }

  get size(): number {
    return this.tail - this.head;
  }

  get headroom(): number {
    return this.head;
  }

  /** Makes room for `n` bytes in front and returns their offset in `data`. Grows (one copy) if headroom is short. */
  prepend(n: number): number {
    if (n > this.head) this.grow(n - this.head + 64);
    this.head -= n;
    return this.head;
  }

  /** Drops `n` bytes from the front (the header just parsed). */
  consume(n: number): void {
    if (n > this.size) throw new RangeError(`Cannot consume ${n} bytes of a ${this.size}-byte packet`);
    this.head += n;
  }

  /** Keeps only the first `n` bytes (drops link padding past the IP total length). */
  truncate(n: number): void {
    if (n < this.size) this.tail = this.head + n;
  }

  /** The packet's bytes, as a view (no copy). */
  bytes(): Uint8Array {
    return this.data.subarray(this.head, this.tail);
  }

  /** Bytes from absolute offset `from` to the end. */
  bytesFrom(from: number): Uint8Array {
    return this.data.subarray(from, this.tail);
  }

  /** The bytes after the transport header offset (or after `head` if unknown) up to the end. */
  payloadFrom(off: number): Uint8Array {
    return this.data.subarray(off, this.tail);
  }

  /** A deep copy with the same offsets and metadata (for the sniffer, loopback and retransmit queues). */
  clone(): PacketBuffer {
    const c = new PacketBuffer(this.data.slice(), this.head, this.tail);
    c.linkHeader = this.linkHeader;
    c.networkHeader = this.networkHeader;
    c.transportHeader = this.transportHeader;
    c.networkProtocol = this.networkProtocol;
    c.transportProtocol = this.transportProtocol;
    c.nic = this.nic;
    c.linkSrc = this.linkSrc;
    c.linkDst = this.linkDst;
    c.checksumVerified = this.checksumVerified;
    c.gso = this.gso ? { ...this.gso } : undefined;
    c.linkBroadcastOrMulticast = this.linkBroadcastOrMulticast;
    return c;
  }

  /**
   * A compact copy of only the live bytes with `headroom` in front; offsets are shifted to match.
   * A header already consumed (its offset before `head`) is not in the copy, so its offset becomes -1.
   */
  compact(headroom: number): PacketBuffer {
    const c = this.clone();
    const shift = headroom - this.head;
    const d = new Uint8Array(headroom + this.size);
    d.set(this.bytes(), headroom);
    c.data = d;
    c.head = headroom;
    c.tail = headroom + this.size;
    const move = (off: number) => (off >= this.head ? off + shift : -1);
    c.linkHeader = move(c.linkHeader);
    c.networkHeader = move(c.networkHeader);
    c.transportHeader = move(c.transportHeader);
    return c;
  }

  private grow(extra: number): void {
    const d = new Uint8Array(this.data.length + extra);
    d.set(this.data, extra);
    this.data = d;
    this.head += extra;
    this.tail += extra;
    if (this.linkHeader >= 0) this.linkHeader += extra;
    if (this.networkHeader >= 0) this.networkHeader += extra;
    if (this.transportHeader >= 0) this.transportHeader += extra;
  }
}

/**
 * A link's claim on the memory behind inbound packets (`PacketBuffer.lease`). A layer that keeps a
 * view of the bytes calls `hold` once; it calls `release` when it dropped the view without handing it
 * on. A view handed on (to a reader, who may keep it) is never released: the link then leaves that
 * memory to the garbage collector.
 */
export interface BufferLease {
  hold(): void;
  release(): void;
}

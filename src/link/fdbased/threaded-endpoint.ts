import { ptr } from "bun:ffi";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { VIRTIO_NET_HDR_SIZE } from "../../header/virtio-net.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";
import { close as closeFd, EFD_CLOEXEC, ERRNO, eventfd, writeAddress, writeFd } from "../rawfile/index.ts";
import {
  CONTROL_CELLS,
  type IoWorkerStart,
  RX_EMPTY,
  RX_ERRNO,
  RX_HANGUP,
  RX_HEAD,
  RX_NOTIFIES,
  RX_POLLS,
  RX_SLEEP,
  RX_SPACE,
  RX_TAIL,
  STOP,
  TX_EAGAIN,
  TX_ERRORS,
  TX_HEAD,
  TX_SLEEP,
  TX_SPACE,
  TX_TAIL,
} from "./io-protocol.ts";
import { ipProtocolOf } from "./ip-version.ts";
import { memcpy } from "./memcpy.ts";
import { DEFAULT_BATCH_BYTES, RECEIVE_SLAB_SIZE, ReceiveSlabs, type Slab } from "./receive-slabs.ts";
import { TcpGsoCoalescer } from "./tcp-gso-coalescer.ts";
import { fillTxHeader, rxGsoType, setRxOffload } from "./virtio-offload.ts";
import { workerUrl } from "./worker-url.ts";

/** Most packets delivered per event-loop turn before yielding (timers, HTTP). */
const DEFAULT_BATCH = 256;
/** Slots per ring (a power of two). */
const DEFAULT_RX_SLOTS = 2048;
const DEFAULT_TX_SLOTS = 4096;
/** With a vnet header a slot holds a 64 KiB super-packet: fewer of them. */
const DEFAULT_VNET_SLOTS = 128;
/** Largest IP packet (or GSO super-packet): a 16-bit total length. */
const MAX_IP_PACKET = 65535;
/**
 * After a drain that found packets, keep looking at the RX ring from the event
 * loop (`setImmediate`) for this long before sleeping (see `spinMs`). Off by
 * default: with the reader and the writer beside it, a spinning main thread
 * takes a core they need. On the team's loaded 2-vCPU VM (load 5-6, two
 * interleaved pairs through `netstack serve`): spin 0 against 1 ms, upload
 * 0.55/0.53 against 0.28/0.46 Gbit/s, download 0.83/0.87 against 0.63/0.64,
 * 1-byte request/response 10,200/s against 4,800/s.
 */
const DEFAULT_SPIN_MS = 0;
/**
 * After a drain that found packets and left the ring empty, the main thread
 * blocks in `Atomics.wait` for up to this long (see `parkMs`) before going to
 * sleep in `Atomics.waitAsync`.
 */
const DEFAULT_PARK_MS = 0.2;
/** How long the main thread blocks at most, per attempt, on a full TX ring before looking again. */
const TX_SPACE_WAIT_MS = 50;
/** Waits in a row without the writer freeing a slot after which a full TX ring drops the packet (~2 s). */
const TX_STALL_WAITS = 40;
/** Packets the main thread writes itself per receive drain while the writer sleeps (see `inlineBudget`). */
const INLINE_WRITES_PER_DRAIN = 1;

export interface ThreadedFdEndpointOptions {
  /** A boundary-preserving fd carrying IP packets (a TUN), nonblocking. */
  fd: number;
  /** Largest network-layer packet (the device MTU). */
  mtu: number;
  /** Close the fd once both workers have stopped (default false: the opener owns it). */
  ownsFd?: boolean;
  /** Called once after `close()`, when no worker uses the fd any more (e.g. to close the device). */
  onClosed?: () => void;
  /** Called when the dispatcher throws or the fd fails; the endpoint counts and keeps going. */
  onError?: (error: unknown) => void;
  /** Packets delivered per event-loop turn (default 256). */
  batchSize?: number;
  /**
   * Bytes delivered per batch before it ends (default 256 KiB, as `FdEndpoint`'s): the batch's one
   * ACK then goes out. With 64 KiB GRO packets, 256 of them made a 16 MiB batch and 20–35 ms without
   * an ACK, and the kernel sender fired a tail-loss probe 8–19 times per GiB (issue 10).
   */
  batchBytes?: number;
  /**
   * After a drain that found packets, keep draining from the event loop for
   * this many milliseconds before sleeping: no reader notify or main-thread
   * wake-up while traffic is dense, at the price of a busy core. Default 0
   * (see `DEFAULT_SPIN_MS`).
   */
  spinMs?: number;
  /**
   * Every packet on the fd starts with a 10-byte virtio-net header (a TUN
   * opened with IFF_VNET_HDR and offloads), as for `FdEndpoint`: GRO
   * super-packets in, GSO super-packets out (segments of one flow written in
   * one event-loop turn are merged by tcp-gso-coalescer.ts).
   */
  vnetHdr?: boolean;
  /** With `vnetHdr`: advertise `TXChecksumOffload` (see `FdEndpointOptions`). Default false. */
  txChecksumOffload?: boolean;
  /** With `vnetHdr`: largest super-segment accepted (default 65535). */
  gsoMaxSize?: number;
  /** With `vnetHdr`: merge TCP segments into GSO super-packets (default true). */
  txCoalesce?: boolean;
  /**
   * After a drain that found packets and left the ring empty, block the main
   * thread in `Atomics.wait` (no CPU) for up to this many milliseconds, in a
   * task of its own (microtasks of the drain have run), waiting for the next
   * packet: the reader then wakes this thread with a plain futex wake, not
   * through the event loop as `Atomics.waitAsync` does, and dense traffic (a
   * bulk transfer, a request/response exchange) stays on the fast path at no
   * CPU cost. Timers and I/O wait at most this long. Default 0.2; 0 turns it off.
   */
  parkMs?: number;
  /** Slots in the RX ring, a power of two (default 2048; 128 with `vnetHdr`). */
  rxSlots?: number;
  /** Slots in the TX ring, a power of two (default 4096; 128 with `vnetHdr`). */
  txSlots?: number;
}

/** Counters of a `ThreadedFdEndpoint`, as plain numbers. */
export interface ThreadedFdEndpointStats {
  rxPackets: number;
  rxBytes: number;
  /** Too short, not IPv4/IPv6, or empty datagrams. */
  rxMalformed: number;
  /** read() failures and dispatcher exceptions. */
  rxErrors: number;
  /** Times the main thread slept and was woken by the reader. */
  rxWakeups: number;
  /** Drains that stopped at `batchSize` or `batchBytes` with more packets in the ring. */
  rxBatchLimited: number;
  /** Drains made from the event loop while spinning (no wake-up). */
  rxSpinDrains: number;
  /** Times the main thread blocked briefly for the next packet (`parkMs`), and how many of those a packet ended. */
  rxParks: number;
  rxParkWakeups: number;
  /** Packets queued for the writer. */
  txPackets: number;
  txBytes: number;
  /** Packets the fd refused with EAGAIN even after the writer waited: dropped. */
  txDroppedEagain: number;
  /** write() failures, packets larger than a slot, and packets queued after the writer stopped. */
  txErrors: number;
  /** Times the TX ring was full and the main thread waited for the writer. */
  txRingFullWaits: number;
  /** Times the main thread woke a sleeping writer. */
  txWakeups: number;
  /** Packets the main thread wrote itself because the writer slept with nothing queued. */
  txInline: number;
  /** GRO super-packets received (virtio gso_type != 0). */
  rxGsoPackets: number;
  /** 1 MiB receive slabs allocated; a slab nothing holds is rewound instead (receive-slabs.ts). */
  rxSlabs: number;
  /** Super-segments sent with a GSO virtio header. */
  txGsoPackets: number;
}

/**
 * A `LinkEndpoint` over a packet fd (a plain TUN) whose read() and write()
 * calls run on two Worker threads instead of the stack's thread (issue 10).
 * On this VM a TUN read costs ~4 µs and a TUN write ~10 µs (the kernel runs
 * its whole receive path inside it), most of the stack thread's time in a bulk
 * transfer; the workers take that to the other core.
 *
 * Inbound: the reader (io-worker.ts) reads packets straight into the slots of
 * a SharedArrayBuffer ring and wakes the main thread only when it sleeps. The
 * main thread copies each packet out of its slot, back to back into a 1 MiB
 * receive slab as `FdEndpoint` reads into (so the stack never holds ring
 * slots), frees the slot and hands the packet up as its own view of the slab.
 * A full slab is rewound if no layer holds it (TCP holds it while it queues a
 * view of a large segment, `pkt.lease`), else a free retired one or a fresh
 * one takes its place (receive-slabs.ts). A drain is one
 * `beginBatch`/`endBatch` batch of up to `batchSize` packets and about
 * `batchBytes` bytes. It drains again from the event loop
 * (`setImmediate`) while the ring holds packets. Once a drain leaves it
 * empty, the next task blocks in `Atomics.wait` for up to `parkMs` (a futex
 * wake from the reader ends it: no CPU spent, no trip through the event
 * loop), and only then sleeps in `Atomics.waitAsync`.
 *
 * Outbound: `writePackets` copies each packet into a TX slot and publishes it;
 * the one writer thread writes them in order (one write() per packet) and is
 * woken only when it sleeps. A full TX ring blocks the main thread until the
 * writer frees a slot, as a blocking write would: nothing is dropped for
 * lack of room. One exception keeps replies quick: the first packet of a
 * receive drain, when the writer sleeps with nothing queued, is written by the
 * main thread itself (no write is in flight, so the order holds), and a
 * request/response exchange wakes no writer at all.
 *
 * The price is latency: an inbound packet crosses from the reader, which a
 * packet must first wake (tens of microseconds here). IP framing (a TUN),
 * with or without a virtio-net header (`vnetHdr`, as `FdEndpoint` handles it:
 * in `pkt.gso`, `headerLength` and `checksumStart` count from the IP header).
 */
export class ThreadedFdEndpoint implements LinkEndpoint {
  readonly fd: number;
  readonly mtu: number;
  readonly capabilities: number;
  readonly maxHeaderLength = 0;
  readonly linkAddress = LinkAddress.EMPTY;
  readonly gsoMaxSize: number;
  readonly vnetHdr: boolean;
  /** `writePackets` copies every packet into the TX ring and keeps no reference (link-endpoint.ts). */
  readonly synchronousWrite = true;
  private readonly counters = {
    rxPackets: 0,
    rxBytes: 0,
    rxMalformed: 0,
    rxErrors: 0,
    rxWakeups: 0,
    rxBatchLimited: 0,
    rxSpinDrains: 0,
    rxParks: 0,
    rxParkWakeups: 0,
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    txRingFullWaits: 0,
    txWakeups: 0,
    txInline: 0,
    txDroppedEagain: 0,
    rxGsoPackets: 0,
    txGsoPackets: 0,
  };
  /** Where received packets are copied out of the ring (see the class comment). */
  private readonly slabs: ReceiveSlabs;
  /** The last error passed to `onError` (or that would have been). */
  lastError: unknown;

  private dispatcher: NetworkDispatcher | undefined;
  private readonly ownsFd: boolean;
  private readonly onClosed: (() => void) | undefined;
  private readonly onError: ((e: unknown) => void) | undefined;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  /** The last drain stopped at `batchBytes` with more packets in the ring. */
  private batchBytesFull = false;
  private readonly spinMs: number;
  private readonly parkMs: number;
  private readonly slotSize: number;

  private readonly control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_CELLS));
  private readonly rxSlots: number;
  private readonly rxData: Uint8Array;
  private readonly rxAddress: number;
  private readonly rxLengths: Int32Array;
  private readonly txSlots: number;
  private readonly txData: Uint8Array;
  private readonly txAddress: number;
  private readonly txLengths: Int32Array;

  // Receive state (main thread).
  private rxTail = 0;
  private waiting = false;
  private immediatePending = false;
  private spinUntil = 0;
  private rxStopped = false;
  /** The next `onImmediate` parks first (see `parkMs`). */
  private parkNext = false;

  // Transmit state (main thread).
  private txHead = 0;
  private txTailSeen = 0;
  /**
   * Packets this thread may still write itself while the writer sleeps: one
   * per receive drain, so a reply (a ping, a 1-byte response) leaves without
   * waking the writer, while a burst still goes to the writer.
   */
  private inlineBudget = 0;
  /** The writer freed no slot for a whole stall: drop at once while the ring stays full. */
  private txStalled = false;
  private readonly coalescer: TcpGsoCoalescer | undefined;
  /** Largest packet `writePackets` takes (the MTU, or `gsoMaxSize` with a vnet header). */
  private readonly txMax: number;

  // Workers.
  private started = false;
  private closed = false;
  private wakeFd = -1;
  private running = 0;
  private done: Promise<void> = Promise.resolve();
  private resolveDone: (() => void) | undefined;

  constructor(opts: ThreadedFdEndpointOptions) {
    if (!(opts.mtu > 0) || !Number.isInteger(opts.fd) || opts.fd < 0) throw new ErrInvalidOptionValue();
    this.fd = opts.fd;
    this.mtu = opts.mtu;
    this.ownsFd = opts.ownsFd === true;
    this.onClosed = opts.onClosed;
    this.onError = opts.onError;
    this.batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH);
    this.batchBytes = Math.max(1, opts.batchBytes ?? DEFAULT_BATCH_BYTES);
    this.spinMs = Math.max(0, opts.spinMs ?? DEFAULT_SPIN_MS);
    this.parkMs = Math.max(0, opts.parkMs ?? DEFAULT_PARK_MS);
    this.vnetHdr = opts.vnetHdr === true;
    this.rxSlots = powerOfTwo(opts.rxSlots ?? (this.vnetHdr ? DEFAULT_VNET_SLOTS : DEFAULT_RX_SLOTS));
    this.txSlots = powerOfTwo(opts.txSlots ?? (this.vnetHdr ? DEFAULT_VNET_SLOTS : DEFAULT_TX_SLOTS));
    let caps = LinkCapability.None;
    if (this.vnetHdr) {
      caps |= LinkCapability.RXChecksumOffload | LinkCapability.HardwareGSO;
      if (opts.txChecksumOffload) caps |= LinkCapability.TXChecksumOffload;
    }
    this.capabilities = caps;
    this.gsoMaxSize = this.vnetHdr ? Math.min(opts.gsoMaxSize ?? MAX_IP_PACKET, MAX_IP_PACKET) : 0;
    this.txMax = this.vnetHdr ? Math.max(this.gsoMaxSize, opts.mtu) : opts.mtu;
    // One byte more than the largest packet: a read that fills the whole slot was truncated.
    const largest = this.vnetHdr ? VIRTIO_NET_HDR_SIZE + MAX_IP_PACKET : opts.mtu;
    this.slotSize = (largest + 1 + 63) & ~63;
    this.slabs = new ReceiveSlabs(RECEIVE_SLAB_SIZE, this.slotSize);
    if (this.vnetHdr && opts.txCoalesce !== false) {
      this.coalescer = new TcpGsoCoalescer(this.writeCoalesced, this.gsoMaxSize, this.flushCoalesced);
    }
    this.rxData = new Uint8Array(new SharedArrayBuffer(this.rxSlots * this.slotSize));
    this.rxLengths = new Int32Array(new SharedArrayBuffer(4 * this.rxSlots));
    this.txData = new Uint8Array(new SharedArrayBuffer(this.txSlots * this.slotSize));
    this.txLengths = new Int32Array(new SharedArrayBuffer(4 * this.txSlots));
    this.rxAddress = ptr(this.rxData);
    this.txAddress = ptr(this.txData);
  }

  get stats(): ThreadedFdEndpointStats {
    const c = this.control;
    return {
      ...this.counters,
      rxMalformed: this.counters.rxMalformed + Atomics.load(c, RX_EMPTY),
      txDroppedEagain: this.counters.txDroppedEagain + Atomics.load(c, TX_EAGAIN),
      txErrors: this.counters.txErrors + Atomics.load(c, TX_ERRORS),
      rxSlabs: this.slabs.allocated,
    };
  }

  /** Whether the reader thread runs (false before the first attach, after close, a hang-up or a read error). */
  get receiving(): boolean {
    return this.started && this.running === 2 && !this.rxStopped;
  }

  /**
   * Times the reader woke the sleeping main thread, times it found the fd empty and polled, and
   * packets waiting in the RX ring now (diagnostics).
   */
  get workerCounts(): { rxNotifies: number; rxPolls: number; rxQueued: number } {
    return {
      rxNotifies: Atomics.load(this.control, RX_NOTIFIES),
      rxPolls: Atomics.load(this.control, RX_POLLS),
      rxQueued: (Atomics.load(this.control, RX_HEAD) - this.rxTail) | 0,
    };
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    if (this.closed) return;
    this.dispatcher = dispatcher;
    if (!dispatcher) return; // packets wait in the ring (then in the kernel) until attached again
    if (!this.started) this.start();
    else if (!this.waiting) this.scheduleImmediate();
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /** Resolves when both workers have stopped (after `close()`). */
  wait(): Promise<void> {
    return this.done;
  }

  /** Stops the workers (the writer first writes what is queued); closes the fd if owned. Idempotent. */
  close(): void {
    if (this.closed) return;
    const head = this.txHead;
    this.coalescer?.flush();
    if (this.txHead !== head) this.wakeWriter();
    this.closed = true;
    this.dispatcher = undefined;
    this.rxStopped = true;
    const c = this.control;
    Atomics.store(c, STOP, 1);
    // Cleared before the notify: a worker about to wait on a raised cell then returns at once.
    Atomics.store(c, TX_SLEEP, 0);
    Atomics.notify(c, TX_SLEEP);
    Atomics.store(c, RX_SPACE, 0);
    Atomics.notify(c, RX_SPACE);
    // Ends our own pending waitAsync, so nothing holds the event loop.
    Atomics.store(c, RX_SLEEP, 0);
    Atomics.notify(c, RX_SLEEP);
    if (this.wakeFd >= 0) {
      const one = new Uint8Array(8);
      one[0] = 1;
      writeFd(this.wakeFd, one);
    }
    if (!this.started) this.release();
  }

  private release(): void {
    if (this.wakeFd >= 0) closeFd(this.wakeFd);
    this.wakeFd = -1;
    if (this.ownsFd) closeFd(this.fd);
    this.onClosed?.();
  }

  private start(): void {
    this.started = true;
    this.wakeFd = eventfd(0, EFD_CLOEXEC);
    this.done = new Promise<void>((resolve) => {
      this.resolveDone = resolve;
    });
    this.running = 2;
    const control = this.control.buffer as SharedArrayBuffer;
    this.spawn({
      role: "rx",
      fd: this.fd,
      wakeFd: this.wakeFd,
      control,
      data: this.rxData.buffer as SharedArrayBuffer,
      lengths: this.rxLengths.buffer as SharedArrayBuffer,
      slots: this.rxSlots,
      slotSize: this.slotSize,
    });
    this.spawn({
      role: "tx",
      fd: this.fd,
      wakeFd: -1,
      control,
      data: this.txData.buffer as SharedArrayBuffer,
      lengths: this.txLengths.buffer as SharedArrayBuffer,
      slots: this.txSlots,
      slotSize: this.slotSize,
    });
    this.scheduleImmediate();
  }

  private spawn(start: IoWorkerStart): void {
    // Beside this module from source; inside `bun build --compile` io-worker.ts must be an
    // extra entrypoint (see worker-url.ts).
    const w = new Worker(workerUrl("io-worker"));
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      w.terminate();
      if (start.role === "rx") this.readerStopped();
      if (--this.running === 0) {
        if (this.closed) this.release();
        this.resolveDone?.();
      }
    };
    w.onmessage = finish;
    w.addEventListener("close", finish);
    w.onerror = (ev) => {
      this.report(ev instanceof ErrorEvent ? (ev.error ?? new Error(ev.message)) : ev);
      finish();
    };
    w.postMessage(start);
  }

  private readerStopped(): void {
    if (this.closed) return;
    const errno = Atomics.load(this.control, RX_ERRNO);
    if (errno !== 0) {
      this.counters.rxErrors++;
      this.report(new Error(`read() on fd ${this.fd} failed with errno ${errno}`));
    }
    // Deliver what is still in the ring; `pump` stops once it is empty. A main thread that went
    // back to sleep before this message came is woken to see that the reader is gone.
    const c = this.control;
    Atomics.store(c, RX_SLEEP, 0);
    Atomics.notify(c, RX_SLEEP);
    this.scheduleImmediate();
  }

  // ---------------------------------------------------------------- inbound

  private scheduleImmediate(): void {
    if (this.immediatePending) return;
    this.immediatePending = true;
    setImmediate(this.onImmediate);
  }

  private readonly onImmediate = (): void => {
    this.immediatePending = false;
    if (this.rxStopped || !this.dispatcher || this.waiting) return;
    if (this.parkNext) {
      this.parkNext = false;
      if (!this.park()) {
        this.sleep();
        return;
      }
    } else if (this.spinUntil !== 0) this.counters.rxSpinDrains++;
    this.pump();
  };

  /**
   * Blocks for up to `parkMs` until the ring holds a packet; false if none
   * came. On a timeout RX_SLEEP stays raised and `sleep` takes over.
   */
  private park(): boolean {
    const c = this.control;
    if (Atomics.load(c, RX_HEAD) !== this.rxTail) return true;
    if (this.running < 2) return false;
    this.counters.rxParks++;
    Atomics.store(c, RX_SLEEP, 1);
    if (
      Atomics.load(c, RX_HEAD) === this.rxTail &&
      Atomics.wait(c, RX_SLEEP, 1, this.parkMs) === "timed-out"
    ) {
      return false;
    }
    Atomics.store(c, RX_SLEEP, 0);
    this.counters.rxParkWakeups++;
    return true;
  }

  private readonly onWake = (): void => {
    this.waiting = false;
    if (this.rxStopped || !this.dispatcher) return;
    this.counters.rxWakeups++;
    this.pump();
  };

  /** Drains one batch, then yields and drains again, spins, or sleeps until the reader wakes us. */
  private pump(): void {
    const got = this.drain();
    if (this.rxStopped || !this.dispatcher) return;
    if (got === this.batchSize || this.batchBytesFull) {
      this.counters.rxBatchLimited++;
      this.scheduleImmediate();
      return;
    }
    if (got > 0 && this.parkMs > 0) {
      // Wait for the next packet in a task of its own, once this one's microtasks have run.
      this.parkNext = true;
      this.scheduleImmediate();
      return;
    }
    if (this.spinMs > 0) {
      const now = performance.now();
      if (got > 0) this.spinUntil = now + this.spinMs;
      if (now < this.spinUntil) {
        this.scheduleImmediate();
        return;
      }
      this.spinUntil = 0;
    }
    this.sleep();
  }

  private sleep(): void {
    const c = this.control;
    // The reader stopped (hang-up or error) and the ring is empty: nothing will wake us.
    if (this.running < 2 && Atomics.load(c, RX_HEAD) === this.rxTail) {
      if (Atomics.load(c, RX_HANGUP) !== 0) this.rxStopped = true;
      return;
    }
    Atomics.store(c, RX_SLEEP, 1);
    // A packet published before the flag was raised woke nobody: look once more.
    if (Atomics.load(c, RX_HEAD) !== this.rxTail) {
      Atomics.store(c, RX_SLEEP, 0);
      this.scheduleImmediate();
      return;
    }
    const r = Atomics.waitAsync(c, RX_SLEEP, 1);
    if (!r.async) {
      this.scheduleImmediate();
      return;
    }
    this.waiting = true;
    r.value.then(this.onWake);
  }

  /**
   * Copies up to `batchSize` packets (stopping once `batchBytes` were copied)
   * out of the RX ring and delivers them as one batch
   * (`beginBatch`/`endBatch`); returns how many it took.
   */
  private drain(): number {
    const c = this.control;
    let tail = this.rxTail;
    this.batchBytesFull = false;
    const avail = (Atomics.load(c, RX_HEAD) - tail) | 0;
    if (avail === 0) return 0;
    const n = Math.min(avail, this.batchSize);
    const d = this.dispatcher;
    const mask = this.rxSlots - 1;
    const slotSize = this.slotSize;
    const slabs = this.slabs;
    let got = 0;
    let bytes = 0;
    this.inlineBudget = INLINE_WRITES_PER_DRAIN;
    d?.beginBatch?.();
    try {
      while (got < n) {
        if (bytes >= this.batchBytes) {
          this.batchBytesFull = true;
          break;
        }
        const slot = tail & mask;
        const len = this.rxLengths[slot]!;
        // Into the receive slab (a slot is at most `slotSize`, the slabs' largest copy). A fresh
        // slab costs a page fault per 4 KiB written and, at gigabits per second, a garbage
        // collection every few MiB; a rewound one neither. (An array per packet cost 0.25 us for
        // 1,500 B and a zero-fill or allocUnsafeSlow per GRO packet, and garbage all the same.)
        const slab = slabs.current();
        const off = slabs.readOffset;
        memcpy(slab.address + off, this.rxAddress + slot * slotSize, len);
        slabs.advance(len);
        tail = (tail + 1) | 0;
        Atomics.store(c, RX_TAIL, tail);
        got++;
        bytes += len;
        try {
          this.deliver(slab, slab.data.subarray(off, off + len), len);
        } catch (e) {
          this.counters.rxErrors++;
          this.report(e);
        }
        if (!this.dispatcher) break;
      }
    } finally {
      this.rxTail = tail;
      if (Atomics.load(c, RX_SPACE) === 1 && Atomics.compareExchange(c, RX_SPACE, 1, 0) === 1) {
        Atomics.notify(c, RX_SPACE);
      }
      try {
        d?.endBatch?.();
      } catch (e) {
        this.counters.rxErrors++;
        this.report(e);
      }
      this.inlineBudget = 0;
    }
    return got;
  }

  /**
   * Checks the `n` bytes of `bytes` (a view of `slab`, a virtio header first with `vnetHdr`) and
   * hands the packet up. The checks are FdEndpoint's for IP framing (virtio-offload.ts,
   * ip-version.ts); what differs is on purpose: only IP framing (this endpoint serves a TUN, no
   * Ethernet framings) and a read that filled its slot is truncated (a fixed-size ring slot, where
   * FdEndpoint reads 64 KiB at a time).
   */
  private deliver(slab: Slab, bytes: Uint8Array, n: number): void {
    const d = this.dispatcher;
    if (!d) return;
    let h = 0;
    let gsoType = 0;
    if (this.vnetHdr) {
      // A read that filled the whole slot was truncated (see `slotSize`).
      gsoType = n < VIRTIO_NET_HDR_SIZE || n >= this.slotSize ? -1 : rxGsoType(bytes);
      if (gsoType < 0) {
        this.counters.rxMalformed++;
        return;
      }
      h = VIRTIO_NET_HDR_SIZE;
    } else if (n > this.mtu) {
      // Filled the whole slot: larger than the MTU, so truncated. Counted and dropped.
      this.counters.rxMalformed++;
      return;
    }
    // Empty, or an IP version other than 4 and 6.
    const proto = n > h ? ipProtocolOf(bytes[h]!) : 0;
    if (proto === 0) {
      this.counters.rxMalformed++;
      return;
    }
    const pkt = new PacketBuffer(bytes, h, n);
    pkt.networkHeader = h;
    pkt.networkProtocol = proto;
    // TCP may keep a view of a large segment instead of copying it, holding the slab (packet-buffer.ts,
    // receive-slabs.ts): the slab is rewound only once nothing holds it.
    pkt.dataKeepable = true;
    pkt.lease = slab;
    if (this.vnetHdr) {
      // A TUN: the kernel counts offsets from the IP header as the stack does (no link bytes).
      setRxOffload(pkt, bytes, gsoType, 0);
      if (gsoType !== 0) this.counters.rxGsoPackets++;
    }
    this.counters.rxPackets++;
    this.counters.rxBytes += n - h;
    d.deliverNetworkPacket(proto, pkt);
  }

  private report(e: unknown): void {
    this.lastError = e;
    this.onError?.(e);
  }

  // --------------------------------------------------------------- outbound

  /**
   * Queues each packet for the writer (copied into a TX slot). Returns how
   * many were queued; packets larger than the MTU, empty ones and any after
   * `close()` or a writer failure are counted in `txErrors` and dropped.
   */
  writePackets(pkts: readonly PacketBuffer[]): number {
    if (this.closed) return 0;
    if (!this.started) this.start();
    const head = this.txHead;
    let queued = 0;
    for (let i = 0; i < pkts.length; i++) {
      if (this.queue(pkts[i]!)) queued++;
    }
    if (this.txHead !== head) this.wakeWriter();
    return queued;
  }

  private queue(pkt: PacketBuffer): boolean {
    const size = pkt.tail - pkt.head;
    if (size <= 0 || size > this.txMax) {
      this.counters.txErrors++;
      return false;
    }
    // A fully checksummed TCP segment joins the open run; anything else goes out after it, in order.
    if (this.coalescer?.offer(pkt, size)) return true;
    if (!this.reserveTxSlot()) {
      this.counters.txErrors++;
      return false;
    }
    const slotOffset = (this.txHead & (this.txSlots - 1)) * this.slotSize;
    const at = this.txAddress + slotOffset;
    let len = size;
    if (this.vnetHdr) {
      // A TUN: no link bytes before the IP header for the kernel to count.
      fillTxHeader(this.txData, slotOffset, pkt.gso, 0);
      len += VIRTIO_NET_HDR_SIZE;
      memcpy(at + VIRTIO_NET_HDR_SIZE, ptr(pkt.data, pkt.head), size);
    } else {
      memcpy(at, ptr(pkt.data, pkt.head), size);
    }
    if (!this.commitTxSlot(at, len, 1)) return false;
    const g = pkt.gso;
    if (g && g.type !== 0) this.counters.txGsoPackets++;
    return true;
  }

  /** Makes sure the slot at `txHead` is free (waiting for the writer if the ring is full). */
  private reserveTxSlot(): boolean {
    return ((this.txHead - this.txTailSeen) | 0) < this.txSlots || this.waitForTxSpace();
  }

  /**
   * Sends the `len` bytes built in the slot at `txHead` (address `at`): written
   * from this thread when the writer sleeps with nothing queued and the drain's
   * budget allows (see `inlineBudget`), else published for the writer.
   * `segments` is how many stack packets it carries (more than one when coalesced).
   */
  private commitTxSlot(at: number, len: number, segments: number): boolean {
    const bytes = len - (this.vnetHdr ? VIRTIO_NET_HDR_SIZE : 0);
    if (this.inlineBudget > 0 && this.writerIdle()) {
      this.inlineBudget--;
      const n = writeAddress(this.fd, at, len);
      if (n < 0) {
        if (n === -ERRNO.EAGAIN) this.counters.txDroppedEagain += segments;
        else this.counters.txErrors += segments;
        return false;
      }
      this.counters.txInline++;
    } else {
      const slot = this.txHead & (this.txSlots - 1);
      this.txLengths[slot] = len;
      this.txHead = (this.txHead + 1) | 0;
      Atomics.store(this.control, TX_HEAD, this.txHead);
    }
    this.counters.txPackets += segments;
    this.counters.txBytes += bytes;
    return true;
  }

  /**
   * The coalescer's end of turn (tcp-gso-coalescer.ts `onTurnEnd`). Unlike FdEndpoint's, which writes
   * the run at once, this only queues it: the writer must be woken.
   */
  private readonly flushCoalesced = (): void => {
    if (this.closed) return;
    const head = this.txHead;
    this.coalescer?.flush();
    if (this.txHead !== head) this.wakeWriter();
  };

  /** Queues a packet the coalescer built (a virtio header first); counts it like `queue`. */
  private readonly writeCoalesced = (buf: Uint8Array, len: number, segments: number): void => {
    if (!this.reserveTxSlot()) {
      this.counters.txErrors += segments;
      return;
    }
    const at = this.txAddress + (this.txHead & (this.txSlots - 1)) * this.slotSize;
    memcpy(at, ptr(buf), len);
    if (this.commitTxSlot(at, len, segments) && segments > 1) this.counters.txGsoPackets++;
  };

  /**
   * Whether the writer sleeps with every queued packet written: then no write
   * is in flight, and one from this thread cannot overtake a queued packet.
   * The writer raises TX_SLEEP only once TX_TAIL has caught up with TX_HEAD,
   * and only this thread moves TX_HEAD.
   */
  private writerIdle(): boolean {
    const c = this.control;
    return Atomics.load(c, TX_SLEEP) === 1 && Atomics.load(c, TX_TAIL) === this.txHead;
  }

  private wakeWriter(): void {
    const c = this.control;
    if (Atomics.load(c, TX_SLEEP) === 1 && Atomics.compareExchange(c, TX_SLEEP, 1, 0) === 1) {
      Atomics.notify(c, TX_SLEEP);
      this.counters.txWakeups++;
    }
  }

  /**
   * Blocks until the writer frees a TX slot. False (the packet is dropped) once
   * the endpoint is closing, or if the writer freed nothing for
   * `TX_STALL_WAITS` waits in a row: a writer that died cannot stop this
   * thread for good.
   */
  private waitForTxSpace(): boolean {
    const c = this.control;
    const seen = Atomics.load(c, TX_TAIL);
    if (seen !== this.txTailSeen) this.txStalled = false;
    this.txTailSeen = seen;
    if (((this.txHead - seen) | 0) < this.txSlots) return true;
    if (this.txStalled) return false;
    this.counters.txRingFullWaits++;
    this.wakeWriter();
    for (let stalls = 0; stalls < TX_STALL_WAITS && Atomics.load(c, STOP) === 0; ) {
      Atomics.store(c, TX_SPACE, 1);
      const seen = Atomics.load(c, TX_TAIL);
      if (seen !== this.txTailSeen) stalls = 0;
      else stalls++;
      this.txTailSeen = seen;
      if (((this.txHead - seen) | 0) < this.txSlots) {
        Atomics.store(c, TX_SPACE, 0);
        return true;
      }
      Atomics.wait(c, TX_SPACE, 1, TX_SPACE_WAIT_MS);
    }
    Atomics.store(c, TX_SPACE, 0);
    // Stalled: drop without waiting until the writer frees a slot again.
    this.txStalled = true;
    return false;
  }
}

function powerOfTwo(n: number): number {
  if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0) throw new ErrInvalidOptionValue();
  return n;
}

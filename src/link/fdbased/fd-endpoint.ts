import { ptr } from "bun:ffi";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { VIRTIO_NET_HDR_SIZE } from "../../header/virtio-net.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";
import {
  close as closeFd,
  EFD_CLOEXEC,
  ERRNO,
  eventfd,
  IovecArray,
  POLLHUP,
  POLLIN,
  PollFds,
  poll,
  readAddress,
  writeAddress,
  writevFd,
} from "../rawfile/index.ts";
import { type HotMember, hotPoller } from "./hot-poller.ts";
import { ipProtocolOf } from "./ip-version.ts";
import {
  POLL_ARMED,
  POLL_ERRNO,
  POLL_HANGUP,
  POLL_READY,
  POLL_SLOTS,
  POLL_STOP,
  type PollWorkerStart,
} from "./poll-protocol.ts";
import { DEFAULT_BATCH_BYTES, RECEIVE_SLAB_SIZE, ReceiveSlabs, type Slab } from "./receive-slabs.ts";
import { SignalReadiness, type SignalSleeper } from "./signal-readiness.ts";
import { TcpGsoCoalescer } from "./tcp-gso-coalescer.ts";
import { openUringIo, URING_BATCH, type UringIo } from "./uring-io.ts";
import { fillTxHeader, rxGsoType, setRxOffload } from "./virtio-offload.ts";
import { workerUrl } from "./worker-url.ts";

export const ETHERNET_HEADER_SIZE = 14;
const ETH_DST = 0;
const ETH_SRC = 6;
const ETH_TYPE = 12;
/** IEEE 802.3 §3.2.6: type values below 0x0600 are frame lengths (LLC), not EtherTypes. */
const MIN_ETHERTYPE = 0x0600;

/** Largest packet one read can return: an IPv4/IPv6 packet (or GSO super-packet) of 64 KiB, plus framing. */
const MAX_READ = 65535 + ETHERNET_HEADER_SIZE + VIRTIO_NET_HDR_SIZE + 1;
/** Most packets read per wake-up before yielding to the event loop (bun-io research §6.2). */
const DEFAULT_BATCH = 256;
/**
 * Default adaptive spin after traffic (see `spinMs`). Measured over TUN in one
 * `netstack serve` (issue 10, noisy 2-vCPU VM, 3 interleaved runs): at load ~6,
 * 1-byte request/response 1,300–1,800/s → 4,900–6,400/s and connect+echo+close
 * 690–900/s → 1,000–1,500/s against 0 ms; 3 ms measured no better than 1 ms.
 * A spin after every packet made sparse traffic slower (ping every 5 ms: median
 * 0.07–0.10 → 0.15–0.34 ms at load ~3), hence the rule that a spin which caught
 * nothing is not repeated until packets come close together again.
 *
 * Only where the hot poll does not run (signal readiness, or `hotMs: 0`): with
 * it, no spin measured better in every figure (tun.bench, quiet VM, 2
 * interleaved pairs, spin 1 → 0: request/response p99/median 5.98/6.37 →
 * 4.39/4.25, round trips/s 25.8k/21.4k → 25.0k/21.1k, plain upload
 * 0.62/0.78 → 0.93/0.93 Gbit/s, plain download 0.48/0.79 → 0.75/0.69,
 * offload upload 2.59/2.36 → 2.93/2.47, offload download 6.3/6.4 → 8.3/8.1):
 * the spinning thread took CPU from the kernel side and got pre-empted.
 */
const DEFAULT_SPIN_MS = 1;
/** Default hot-poll window after the last packet (see `hotMs`). */
const DEFAULT_HOT_MS = 200;
/** Largest super-segment the kernel accepts through a vnet header: an IP packet's 16-bit total length. */
export const FD_GSO_MAX_SIZE = 65535;

/**
 * How packets on the fd are framed.
 * - `ip`: IP packets (a TUN device); the protocol comes from the IP version nibble.
 * - `ethernet`: Ethernet frames (a TAP device); this endpoint strips and
 *   prepends the 14-byte header itself and advertises `ResolutionRequired`.
 * - `frames`: Ethernet frames passed through whole (`carriesFrames`), for a
 *   separate `EthernetEndpoint` (src/link/ethernet) to frame.
 */
export type FdFraming = "ip" | "ethernet" | "frames";

export interface FdEndpointOptions {
  /** A boundary-preserving fd (TUN/TAP, SOCK_SEQPACKET, SOCK_DGRAM); made nonblocking by its opener. */
  fd: number;
  /** Largest network-layer packet (the device MTU). */
  mtu: number;
  framing: FdFraming;
  /** This station's MAC in `ethernet` framing (required there; ignored for `ip`). */
  linkAddress?: LinkAddress;
  /** `ethernet` framing: accept unicast frames for other MACs too (default false). */
  promiscuous?: boolean;
  /** Every packet on the fd starts with a 10-byte virtio-net header (a TUN/TAP opened with IFF_VNET_HDR). */
  vnetHdr?: boolean;
  /**
   * With `vnetHdr`: advertise `TXChecksumOffload`. The stack may then leave a
   * transport checksum partial, and must describe it in `pkt.gso` (type 0 is
   * fine) with `needsChecksum`, `checksumStart` and `checksumOffset`. Default false.
   */
  txChecksumOffload?: boolean;
  /** With `vnetHdr`: largest super-segment accepted (default 65535). */
  gsoMaxSize?: number;
  /**
   * With `vnetHdr` and `ip` framing: merge consecutive TCP segments of one flow
   * written in the same event-loop turn into one GSO super-packet per write()
   * (see tcp-gso-coalescer.ts). Default true.
   */
  txCoalesce?: boolean;
  /** Close the fd in `close()` (default false: the opener, e.g. a `TunDevice`, owns it). */
  ownsFd?: boolean;
  /** Called once after `close()`, when the poll worker no longer uses the fd (e.g. to close the device). */
  onClosed?: () => void;
  /** Packets read per wake-up before yielding to the event loop (default 256). */
  batchSize?: number;
  /**
   * Bytes read per batch before it ends (default 256 KiB): the batch's one ACK then goes out. With
   * 64 KiB GRO packets, 256 of them made a 16 MiB batch and 20–35 ms without an ACK, and the kernel
   * sender fired a tail-loss probe 8–19 times per GiB (issue 10).
   */
  batchBytes?: number;
  /**
   * After a drain that found packets, keep polling from the event loop (with
   * `setImmediate` and nonblocking reads) for this many milliseconds before
   * going back to sleep: while traffic flows no wake-up of the poll worker
   * (~0.2–0.4 ms each on a VM) is paid, for up to this much CPU after the last
   * packet. Default 0 where the hot poll runs (`hotMs`, worker readiness), else 1;
   * 0 turns it off. An idle link never spins, and sparse
   * traffic stops spinning: after a window that caught no packet the link
   * sleeps right after each drain, until a packet comes within `spinMs` of
   * going to sleep again.
   */
  spinMs?: number;
  /**
   * How an idle endpoint learns that packets arrived. `worker` (default): the
   * poll worker (poll-worker.ts: the kernel wakes the worker, which wakes the
   * main thread). `signal`: on the main thread of Linux, SIGIO
   * (signal-readiness.ts: the kernel wakes the event loop itself, one thread
   * wake-up), else the poll worker. Not the default: through `netstack serve`
   * on the team's loaded VM it measured no better (issue 10: 200 pings at 5 ms,
   * median of run medians 0.160 vs 0.137 ms in 11 pairs, but 600-ping runs
   * pooled 0.151 vs 0.199 and 0.184 vs 0.203 ms, and a longer p99).
   */
  readiness?: "worker" | "signal";
  /**
   * Worker readiness ("hot poll"): for this many milliseconds after the last
   * packet, when there is nothing to read (and no spin), the main thread
   * blocks in poll(2) on the fd itself, at most 1 ms at a time from a
   * `setImmediate` loop, instead of arming the poll worker (one poll for all
   * hot links of the thread: hot-poller.ts). The kernel then
   * wakes the thread that handles the packet: one wake-up instead of two
   * thread hops (kernel → worker → main), while host timers, the REST server
   * and other I/O still get a turn of the event loop at least every
   * millisecond (and may wait up to that long). The stack's timers do not
   * wait: the poll ends when the next one is due, and fires it (the thread's
   * RealClocks, or a clock given to `hotPoller.addClock`: hot-poller.ts).
   * After the window without a packet the
   * worker is armed again, so an idle link still costs no CPU.
   *
   * Measured (issue 10, through `netstack serve --source` on TUN, on the
   * team's loaded 2-vCPU VM, interleaved runs): ping every 5 ms, median
   * 0.151–0.212 → 0.047–0.098 ms in 3 `tun.bench.ts` pairs, sorted round
   * medians 0.034–0.175 → 0.028–0.104 ms in 10 rounds of 300; rr, its tail
   * and connects/s no worse within the noise (3 pairs: rr 13.1–14.5k →
   * 13.5–17.8k/s, connects 1.5–3.8k → 2.6–4.5k/s, p99/median 40–41 →
   * 27–39). CPU: 10 s of pings every 5 ms cost 4.6–4.8% of a
   * core against 3.2% without; a hot link with no traffic 2.6–3% (a poll
   * timeout and an event-loop turn a millisecond). Idle CPU with 1,000 idle
   * connections stays 0.4–0.6%. The window: pings every 100 ms gained with
   * 200 (0.27–0.38 → 0.18–0.21 ms) and nothing with 50. Default 200; 0 turns
   * it off (e.g. where a 1 ms stall of the event loop matters more than
   * latency).
   */
  hotMs?: number;
  /** Called when the dispatcher throws or the fd fails; the endpoint counts and keeps going. */
  onError?: (error: unknown) => void;
  /**
   * Read and write through io_uring (uring-io.ts): a batch of reads, and each `writePackets`
   * call's writes, in one io_uring_enter instead of one syscall per packet. Without `vnetHdr`
   * and for an MTU that fits several packets per read batch; otherwise, or when io_uring_setup
   * fails (ENOSYS, EPERM, kernel.io_uring_disabled), read/write as usual, logged once. Default false.
   */
  ioUring?: boolean;
}

/** Counters of an `FdEndpoint`, as plain numbers. */
export interface FdEndpointStats {
  rxPackets: number;
  rxBytes: number;
  /** Packets dropped on the way in: too short, unknown EtherType/IP version, bad virtio header. */
  rxMalformed: number;
  /** Unicast frames for another MAC (`ethernet` framing, not promiscuous). */
  rxNotForUs: number;
  /** read() failures other than EAGAIN, and dispatcher exceptions. */
  rxErrors: number;
  /** Times an idle endpoint was woken for packets (by a signal or the poll worker). */
  rxWakeups: number;
  /** Drains that stopped at `batchSize` or `batchBytes` with more packets waiting. */
  rxBatchLimited: number;
  /** Drains made while spinning (from the event loop, without a wake-up). */
  rxSpinDrains: number;
  /** Times a hot poll on the main thread (see `hotMs`) found packets: wake-ups without the poll worker. */
  rxHotWakeups: number;
  /** GSO/GRO super-packets received (virtio gso_type != 0). */
  rxGsoPackets: number;
  /** 1 MiB receive slabs allocated; a slab nothing holds is rewound instead (receive-slabs.ts). */
  rxSlabs: number;
  txPackets: number;
  txBytes: number;
  /** Packets the fd refused with EAGAIN (full queue or socket buffer): dropped. */
  txDroppedEagain: number;
  /** Other write() failures, and packets that could not be framed. */
  txErrors: number;
  /** Super-segments written with a GSO virtio header. */
  txGsoPackets: number;
}

/**
 * A `LinkEndpoint` over a file descriptor that keeps packet boundaries: one
 * read() is one packet, one write() is one packet (gVisor's `fdbased`).
 *
 * Inbound: an idle endpoint sleeps in the kernel (no CPU) until packets come.
 * By default ("wpoll", bun-io research §2a/§6.2) a small Worker blocks in
 * poll(2) on the fd and flips a SharedArrayBuffer flag, and the main thread
 * wakes through `Atomics.waitAsync`; with `readiness: "signal"` the fd has
 * O_ASYNC set and the kernel's SIGIO wakes the event loop itself
 * (signal-readiness.ts). Woken, the main thread reads up to `batchSize` packets
 * with nonblocking read(), hands each to the dispatcher synchronously (a reply
 * written from there leaves at once), then keeps draining from the event loop
 * (`setImmediate`) until `spinMs` pass without a packet, and only then sleeps
 * again. In worker mode, for `hotMs` after the last packet it sleeps "hot":
 * the main thread blocks in ppoll(2) itself for up to 1 ms per event-loop turn
 * (less when a stack timer is due sooner), so the kernel wakes it directly;
 * only after that window is the worker armed.
 * A busy link pays no wake-ups; packet bytes never cross threads.
 *
 * Outbound: `writePackets` does one synchronous write() per packet (a TUN write
 * does not block), or writev() to gather a virtio header in front of a packet
 * without headroom.
 *
 * Receive buffers: packets are read back to back into a 1 MiB slab, each one
 * handed up as its own `subarray` (so a layer above may prepend into its
 * headroom or resize it without touching a neighbour). When fewer than 64 KiB
 * remain the slab is rewound if no layer holds it (TCP holds it while it
 * queues a view of a large segment, `pkt.lease`), else a free retired one or a
 * fresh one takes its place (receive-slabs.ts). Per packet the receive
 * path allocates the `PacketBuffer` and its view, and nothing else (a
 * `GsoInfo` for offloaded packets; `LinkAddress`es only when a new peer MAC
 * appears).
 *
 * Offload (`vnetHdr`): inbound, the virtio header sets `pkt.checksumVerified`
 * (NEEDS_CSUM or DATA_VALID) and, for GRO super-packets or partial checksums,
 * `pkt.gso`. Outbound, `pkt.gso` becomes the virtio header, so the kernel
 * segments a 64 KiB TCP super-segment (`HardwareGSO`); other packets get a
 * zero header. In `pkt.gso` on this link, `headerLength` and `checksumStart`
 * count from the start of the network (IP) header, in every framing; the
 * endpoint adds or removes the 14 Ethernet bytes the kernel counts.
 */
export class FdEndpoint implements LinkEndpoint, HotMember {
  /**
   * `writePackets` is done with every packet when it returns: one write()/writev() each, or the GSO
   * coalescer's copy (tcp-gso-coalescer.ts); nothing is queued. TCP then builds its next segment in
   * the last one's buffer instead of a fresh zero-filled array (link-endpoint.ts; offload download
   * 2.4 -> 4.5 Gbit/s and 1.6 -> 7.1 in two interleaved pairs on the loaded VM).
   */
  readonly synchronousWrite = true;
  readonly fd: number;
  readonly mtu: number;
  readonly capabilities: number;
  readonly maxHeaderLength: number;
  readonly linkAddress: LinkAddress;
  readonly gsoMaxSize: number;
  readonly carriesFrames: boolean;
  readonly framing: FdFraming;
  readonly vnetHdr: boolean;
  readonly stats: FdEndpointStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxMalformed: 0,
    rxNotForUs: 0,
    rxErrors: 0,
    rxWakeups: 0,
    rxBatchLimited: 0,
    rxSpinDrains: 0,
    rxHotWakeups: 0,
    rxGsoPackets: 0,
    rxSlabs: 1,
    txPackets: 0,
    txBytes: 0,
    txDroppedEagain: 0,
    txErrors: 0,
    txGsoPackets: 0,
  };
  /** The last error passed to `onError` (or that would have been). */
  lastError: unknown;

  private dispatcher: NetworkDispatcher | undefined;
  private readonly ownsFd: boolean;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  /** The last drain stopped at `batchBytes` (more may be queued). */
  private batchBytesFull = false;
  private readonly spinMs: number;
  private readonly hotMs: number;
  private readonly promiscuous: boolean;
  private readonly onError: ((e: unknown) => void) | undefined;
  private readonly onClosed: (() => void) | undefined;
  /** Bytes the kernel counts before the network header (14 for TAP framings, 0 for IP). */
  private readonly linkBytes: number;
  private readonly mac: Uint8Array;

  // Receive state.
  private readonly slabs = new ReceiveSlabs(RECEIVE_SLAB_SIZE, MAX_READ);
  private lastSrc: LinkAddress | undefined;
  private lastDst: LinkAddress | undefined;
  private rxStopped = false;
  private spinUntil = 0;
  /** In a spin window (draining from `setImmediate`, the worker not armed). */
  private spinning = false;
  /** The current spin window found a packet. */
  private spinCaught = false;
  /** Whether spinning pays: false after a window that caught nothing (see `spinMs`). */
  private spinPays = true;
  /** When the link last went to sleep, hot or armed (performance.now()). */
  private armedAt = 0;
  /** When a drain last found a packet (performance.now()). */
  private lastPacketAt = Number.NEGATIVE_INFINITY;
  /** In the hot window: polling the fd on the main thread, the worker not armed (see `hotMs`). */
  private hotPolling = false;
  /** Inside `hotTurn` (the hot poller keeps or drops this endpoint by its result). */
  private inHotTurn = false;
  private immediatePending = false;

  // Signal readiness state (when `readinessMode` is "signal").
  private signal: SignalReadiness | undefined;
  /** Armed for a signal: O_ASYNC set, waiting in `sleeper.wake`. */
  private sleeping = false;
  private pollFds: PollFds | undefined;
  /** Holds the event loop open while the endpoint is open, as the poll worker does in that mode. */
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private readonly preferWorker: boolean;
  private started = false;

  // Worker state.
  private worker: Worker | undefined;
  private readonly state = new Int32Array(new SharedArrayBuffer(4 * POLL_SLOTS));
  private wakeFd = -1;
  private workerDone: Promise<void> = Promise.resolve();
  private waiting = false;
  private workerStopped = false;

  // Transmit scratch.
  private readonly txHeader = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  private readonly txHeaderAddress: number;
  private readonly iov = new IovecArray(2);
  private readonly coalescer: TcpGsoCoalescer | undefined;
  private closed = false;
  /** With `ioUring`: the ring, the bytes each batched read may fill, and reads per batch. */
  private readonly uring: UringIo | undefined;
  private readonly uringSlot: number = 0;
  private readonly uringReads: number = 0;
  private readonly uringSizes = new Int32Array(URING_BATCH);
  /** Reads in the next io_uring batch: grows while batches come back full, shrinks to what came. */
  private uringNext = 2;

  constructor(opts: FdEndpointOptions) {
    if (!(opts.mtu > 0) || !Number.isInteger(opts.fd) || opts.fd < 0) throw new ErrInvalidOptionValue();
    this.fd = opts.fd;
    this.mtu = opts.mtu;
    this.framing = opts.framing;
    this.vnetHdr = opts.vnetHdr === true;
    this.ownsFd = opts.ownsFd === true;
    this.batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH);
    this.batchBytes = Math.max(1, opts.batchBytes ?? DEFAULT_BATCH_BYTES);
    this.hotMs = Math.max(0, opts.hotMs ?? DEFAULT_HOT_MS);
    this.preferWorker = opts.readiness !== "signal";
    // With the hot poll (worker readiness, hotMs > 0) a spin only costs: see DEFAULT_SPIN_MS.
    const hotPolls = this.preferWorker && this.hotMs > 0;
    this.spinMs = Math.max(0, opts.spinMs ?? (hotPolls ? 0 : DEFAULT_SPIN_MS));
    this.promiscuous = opts.promiscuous === true;
    this.onError = opts.onError;
    this.onClosed = opts.onClosed;
    this.linkBytes = opts.framing === "ip" ? 0 : ETHERNET_HEADER_SIZE;
    this.carriesFrames = opts.framing === "frames";

    if (opts.framing === "ethernet") {
      const mac = opts.linkAddress;
      if (mac?.length !== 6) throw new ErrInvalidOptionValue();
      this.linkAddress = mac;
      this.maxHeaderLength = ETHERNET_HEADER_SIZE;
    } else {
      this.linkAddress = opts.framing === "frames" && opts.linkAddress ? opts.linkAddress : LinkAddress.EMPTY;
      this.maxHeaderLength = 0;
    }
    this.mac = this.linkAddress.bytes;

    let caps = opts.framing === "ethernet" ? LinkCapability.ResolutionRequired : LinkCapability.None;
    if (this.vnetHdr) {
      caps |= LinkCapability.RXChecksumOffload | LinkCapability.HardwareGSO;
      if (opts.txChecksumOffload) caps |= LinkCapability.TXChecksumOffload;
    }
    this.capabilities = caps;
    this.gsoMaxSize = this.vnetHdr ? Math.min(opts.gsoMaxSize ?? FD_GSO_MAX_SIZE, FD_GSO_MAX_SIZE) : 0;
    this.txHeaderAddress = ptr(this.txHeader);
    if (this.vnetHdr && opts.framing === "ip" && opts.txCoalesce !== false) {
      this.coalescer = new TcpGsoCoalescer(this.writeCoalesced, this.gsoMaxSize, this.flushCoalesced);
    }
    // One byte over the largest frame, so a read that fills its slot is known to be cut short.
    const slot = (this.mtu + this.linkBytes + 8) & ~7;
    const reads = Math.min(URING_BATCH, Math.floor(MAX_READ / slot));
    if (opts.ioUring && !this.vnetHdr && reads >= 4) {
      this.uring = openUringIo(this.fd);
      this.uringSlot = slot;
      this.uringReads = reads;
    }
  }

  /** Whether reads and writes go through io_uring (`ioUring` asked for, and the ring opened). */
  get usesIoUring(): boolean {
    return this.uring !== undefined;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    if (this.closed) return;
    this.dispatcher = dispatcher;
    // Detached, packets stay queued in the kernel: the worker sleeps (state READY), or the
    // endpoint stops listening for signals, until it is attached again.
    if (!dispatcher) {
      if (this.signal) {
        this.sleeping = false;
        this.signal.disarm();
      }
      return;
    }
    if (!this.started) this.startReadiness();
    else if (this.signal) {
      if (!this.sleeping) this.scheduleImmediate();
    } else if (Atomics.load(this.state, 0) === POLL_READY && !this.waiting) this.onReady();
  }

  /** "signal" or "worker" once attached (see `readiness`); undefined before. */
  get readinessMode(): "signal" | "worker" | undefined {
    if (!this.started) return undefined;
    return this.signal ? "signal" : "worker";
  }

  /** In the hot window: the main thread polls the fd itself and the worker is not armed (see `hotMs`). */
  get hot(): boolean {
    return this.hotPolling;
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /** Resolves when the poll worker has stopped (after `close()`; at once without a worker). */
  wait(): Promise<void> {
    return this.workerDone;
  }

  /** Stops the poll worker; closes the fd if the endpoint owns it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.coalescer?.flush();
    this.closed = true;
    this.dispatcher = undefined;
    this.rxStopped = true;
    if (this.signal) {
      this.sleeping = false;
      this.signal.disarm();
      clearInterval(this.keepAlive);
    }
    Atomics.store(this.state, 0, POLL_STOP);
    Atomics.notify(this.state, 0);
    if (this.wakeFd >= 0) {
      // Wakes a worker blocked in poll(); it then posts "stopped" and we close the eventfd.
      const one = new Uint8Array(8);
      one[0] = 1;
      writeAddress(this.wakeFd, ptr(one), 8);
    }
    if (!this.worker || this.workerStopped) this.release();
  }

  private release(): void {
    this.uring?.close();
    if (this.ownsFd) closeFd(this.fd);
    this.onClosed?.();
  }

  // ---------------------------------------------------------------- inbound

  private startReadiness(): void {
    this.started = true;
    const signal = this.preferWorker ? undefined : SignalReadiness.open(this.fd);
    if (!signal) {
      this.startWorker();
      return;
    }
    this.signal = signal;
    this.pollFds = new PollFds(1);
    this.keepAlive = setInterval(noop, 1 << 30);
    // Packets may be queued already: drain them, then sleep (armed) like after any drain.
    this.scheduleImmediate();
  }

  /**
   * The signal sleeper: called from the SIGIO listener (signal-readiness.ts). O_ASYNC stays set
   * through the drain: sparse traffic then costs no fcntl per packet, and a packet that comes
   * during the drain raises a signal whose listener runs only after this task, once asleep again.
   * `pump` clears it when it starts spinning.
   */
  private readonly sleeper: SignalSleeper = {
    wake: () => {
      if (!this.sleeping) return;
      this.sleeping = false;
      if (this.rxStopped || !this.dispatcher) {
        this.signal!.disarm(); // detached: attach() drains again
        return;
      }
      this.stats.rxWakeups++;
      if (!this.spinPays && performance.now() - this.armedAt < this.spinMs) this.spinPays = true;
      this.pump();
    },
  };

  /** Signal mode: sleeps with O_ASYNC set; a packet that came before the arming is looked for once. */
  private sleepOnSignal(): void {
    const signal = this.signal!;
    if (signal.armed) {
      // Set since the last sleep: any packet after this drain's last read raises a signal.
      this.sleeping = true;
      return;
    }
    if (!signal.arm(this.sleeper)) {
      // fcntl refused O_ASYNC: poll from the event loop rather than stall (counted, reported once).
      this.stats.rxErrors++;
      this.report(new Error(`fcntl(O_ASYNC) on fd ${this.fd} failed`));
      this.scheduleImmediate();
      return;
    }
    this.sleeping = true;
    // A packet queued before O_ASYNC was set raised no signal.
    if (this.readable()) {
      this.sleeping = false;
      signal.disarm();
      this.scheduleImmediate();
    }
  }

  /** Whether the fd has something to read now (poll with timeout 0); signal mode only. */
  private readable(): boolean {
    const fds = this.pollFds!;
    fds.set(0, this.fd, POLLIN);
    return poll(fds, 0) > 0 && fds.revents(0) !== 0;
  }

  /** Whether the peer hung up (a socket fd), so a read of 0 bytes means end of file. */
  private hungUp(): boolean {
    if (!this.signal) return Atomics.load(this.state, POLL_HANGUP) !== 0;
    const fds = this.pollFds!;
    fds.set(0, this.fd, POLLIN);
    return poll(fds, 0) > 0 && (fds.revents(0) & POLLHUP) !== 0;
  }

  private startWorker(): void {
    this.wakeFd = eventfd(0, EFD_CLOEXEC);
    // Beside this module from source; inside `bun build --compile` poll-worker.ts must be an
    // extra entrypoint (see worker-url.ts).
    const worker = new Worker(workerUrl("poll-worker"));
    this.worker = worker;
    this.workerDone = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (this.wakeFd >= 0) closeFd(this.wakeFd);
        this.wakeFd = -1;
        worker.terminate();
        this.workerStopped = true;
        if (this.closed) this.release();
        else this.rxStopped = true;
        resolve();
      };
      worker.onmessage = finish;
      worker.addEventListener("close", finish);
      worker.onerror = (ev) => {
        this.report(ev instanceof ErrorEvent ? (ev.error ?? new Error(ev.message)) : ev);
        finish();
      };
    });
    Atomics.store(this.state, 0, POLL_ARMED);
    const start: PollWorkerStart = {
      state: this.state.buffer as SharedArrayBuffer,
      fd: this.fd,
      wakeFd: this.wakeFd,
    };
    worker.postMessage(start);
    this.waitForReady();
  }

  /** Sleeps (no CPU) until the worker stores READY or STOP. */
  private waitForReady(): void {
    const r = Atomics.waitAsync(this.state, 0, POLL_ARMED);
    if (!r.async) {
      this.onReady();
      return;
    }
    this.waiting = true;
    r.value.then(this.onWake);
  }

  private readonly onWake = (): void => {
    this.waiting = false;
    this.onReady();
  };

  private onReady(): void {
    const s = Atomics.load(this.state, 0);
    if (s === POLL_STOP || this.rxStopped) {
      if (s === POLL_STOP && !this.closed && Atomics.load(this.state, POLL_ERRNO) !== 0) {
        this.report(
          new Error(`poll() on fd ${this.fd} failed with errno ${Atomics.load(this.state, POLL_ERRNO)}`),
        );
      }
      return;
    }
    if (s === POLL_ARMED) {
      this.waitForReady();
      return;
    }
    // READY.
    if (!this.dispatcher) return; // paused until attach()
    this.stats.rxWakeups++;
    // A packet soon after going to sleep: traffic is dense again, so spinning pays again.
    if (!this.spinPays && performance.now() - this.armedAt < this.spinMs) this.spinPays = true;
    this.pump();
  }

  /** Drains one batch, then either yields and drains again, spins, polls hot, or sleeps (signal or worker). */
  private pump(): void {
    if (this.hotPolling) this.leaveHot();
    const got = this.drain();
    if (this.rxStopped || !this.dispatcher) return;
    if (got === this.batchSize || this.batchBytesFull) {
      // More may be queued: yield to the event loop (timers, HTTP), then continue without re-arming.
      this.stats.rxBatchLimited++;
      this.signal?.disarm(); // dense traffic: no signal per packet
      this.scheduleImmediate();
      return;
    }
    const now = performance.now();
    if (got > 0) this.lastPacketAt = now;
    if (this.spinMs > 0) {
      if (got > 0) {
        if (this.spinning) this.spinCaught = true;
        if (this.spinPays) this.spinUntil = now + this.spinMs;
      }
      if (now < this.spinUntil) {
        this.spinning = true;
        this.signal?.disarm(); // dense traffic: no signal per packet
        this.scheduleImmediate();
        return;
      }
      // A whole window without a packet: sparse traffic, where spinning only costs CPU.
      if (this.spinning && !this.spinCaught) this.spinPays = false;
      this.spinning = false;
      this.spinCaught = false;
      this.armedAt = now;
    }
    if (this.signal) {
      this.sleepOnSignal();
      return;
    }
    this.sleepHotOrArmed(now);
  }

  /** Worker mode, nothing left to read: poll hot from the event loop while traffic is recent, else arm the worker. */
  private sleepHotOrArmed(now: number): void {
    if (now - this.lastPacketAt < this.hotMs) {
      this.hotPolling = true;
      hotPoller.add(this);
      return;
    }
    Atomics.store(this.state, 0, POLL_ARMED);
    Atomics.notify(this.state, 0);
    this.waitForReady();
  }

  /** Stops hot polling; inside the poller's own turn it drops this endpoint by `hotTurn`'s result instead. */
  private leaveHot(): void {
    this.hotPolling = false;
    if (!this.inHotTurn) hotPoller.remove(this);
  }

  /** For the hot poller: POLLIN. */
  readonly hotEvents = POLLIN;

  /**
   * One hot turn (see `hotMs`), called by the hot poller after its poll(2) with this fd's revents:
   * drains if the fd became readable, else stays for the next turn, or arms the worker once the
   * window has passed. Returns whether to stay in the poller.
   */
  hotTurn(revents: number, pollFailed: boolean): boolean {
    if (!this.hotPolling) return false;
    if (this.rxStopped || !this.dispatcher) {
      // Detached or closed: the worker state stays READY, and attach() drains again.
      this.hotPolling = false;
      return false;
    }
    if (revents !== 0) {
      // A hung-up socket peer: a read of 0 bytes then means end of file (see `hungUp`).
      if (revents & POLLHUP) Atomics.store(this.state, POLL_HANGUP, 1);
      this.stats.rxHotWakeups++;
      // As for a worker wake-up: a packet soon after going to sleep makes spinning pay again.
      if (!this.spinPays && performance.now() - this.armedAt < this.spinMs) this.spinPays = true;
      this.inHotTurn = true;
      try {
        this.pump();
      } finally {
        this.inHotTurn = false;
      }
      return this.hotPolling;
    }
    // poll itself failed: leave the fd to the worker, which reports a lasting failure.
    if (pollFailed) this.lastPacketAt = Number.NEGATIVE_INFINITY;
    this.hotPolling = false;
    this.sleepHotOrArmed(performance.now());
    return this.hotPolling;
  }

  private scheduleImmediate(): void {
    if (this.immediatePending) return;
    this.immediatePending = true;
    setImmediate(this.onImmediate);
  }

  private readonly onImmediate = (): void => {
    this.immediatePending = false;
    if (this.rxStopped || !this.dispatcher) return;
    if (this.spinning) this.stats.rxSpinDrains++;
    this.pump();
  };

  /**
   * Reads and delivers up to `batchSize` packets as one batch for the dispatcher
   * (`beginBatch`/`endBatch`: TCP answers the batch with one ACK); returns how many
   * reads returned a packet.
   */
  private drain(): number {
    const d = this.dispatcher;
    d?.beginBatch?.();
    try {
      return this.readBatch();
    } finally {
      try {
        d?.endBatch?.();
      } catch (e) {
        this.stats.rxErrors++;
        this.report(e);
      }
    }
  }

  private readBatch(): number {
    if (this.uring) return this.readBatchUring(this.uring);
    const fd = this.fd;
    let got = 0;
    let bytes = 0;
    this.batchBytesFull = false;
    while (got < this.batchSize) {
      if (bytes >= this.batchBytes) {
        this.batchBytesFull = true;
        break;
      }
      const slab = this.slabs.current();
      const off = this.slabs.readOffset;
      const n = readAddress(fd, slab.address + off, MAX_READ);
      if (n < 0) {
        if (n === -ERRNO.EAGAIN) break;
        if (n === -ERRNO.EINTR) continue;
        this.stats.rxErrors++;
        this.rxStopped = true; // EBADF and the like: the fd is gone; stop instead of spinning.
        this.report(new Error(`read() on fd ${this.fd} failed with errno ${-n}`));
        break;
      }
      if (n === 0) {
        // A TUN never returns 0. On a socket it is an empty datagram, or end of file once
        // poll() has seen the peer hang up (then stop instead of spinning).
        if (this.hungUp()) {
          this.rxStopped = true;
          break;
        }
        // Stop this drain so the worker polls again and can report a hang-up.
        this.stats.rxMalformed++;
        break;
      }
      got++;
      bytes += n;
      this.slabs.advance(n);
      try {
        this.deliver(slab, off, n);
      } catch (e) {
        this.stats.rxErrors++;
        this.report(e);
      }
      if (!this.dispatcher) break;
    }
    this.stats.rxSlabs = this.slabs.allocated;
    return got;
  }

  /**
   * `readBatch` through io_uring: up to `uringReads` nonblocking reads per enter into
   * consecutive slots of the receive slab, delivered in order; ends like `readBatch`
   * (empty queue, `batchSize`, `batchBytes`, an fd error, end of file).
   */
  private readBatchUring(uring: UringIo): number {
    const slot = this.uringSlot;
    const results = uring.results;
    let got = 0;
    let bytes = 0;
    this.batchBytesFull = false;
    let more = true;
    while (more && got < this.batchSize) {
      if (bytes >= this.batchBytes) {
        this.batchBytesFull = true;
        break;
      }
      const slab = this.slabs.current();
      const off = this.slabs.readOffset;
      // No more reads than could still fit under batchBytes (each is below one slot), so the batch
      // ends at the packet that reaches it, as in readBatch.
      const count = Math.min(
        this.uringNext,
        this.batchSize - got,
        Math.ceil((this.batchBytes - bytes) / slot),
      );
      uring.reads(slab.address + off, slot, slot, count);
      // Slots up to the last packet are taken; the next batch starts after it.
      let end = 0;
      let filled = 0;
      for (let i = 0; i < count; i++) {
        const n = results[i]!;
        if (n > 0) {
          end = i * slot + n;
          filled++;
        }
      }
      // Each empty read is kernel work too: ask next time for twice what came (2..uringReads).
      this.uringNext = Math.max(2, Math.min(this.uringReads, filled === count ? count * 2 : filled * 2));
      if (end > 0) this.slabs.advance(end);
      // A read may find the queue empty and a later one of the same batch find a packet that came
      // in between: deliver every packet of the batch, then end the drain if one read was empty.
      let empty = false;
      for (let i = 0; i < count && more; i++) {
        const n = results[i]!;
        if (n < 0) {
          if (n === -ERRNO.EAGAIN) empty = true;
          else if (n !== -ERRNO.EINTR) {
            this.stats.rxErrors++;
            this.rxStopped = true;
            this.report(new Error(`read() on fd ${this.fd} failed with errno ${-n}`));
            more = false;
          }
          continue;
        }
        if (n === 0) {
          // As in readBatch: end of file after a hang-up, else an empty datagram.
          if (this.hungUp()) this.rxStopped = true;
          else this.stats.rxMalformed++;
          more = false;
          continue;
        }
        got++;
        bytes += n;
        if (n >= slot) {
          // Larger than MTU + framing: cut short by the slot, dropped.
          this.stats.rxMalformed++;
          continue;
        }
        try {
          this.deliver(slab, off + i * slot, n);
        } catch (e) {
          this.stats.rxErrors++;
          this.report(e);
        }
        if (!this.dispatcher) more = false;
      }
      if (empty) more = false;
    }
    this.stats.rxSlabs = this.slabs.allocated;
    return got;
  }

  /** Parses framing of the `n` bytes at `slab[off]` and hands the packet to the dispatcher. */
  private deliver(slab: Slab, off: number, n: number): void {
    const d = this.dispatcher;
    if (!d) return;
    const data = slab.data.subarray(off, off + n);
    let h = 0;
    let gsoType = 0;
    if (this.vnetHdr) {
      gsoType = n < VIRTIO_NET_HDR_SIZE ? -1 : rxGsoType(data);
      if (gsoType < 0) {
        this.stats.rxMalformed++;
        return;
      }
      h = VIRTIO_NET_HDR_SIZE;
    }
    const pkt = new PacketBuffer(data, h, n);
    // TCP may keep a view of a large segment instead of copying it, holding the slab (packet-buffer.ts,
    // receive-slabs.ts): the slab is rewound only once nothing holds it.
    pkt.dataKeepable = true;
    pkt.lease = slab;
    let proto: number;
    if (this.framing === "ip") {
      // Empty, or an IP version other than 4 and 6.
      proto = n > h ? ipProtocolOf(data[h]!) : 0;
      if (proto === 0) {
        this.stats.rxMalformed++;
        return;
      }
      pkt.networkHeader = h;
    } else {
      if (n - h < ETHERNET_HEADER_SIZE) {
        this.stats.rxMalformed++;
        return;
      }
      proto = (data[h + ETH_TYPE]! << 8) | data[h + ETH_TYPE + 1]!;
      if (this.framing === "ethernet") {
        if (proto < MIN_ETHERTYPE) {
          this.stats.rxMalformed++;
          return;
        }
        const group = (data[h + ETH_DST]! & 1) === 1;
        const toUs = sameMac(data, h + ETH_DST, this.mac);
        if (!group && !toUs && !this.promiscuous) {
          this.stats.rxNotForUs++;
          return;
        }
        pkt.linkHeader = h;
        pkt.linkDst = toUs ? this.linkAddress : this.dstAddress(data, h);
        pkt.linkSrc = this.srcAddress(data, h);
        pkt.linkBroadcastOrMulticast = group;
        pkt.head = h + ETHERNET_HEADER_SIZE;
        pkt.networkHeader = pkt.head;
      } else {
        pkt.linkHeader = h;
      }
    }
    pkt.networkProtocol = proto;
    if (this.vnetHdr) {
      setRxOffload(pkt, data, gsoType, this.linkBytes);
      if (gsoType !== 0) this.stats.rxGsoPackets++;
    }
    this.stats.rxPackets++;
    this.stats.rxBytes += n - (this.vnetHdr ? VIRTIO_NET_HDR_SIZE : 0);
    d.deliverNetworkPacket(proto, pkt);
  }

  private srcAddress(b: Uint8Array, h: number): LinkAddress {
    const last = this.lastSrc;
    if (last && sameMac(b, h + ETH_SRC, last.bytes)) return last;
    const a = LinkAddress.fromBytes(b, h + ETH_SRC, 6);
    this.lastSrc = a;
    return a;
  }

  private dstAddress(b: Uint8Array, h: number): LinkAddress {
    if (sameMac(b, h + ETH_DST, LinkAddress.BROADCAST.bytes)) return LinkAddress.BROADCAST;
    const last = this.lastDst;
    if (last && sameMac(b, h + ETH_DST, last.bytes)) return last;
    const a = LinkAddress.fromBytes(b, h + ETH_DST, 6);
    this.lastDst = a;
    return a;
  }

  private report(e: unknown): void {
    this.lastError = e;
    this.onError?.(e);
  }

  // --------------------------------------------------------------- outbound

  /**
   * Writes each packet with one syscall. Returns how many the fd accepted;
   * the others are counted here (`txDroppedEagain`, `txErrors`) and dropped.
   */
  writePackets(pkts: readonly PacketBuffer[]): number {
    if (this.closed) return 0;
    if (this.uring && pkts.length > 1) return this.writePacketsUring(this.uring, pkts);
    let written = 0;
    for (let i = 0; i < pkts.length; i++) {
      if (this.writeOne(pkts[i]!)) written++;
    }
    return written;
  }

  private writeOne(pkt: PacketBuffer): boolean {
    if (this.framing === "ethernet" && !this.prependEthernet(pkt)) {
      this.stats.txErrors++;
      return false;
    }
    const size = pkt.tail - pkt.head;
    if (size <= 0) {
      // Nothing to send (and no address to pass): a TUN would reject it anyway.
      this.stats.txErrors++;
      return false;
    }
    // A fully checksummed TCP segment joins the open run; anything else goes out after it, in order.
    if (this.coalescer?.offer(pkt, size)) return true;
    let n: number;
    if (!this.vnetHdr) {
      n = writeAddress(this.fd, ptr(pkt.data, pkt.head), size);
    } else {
      const g = pkt.gso;
      if (pkt.head >= VIRTIO_NET_HDR_SIZE) {
        // The headroom below `head` is free by definition: write the virtio header there, one write().
        const at = pkt.head - VIRTIO_NET_HDR_SIZE;
        fillTxHeader(pkt.data, at, g, this.linkBytes);
        n = writeAddress(this.fd, ptr(pkt.data, at), size + VIRTIO_NET_HDR_SIZE);
      } else {
        fillTxHeader(this.txHeader, 0, g, this.linkBytes);
        this.iov.set(0, this.txHeaderAddress, VIRTIO_NET_HDR_SIZE);
        this.iov.set(1, ptr(pkt.data, pkt.head), size);
        n = writevFd(this.fd, this.iov, 2);
      }
      if (n >= 0) {
        n -= VIRTIO_NET_HDR_SIZE;
        if (g && g.type !== 0) this.stats.txGsoPackets++;
      }
    }
    if (n < 0) {
      if (n === -ERRNO.EAGAIN) this.stats.txDroppedEagain++;
      else this.stats.txErrors++;
      return false;
    }
    this.stats.txPackets++;
    this.stats.txBytes += size;
    return true;
  }

  /**
   * `writePackets` through io_uring, for a call with several packets: their writes in batches of
   * URING_BATCH per enter, in order, all done when it returns. (The NIC hands over one packet per
   * call, which goes out with write(2): one SQE per enter measured slower than write, and batching
   * across calls would need a flush before the hot poll blocks; see uring-io.ts.)
   */
  private writePacketsUring(uring: UringIo, pkts: readonly PacketBuffer[]): number {
    let written = 0;
    for (let i = 0; i < pkts.length; i++) {
      const pkt = pkts[i]!;
      if (this.framing === "ethernet" && !this.prependEthernet(pkt)) {
        this.stats.txErrors++;
        continue;
      }
      const size = pkt.tail - pkt.head;
      if (size <= 0) {
        this.stats.txErrors++;
        continue;
      }
      this.uringSizes[uring.queuedWrites] = size;
      uring.queueWrite(ptr(pkt.data, pkt.head), size);
      if (uring.queuedWrites === URING_BATCH) written += this.countWrites(uring);
    }
    if (uring.queuedWrites > 0) written += this.countWrites(uring);
    return written;
  }

  /** Submits the queued writes (their sizes in `uringSizes`) in one enter and counts them as `writeOne` does. */
  private countWrites(uring: UringIo): number {
    const count = uring.queuedWrites;
    uring.flushWrites();
    const results = uring.results;
    let ok = 0;
    for (let k = 0; k < count; k++) {
      const n = results[k]!;
      if (n < 0) {
        if (n === -ERRNO.EAGAIN) this.stats.txDroppedEagain++;
        else this.stats.txErrors++;
        continue;
      }
      ok++;
      this.stats.txPackets++;
      this.stats.txBytes += this.uringSizes[k]!;
    }
    return ok;
  }

  /** The coalescer's end of turn (tcp-gso-coalescer.ts `onTurnEnd`): writes the open run. */
  private readonly flushCoalesced = (): void => {
    if (!this.closed) this.coalescer?.flush();
  };

  /** Writes a packet the coalescer built (a virtio header first); counts it like `writeOne`. */
  private readonly writeCoalesced = (buf: Uint8Array, len: number, segments: number): void => {
    const n = writeAddress(this.fd, ptr(buf), len);
    if (n < 0) {
      if (n === -ERRNO.EAGAIN) this.stats.txDroppedEagain += segments;
      else this.stats.txErrors += segments;
      return;
    }
    this.stats.txPackets += segments;
    this.stats.txBytes += len - VIRTIO_NET_HDR_SIZE;
    if (segments > 1) this.stats.txGsoPackets++;
  };

  /**
   * RFC 894 framing into the packet's headroom, to `pkt.linkDst` (resolved by
   * ARP/NDP above), or to the broadcast address when unset, as `EthernetEndpoint` does.
   */
  private prependEthernet(pkt: PacketBuffer): boolean {
    const dst = pkt.linkDst ?? LinkAddress.BROADCAST;
    const type = pkt.networkProtocol;
    if (dst.length !== 6 || type === 0) return false;
    const off = pkt.prepend(ETHERNET_HEADER_SIZE);
    const b = pkt.data;
    b.set(dst.bytes, off + ETH_DST);
    b.set(this.mac, off + ETH_SRC);
    b[off + ETH_TYPE] = type >>> 8;
    b[off + ETH_TYPE + 1] = type & 0xff;
    pkt.linkHeader = off;
    pkt.linkSrc = this.linkAddress;
    return true;
  }
}

function sameMac(b: Uint8Array, off: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (b[off + i] !== mac[i]) return false;
  return true;
}

function noop(): void {}

import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { initPipe } from "./pipe/layout.ts";
import {
  type LaneLayout,
  laneLayout,
  type QueueConfig,
  queueConfig,
  queueConfigProblem,
} from "./queue/layout.ts";

/**
 * The shared region of one sharedmem link: a header, then one lane per
 * direction (queue/layout.ts). Side 0 (the creator, by convention) sends on
 * lane 0 and receives on lane 1; side 1 the reverse.
 *
 *   +0    header, 64 bytes of 32-bit words:
 *         magic "NSHM", version, mtu, flags (bit 0: Ethernet frames),
 *         descriptor capacity, completion capacity, buffer size, buffer count,
 *         region size
 *   +64   lane 0
 *   ...   lane 1
 *
 * The header lets the other side open the region knowing only the buffer
 * (a SharedArrayBuffer posted to a Worker, or a memfd mapped by another
 * process). It is read once, checked against the buffer's real size, and
 * never again: a peer that rewrites it later changes nothing for us.
 */
export const REGION_MAGIC = 0x4d48534e; // "NSHM" in little-endian bytes
export const REGION_VERSION = 1;
export const REGION_HEADER_SIZE = 64;
const FLAG_FRAMES = 1;
/** Bytes Ethernet II framing adds to the MTU (RFC 894) when the region carries whole frames. */
export const FRAME_HEADER_ALLOWANCE = 14;

export interface SharedMemRegionOptions {
  /** Largest network-layer packet (default 1500). In frame mode a frame may be 14 bytes longer. */
  mtu?: number;
  /** Carry whole Ethernet frames (for an `EthernetEndpoint` on top) instead of IP packets (default false). */
  frames?: boolean;
  /** Bytes per data buffer (default 2048; a packet may span several). */
  bufferSize?: number;
  /** Data buffers per direction (default 256). */
  bufferCount?: number;
}

/** A region's parameters, as read from (and checked against) its header. */
export interface SharedMemRegionInfo {
  mtu: number;
  frames: boolean;
  config: QueueConfig;
  lanes: [LaneLayout, LaneLayout];
  size: number;
}

function plan(opts: SharedMemRegionOptions): SharedMemRegionInfo {
  const mtu = opts.mtu ?? 1500;
  const frames = opts.frames ?? false;
  // RFC 791 §3.2: every IPv4 link carries at least 68 bytes; an IP packet's length is 16 bits.
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new ErrInvalidOptionValue();
  const config = queueConfig(mtu + (frames ? FRAME_HEADER_ALLOWANCE : 0), opts.bufferSize, opts.bufferCount);
  if (queueConfigProblem(config)) throw new ErrInvalidOptionValue();
  const lane0 = laneLayout(REGION_HEADER_SIZE, config);
  const lane1 = laneLayout(REGION_HEADER_SIZE + lane0.size, config);
  return { mtu, frames, config, lanes: [lane0, lane1], size: REGION_HEADER_SIZE + lane0.size + lane1.size };
}

/** Bytes a region with these options needs. */
export function sharedMemRegionSize(opts: SharedMemRegionOptions = {}): number {
  return plan(opts).size;
}

/** A fresh region in a SharedArrayBuffer, ready to be opened by both sides (one may be a Worker). */
export function createSharedMemRegion(opts: SharedMemRegionOptions = {}): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(plan(opts).size);
  initSharedMemRegion(buffer, opts);
  return buffer;
}

/**
 * Writes the header and empties both lanes of a region in `buffer` (for
 * memory that did not come from `createSharedMemRegion`, such as an mmap'd
 * memfd). Call it before either side opens the region.
 */
export function initSharedMemRegion(
  buffer: ArrayBufferLike,
  opts: SharedMemRegionOptions = {},
): SharedMemRegionInfo {
  const info = plan(opts);
  if (buffer.byteLength < info.size) throw new ErrInvalidOptionValue();
  new Uint8Array(buffer, 0, info.size).fill(0);
  for (const lane of info.lanes) {
    initPipe(buffer, lane.descriptorBase, info.config.descriptorCapacity);
    initPipe(buffer, lane.completionBase, info.config.completionCapacity);
  }
  const h = new Uint32Array(buffer, 0, REGION_HEADER_SIZE / 4);
  h[1] = REGION_VERSION;
  h[2] = info.mtu;
  h[3] = info.frames ? FLAG_FRAMES : 0;
  h[4] = info.config.descriptorCapacity;
  h[5] = info.config.completionCapacity;
  h[6] = info.config.bufferSize;
  h[7] = info.config.bufferCount;
  h[8] = info.size;
  // The magic last, atomically: a peer polling for it sees a complete header.
  Atomics.store(h, 0, REGION_MAGIC);
  return info;
}

/** Reads and checks a region's header; throws `ErrInvalidOptionValue` for anything that is not a whole, sane region. */
export function readSharedMemRegion(buffer: ArrayBufferLike): SharedMemRegionInfo {
  if (buffer.byteLength < REGION_HEADER_SIZE) throw new ErrInvalidOptionValue();
  const h = new Uint32Array(buffer, 0, REGION_HEADER_SIZE / 4);
  if (Atomics.load(h, 0) !== REGION_MAGIC || h[1] !== REGION_VERSION) throw new ErrInvalidOptionValue();
  const frames = (h[3]! & FLAG_FRAMES) !== 0;
  const info = plan({ mtu: h[2]!, frames, bufferSize: h[6]!, bufferCount: h[7]! });
  // The pipe sizes are derived, not trusted: they must be exactly what this version lays out.
  if (
    h[4] !== info.config.descriptorCapacity ||
    h[5] !== info.config.completionCapacity ||
    h[8] !== info.size ||
    buffer.byteLength < info.size
  ) {
    throw new ErrInvalidOptionValue();
  }
  return info;
}

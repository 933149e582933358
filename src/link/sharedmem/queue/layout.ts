import { isValidPipeCapacity, pipeMaxPayload, pipeSize, pipeSlotSize } from "../pipe/layout.ts";

/**
 * One lane: everything one direction of a link needs, in shared memory.
 *
 *   +0      notification block (128 bytes): data doorbell and "waiting" flag
 *           at +0/+4, completion doorbell and flag at +64/+68
 *   +128    descriptor pipe: the sender posts one descriptor per packet
 *   ...     completion pipe: the receiver returns each descriptor's id
 *   ...     data: `bufferCount` buffers of `bufferSize` bytes, owned by the
 *           sender until it posts them and again after their completion
 *
 * This is the shape of the seed's `sharedmem/queue` (packets as descriptors
 * pointing into a data region, buffers given back through completions); the
 * encoding below is ours.
 *
 * Descriptor (little 32-bit words, native order):
 *   [0] id        first buffer index; echoed back in the completion
 *   [1] size      packet bytes
 *   [2] protocol  EtherType (0 for Ethernet frames and unknown)
 *   [3] count     buffers that follow
 *   [4 + 2i]      offset of buffer i, in bytes from the start of the data area
 *   [5 + 2i]      bytes used in buffer i
 * Completion: [0] id.
 */
export const LANE_NOTIFY_SIZE = 128;
/** Int32 index (from the lane base) of the data doorbell; its "waiting" flag follows. */
export const LANE_DATA_DOORBELL = 0;
/** Int32 index (from the lane base) of the completion doorbell; its "waiting" flag follows. */
export const LANE_COMPLETION_DOORBELL = 16;
export const DESCRIPTOR_HEADER_SIZE = 16;
export const DESCRIPTOR_BUFFER_SIZE = 8;
export const COMPLETION_SIZE = 4;

export interface QueueConfig {
  /** Descriptor pipe ring bytes (power of two). */
  descriptorCapacity: number;
  /** Completion pipe ring bytes (power of two). */
  completionCapacity: number;
  /** Bytes per data buffer (multiple of 8). */
  bufferSize: number;
  bufferCount: number;
  /** Largest packet (bytes) the lane carries. */
  maxPacketSize: number;
}

/** Where the parts of a lane sit, as absolute byte offsets into the shared buffer. */
export interface LaneLayout {
  base: number;
  descriptorBase: number;
  completionBase: number;
  dataBase: number;
  dataSize: number;
  /** Bytes the lane occupies (a multiple of 64). */
  size: number;
}

/** Most buffers one packet of `config.maxPacketSize` spans. */
export function maxBuffersPerPacket(config: QueueConfig): number {
  return Math.max(1, Math.ceil(config.maxPacketSize / config.bufferSize));
}

/** Pipe sizes large enough that buffers, not descriptor or completion room, are what runs out. */
export function queueConfig(maxPacketSize: number, bufferSize = 2048, bufferCount = 256): QueueConfig {
  const c: QueueConfig = {
    descriptorCapacity: 0,
    completionCapacity: 0,
    bufferSize,
    bufferCount,
    maxPacketSize,
  };
  const perBuffer = pipeSlotSize(DESCRIPTOR_HEADER_SIZE + DESCRIPTOR_BUFFER_SIZE);
  const largest = pipeSlotSize(DESCRIPTOR_HEADER_SIZE + DESCRIPTOR_BUFFER_SIZE * maxBuffersPerPacket(c));
  c.descriptorCapacity = nextPowerOfTwo(Math.max(2 * bufferCount * perBuffer, 2 * largest, 256));
  c.completionCapacity = nextPowerOfTwo(Math.max(2 * bufferCount * pipeSlotSize(COMPLETION_SIZE), 256));
  return c;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Why `config` cannot work, or undefined when it can. */
export function queueConfigProblem(config: QueueConfig): string | undefined {
  const { descriptorCapacity, completionCapacity, bufferSize, bufferCount, maxPacketSize } = config;
  if (!isValidPipeCapacity(descriptorCapacity))
    return `descriptor capacity ${descriptorCapacity} is not a power of two in [64, 2^30]`;
  if (!isValidPipeCapacity(completionCapacity))
    return `completion capacity ${completionCapacity} is not a power of two in [64, 2^30]`;
  if (!Number.isInteger(bufferSize) || bufferSize < 64 || bufferSize % 8 !== 0 || bufferSize > 1 << 24) {
    return `buffer size ${bufferSize} is not a multiple of 8 in [64, 2^24]`;
  }
  if (!Number.isInteger(bufferCount) || bufferCount < 1 || bufferCount > 1 << 20)
    return `buffer count ${bufferCount} is not in [1, 2^20]`;
  if (!Number.isInteger(maxPacketSize) || maxPacketSize < 1 || maxPacketSize > bufferSize * bufferCount) {
    return `largest packet ${maxPacketSize} does not fit ${bufferCount} buffers of ${bufferSize} bytes`;
  }
  const descriptor = DESCRIPTOR_HEADER_SIZE + DESCRIPTOR_BUFFER_SIZE * maxBuffersPerPacket(config);
  if (descriptor > pipeMaxPayload(descriptorCapacity))
    return `descriptor pipe of ${descriptorCapacity} bytes is too small for a ${descriptor}-byte descriptor`;
  return undefined;
}

/** The layout of a lane at `base` (8-aligned). */
export function laneLayout(base: number, config: QueueConfig): LaneLayout {
  const descriptorBase = base + LANE_NOTIFY_SIZE;
  const completionBase = descriptorBase + pipeSize(config.descriptorCapacity);
  const dataBase = completionBase + pipeSize(config.completionCapacity);
  const dataSize = config.bufferSize * config.bufferCount;
  const end = dataBase + dataSize;
  return {
    base,
    descriptorBase,
    completionBase,
    dataBase,
    dataSize,
    size: Math.ceil((end - base) / 64) * 64,
  };
}

/**
 * Batched datagram I/O: `sendmmsg(2)` / `recvmmsg(2)` move up to `capacity`
 * packets per syscall on a datagram or packet socket (AF_PACKET, AF_UNIX
 * SOCK_DGRAM/SEQPACKET). The research measured 4.7x the packets per second of
 * one `write` per packet for TX at batch 64 (bun-io §2e). TUN/TAP fds are not
 * sockets: there the batching lever is GSO.
 *
 * The `mmsghdr` array and its iovecs live in typed arrays this object keeps
 * referenced for as long as it lives, since the kernel is given their raw
 * addresses (pitfall 6). Layout is x86_64/aarch64 LP64: `struct msghdr` is 56
 * bytes (msg_iov at +16, msg_iovlen at +24), `msg_len` follows at +56.
 */
import { ptr } from "bun:ffi";
import { asPointer, lastErrno, libc } from "./libc.ts";

const MMSGHDR_SIZE = 64;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_LEN = 56;
const IOV_SIZE = 16;
/** MSG_DONTWAIT: never block, even on a blocking socket. */
export const MSG_DONTWAIT = 0x40;

export class MmsgBatch {
  /** One buffer per slot; received packets land at the start of their slot. */
  readonly buffers: Uint8Array[];
  /** Bytes of each slot after `recv` (or to send, set by `setLength`). */
  readonly lengths: Uint32Array;
  private readonly hdrs: Uint8Array;
  private readonly hdrView: DataView;
  private readonly iovs: Uint8Array;
  private readonly iovView: DataView;

  constructor(
    readonly capacity: number,
    readonly slotSize = 65536,
  ) {
    this.buffers = Array.from({ length: capacity }, () => new Uint8Array(slotSize));
    this.lengths = new Uint32Array(capacity);
    this.hdrs = new Uint8Array(capacity * MMSGHDR_SIZE);
    this.hdrView = new DataView(this.hdrs.buffer);
    this.iovs = new Uint8Array(capacity * IOV_SIZE);
    this.iovView = new DataView(this.iovs.buffer);
    const iovBase = ptr(this.iovs);
    for (let i = 0; i < capacity; i++) {
      this.iovView.setBigUint64(i * IOV_SIZE, BigInt(ptr(this.buffers[i]!)), true);
      this.iovView.setBigUint64(i * IOV_SIZE + 8, BigInt(slotSize), true);
      this.hdrView.setBigUint64(i * MMSGHDR_SIZE + MSG_IOV, BigInt(iovBase + i * IOV_SIZE), true);
      this.hdrView.setBigUint64(i * MMSGHDR_SIZE + MSG_IOVLEN, 1n, true);
    }
  }

  /** Copies `bytes` into slot `i` for the next `send`. */
  set(i: number, bytes: Uint8Array): void {
    if (bytes.length > this.slotSize)
      throw new RangeError(`packet of ${bytes.length} bytes exceeds the ${this.slotSize}-byte slot`);
    this.buffers[i]!.set(bytes);
    this.lengths[i] = bytes.length;
  }

  /** Sends slots [0, count): returns how many were sent, or `-errno`. */
  send(fd: number, count: number, flags = MSG_DONTWAIT): number {
    const n = Math.min(count, this.capacity);
    for (let i = 0; i < n; i++) this.iovView.setBigUint64(i * IOV_SIZE + 8, BigInt(this.lengths[i]!), true);
    const r = libc.sendmmsg(fd, this.hdrs, n, flags) as number;
    return r < 0 ? -lastErrno() : r;
  }

  /** Receives up to `capacity` packets: returns how many (lengths in `lengths`), or `-errno`. */
  recv(fd: number, flags = MSG_DONTWAIT): number {
    for (let i = 0; i < this.capacity; i++)
      this.iovView.setBigUint64(i * IOV_SIZE + 8, BigInt(this.slotSize), true);
    const r = libc.recvmmsg(fd, this.hdrs, this.capacity, flags, asPointer(0)) as number;
    if (r < 0) return -lastErrno();
    for (let i = 0; i < r; i++) this.lengths[i] = this.hdrView.getUint32(i * MMSGHDR_SIZE + MSG_LEN, true);
    return r;
  }

  /** The bytes received in slot `i` (a view, valid until the next `recv`). */
  packet(i: number): Uint8Array {
    return this.buffers[i]!.subarray(0, this.lengths[i]!);
  }
}

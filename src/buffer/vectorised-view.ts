/**
 * A byte sequence made of several chunks (the seed's `VectorisedView`): a
 * reassembled datagram, a TCP send queue, or a payload split across buffers.
 * Chunks are referenced, not copied; `toBytes` copies once when a flat view
 * is needed.
 */
const EMPTY = new Uint8Array(0);
/** Taken chunks are compacted away once there are this many and they are most of the array. */
const COMPACT_MIN = 64;

export class VectorisedView {
  /**
   * The chunks are `chunks[head]` onwards. `trimFront` advances `head` rather than calling
   * `shift()`: on an array of a few hundred elements `shift` turns its storage into JSC's
   * ArrayStorage, and a TCP send queue that went back and forth between the two storage kinds made
   * the JIT's array speculation fail in `copyTo` again and again (issue 10, BUN_JSC_printEachOSRExit:
   * thousands of BadCache exits in a plain-TUN download).
   */
  private chunks: Uint8Array[];
  private head = 0;
  private total: number;
  /**
   * Where the last `copyTo` started: chunk `hintIndex` begins at byte `hintStart`. A TCP send
   * queue copies segment after segment from ever later offsets, and may hold thousands of small
   * chunks (one per write): scanning from the first chunk for each segment cost O(chunks) per
   * segment (issue 10: 12% of a plain-TUN download's CPU). Kept valid by `trimFront`; reset by
   * anything else that replaces chunks.
   */
  private hintIndex = 0;
  private hintStart = 0;

  constructor(chunks: Uint8Array[] = []) {
    this.chunks = chunks.filter((c) => c.length > 0);
    this.total = 0;
    for (const c of this.chunks) this.total += c.length;
  }

  get size(): number {
    return this.total;
  }

  get views(): readonly Uint8Array[] {
    return this.head === 0 ? this.chunks : this.chunks.slice(this.head);
  }

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * Appends `chunk`, merged into the last chunk when it continues it in the
   * same buffer (the bytes right after it): a stream copied piece by piece
   * into one backing array stays one chunk, so a later `slice` of it is a view.
   */
  appendContiguous(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const n = this.chunks.length;
    const last = n > this.head ? this.chunks[n - 1]! : undefined;
    if (
      last !== undefined &&
      last.buffer === chunk.buffer &&
      last.byteOffset + last.length === chunk.byteOffset
    ) {
      this.chunks[n - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + chunk.length);
    } else {
      this.chunks.push(chunk);
    }
    this.total += chunk.length;
  }

  /**
   * `appendContiguous(arr.subarray(off, off + len))` with one view made instead of two: the bytes
   * `[off, off + len)` of `arr` are appended, merged into the last chunk when it ends right before
   * them in the same buffer (issue 10: TCP's receive queue appends each segment so).
   */
  appendRange(arr: Uint8Array, off: number, len: number): void {
    if (len === 0) return;
    const n = this.chunks.length;
    const last = n > this.head ? this.chunks[n - 1]! : undefined;
    const at = arr.byteOffset + off;
    if (last !== undefined && last.byteOffset + last.length === at && last.buffer === arr.buffer) {
      this.chunks[n - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + len);
    } else {
      this.chunks.push(arr.subarray(off, off + len));
    }
    this.total += len;
  }

  /** Removes `n` bytes from the front. */
  trimFront(n: number): void {
    if (n > this.total) n = this.total;
    this.total -= n;
    const trimmed = n;
    const chunks = this.chunks;
    let h = this.head;
    while (n > 0) {
      const c = chunks[h]!;
      if (c.length <= n) {
        chunks[h] = EMPTY; // let go of the bytes
        h++;
        n -= c.length;
      } else {
        chunks[h] = c.subarray(n);
        n = 0;
      }
    }
    // The hinted chunk (an index into `chunks`) stays where it is and starts `trimmed` bytes earlier,
    // unless it was taken.
    if (this.hintIndex <= h) {
      this.hintIndex = h;
      this.hintStart = 0;
    } else {
      this.hintStart -= trimmed;
    }
    if (h === chunks.length) {
      // Empty: start over at index 0 (length 0 keeps the array's storage kind).
      chunks.length = 0;
      h = 0;
      this.hintIndex = 0;
      this.hintStart = 0;
    } else if (h >= COMPACT_MIN && h * 2 >= chunks.length) {
      chunks.copyWithin(0, h);
      chunks.length -= h;
      this.hintIndex -= h;
      h = 0;
    }
    this.head = h;
  }

  /** Keeps the first `n` bytes. */
  capLength(n: number): void {
    if (n >= this.total) return;
    let left = n;
    const kept: Uint8Array[] = [];
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (left === 0) break;
      if (c.length <= left) {
        kept.push(c);
        left -= c.length;
      } else {
        kept.push(c.subarray(0, left));
        left = 0;
      }
    }
    this.chunks = kept;
    this.head = 0;
    this.total = n;
    this.hintIndex = 0;
    this.hintStart = 0;
  }

  /** A view of the first chunk (no copy). */
  first(): Uint8Array | undefined {
    return this.head < this.chunks.length ? this.chunks[this.head] : undefined;
  }

  /** A new view over the same chunks (shallow: the bytes are shared). */
  clone(): VectorisedView {
    const v = new VectorisedView();
    v.chunks = this.chunks.slice(this.head);
    v.total = this.total;
    return v;
  }

  /**
   * Copies up to `len` bytes (default: to the end of `dst`) starting at byte `from` into `dst` at
   * `dstOff`; returns bytes copied. A whole chunk is copied without a view of it.
   */
  copyTo(dst: Uint8Array, from = 0, dstOff = 0, len = dst.length - dstOff): number {
    let w = 0;
    const chunks = this.chunks;
    let i = this.head;
    let start = 0;
    if (from >= this.hintStart && this.hintIndex >= i && this.hintIndex < chunks.length) {
      i = this.hintIndex;
      start = this.hintStart;
    }
    let skip = from - start;
    let hinted = false;
    for (; i < chunks.length && w < len; i++) {
      const c = chunks[i]!;
      if (skip >= c.length) {
        skip -= c.length;
        start += c.length;
        continue;
      }
      if (!hinted) {
        hinted = true;
        this.hintIndex = i;
        this.hintStart = start;
      }
      const want = len - w;
      if (skip === 0 && c.length <= want) {
        dst.set(c, dstOff + w);
        w += c.length;
        continue;
      }
      const part = c.subarray(skip, skip + want);
      dst.set(part, dstOff + w);
      w += part.length;
      skip = 0;
    }
    return w;
  }

  /** The bytes in `[from, from + len)`: a view when they lie in one chunk, else one copy. */
  slice(from: number, len: number): Uint8Array {
    let off = from;
    const chunks = this.chunks;
    for (let i = this.head; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (off < c.length) {
        if (off + len <= c.length) return c.subarray(off, off + len);
        break;
      }
      off -= c.length;
    }
    const out = new Uint8Array(Math.max(0, Math.min(len, this.total - from)));
    this.copyTo(out, from);
    return out;
  }

  /** All bytes flat: the only chunk itself if there is one, else one copy. */
  toBytes(): Uint8Array {
    if (this.chunks.length - this.head === 1) return this.chunks[this.head]!;
    const out = new Uint8Array(this.total);
    this.copyTo(out);
    return out;
  }
}

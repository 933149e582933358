/**
 * A free list of fixed-size byte buffers, so the receive and transmit paths
 * reuse memory instead of allocating per packet. Buffers handed out must be
 * given back with `release` once nothing references them.
 */
export class BufferPool {
  private free: Uint8Array[] = [];
  allocated = 0;

  constructor(
    readonly bufferSize: number,
    private readonly maxFree = 1024,
  ) {}

  get(): Uint8Array {
    const b = this.free.pop();
    if (b) return b;
    this.allocated++;
    return new Uint8Array(this.bufferSize);
  }

  release(b: Uint8Array): void {
    if (b.length !== this.bufferSize || b.byteOffset !== 0) return;
    if (this.free.length < this.maxFree) this.free.push(b);
  }

  get freeCount(): number {
    return this.free.length;
  }
}

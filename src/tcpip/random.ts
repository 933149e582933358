/** Randomness is injected so tests are deterministic (STYLE: clock and randomness are injected). */
export interface Random {
  /** A uniformly random unsigned 32-bit integer. */
  u32(): number;
}

/** xorshift128+ seeded with splitmix32: fast, deterministic, not cryptographic. */
export class SeededRandom implements Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed = 1) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }
  /** xoshiro128** */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Cryptographically strong randomness from Web Crypto (for ISNs and port offsets in production). */
export class CryptoRandom implements Random {
  private buf = new Uint32Array(256);
  private i = 256;
  u32(): number {
    if (this.i >= this.buf.length) {
      crypto.getRandomValues(this.buf);
      this.i = 0;
    }
    return this.buf[this.i++]!;
  }
}

/**
 * The seeded byte pattern both sides of a bulk transfer agree on: xorshift32
 * words, so no two 4-byte-aligned chunks repeat within 16 GiB and a lost,
 * duplicated or reordered segment changes the hash.
 */
import { createHash } from "node:crypto";

export function pattern(size: number, seed = 0x9e3779b9): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

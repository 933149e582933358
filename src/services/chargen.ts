/**
 * RFC 864 character generator pattern: lines of 72 printable ASCII characters
 * (codes 32..126), each line starting one character later than the previous,
 * ending in CR LF. The pattern repeats every 95 lines.
 */
export const CHARGEN_LINE = 72;
const PRINTABLE = 95;

/** One full period of the pattern (95 lines × 74 bytes), computed once. */
export function chargenPeriod(): Uint8Array {
  const out = new Uint8Array(PRINTABLE * (CHARGEN_LINE + 2));
  let o = 0;
  for (let line = 0; line < PRINTABLE; line++) {
    for (let i = 0; i < CHARGEN_LINE; i++) out[o++] = 32 + ((line + i) % PRINTABLE);
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/** A chunk of `periods` whole periods, so consecutive writes continue the pattern seamlessly. */
export function chargenChunk(periods: number): Uint8Array {
  const p = chargenPeriod();
  const out = new Uint8Array(p.length * periods);
  for (let i = 0; i < periods; i++) out.set(p, i * p.length);
  return out;
}

/** RFC 864 UDP: a datagram of 0..512 characters in reply to each datagram (we send one 72-char line + CRLF, rotating). */
export function chargenDatagram(seq: number): Uint8Array {
  const p = chargenPeriod();
  const line = seq % PRINTABLE;
  return p.subarray(line * (CHARGEN_LINE + 2), (line + 1) * (CHARGEN_LINE + 2));
}

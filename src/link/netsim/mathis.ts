/**
 * The Mathis bound: the steady-state throughput ceiling of a Reno-style
 * (AIMD 1, 1/2) TCP flow under random loss, from Mathis, Semke, Mahdavi and
 * Ott, "The Macroscopic Behavior of the TCP Congestion Avoidance Algorithm"
 * (ACM CCR 27(3), 1997):
 *
 *   BW ≤ (MSS / RTT) · C / √p,   C = √(3/2) ≈ 1.22
 *
 * for periodic loss with delayed ACKs off. The throughput matrix compares a
 * measured transfer over `NetSim` with this figure: a flow far below it at
 * small p is window- or timer-limited; one far above it at large p does not
 * back off as Reno does (CUBIC's Reno-friendly region should keep it close,
 * RFC 9438 §4.3).
 */

/** The model's constant: √(3/2) ≈ 1.2247 (the paper's "C ≈ 1.22"). */
export const MATHIS_C = Math.sqrt(3 / 2);

/**
 * The Mathis bound in bytes per second for segments of `mssBytes`, a
 * round-trip time of `rttMs` and a loss probability `lossRate` (per segment).
 * No loss means no bound: `Infinity`. Throws `RangeError` for impossible inputs.
 */
export function mathisBytesPerSecond(
  mssBytes: number,
  rttMs: number,
  lossRate: number,
  c = MATHIS_C,
): number {
  if (!(mssBytes > 0) || !(rttMs > 0) || !(lossRate >= 0 && lossRate <= 1) || !(c > 0)) {
    throw new RangeError(
      `Cannot compute the Mathis bound for mss ${mssBytes}, rtt ${rttMs} ms, loss ${lossRate}`,
    );
  }
  if (lossRate === 0) return Number.POSITIVE_INFINITY;
  return ((mssBytes / (rttMs / 1000)) * c) / Math.sqrt(lossRate);
}

/** The Mathis bound in bits per second (see `mathisBytesPerSecond`). */
export function mathisBitsPerSecond(mssBytes: number, rttMs: number, lossRate: number, c = MATHIS_C): number {
  return mathisBytesPerSecond(mssBytes, rttMs, lossRate, c) * 8;
}

/**
 * The loss rate at which the bound equals `bitsPerSecond`: p = (MSS·C / (RTT·BW))²,
 * the largest random loss a Reno flow tolerates at that rate (for choosing matrix points).
 */
export function mathisLossFor(mssBytes: number, rttMs: number, bitsPerSecond: number, c = MATHIS_C): number {
  if (!(mssBytes > 0) || !(rttMs > 0) || !(bitsPerSecond > 0) || !(c > 0)) {
    throw new RangeError(
      `Cannot compute the Mathis loss for mss ${mssBytes}, rtt ${rttMs} ms, ${bitsPerSecond} bit/s`,
    );
  }
  const r = (mssBytes * 8 * c) / ((rttMs / 1000) * bitsPerSecond);
  return Math.min(1, r * r);
}

/** The bandwidth-delay product in bytes: what must be in flight to fill a path of `bitsPerSecond` and `rttMs`. */
export function bdpBytes(bitsPerSecond: number, rttMs: number): number {
  return (bitsPerSecond / 8) * (rttMs / 1000);
}

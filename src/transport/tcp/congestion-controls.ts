/**
 * The congestion controllers an endpoint can use, by the name of the
 * `congestionControl` stack option (like Linux's tcp_congestion_control).
 */
import type { CongestionControlFactory } from "./congestion.ts";
import { Cubic } from "./cubic.ts";
import { NewReno } from "./reno.ts";

export const CONGESTION_CONTROLS: ReadonlyMap<string, CongestionControlFactory> = new Map<
  string,
  CongestionControlFactory
>([
  ["reno", (mss, iw) => new NewReno(mss, iw)],
  ["cubic", (mss, iw) => new Cubic(mss, iw)],
]);

/** The controller named `name`, NewReno when the name is unknown. */
export function newCongestionControl(name: string, mss: number, initialWindowSegments: number) {
  const f = CONGESTION_CONTROLS.get(name) ?? CONGESTION_CONTROLS.get("reno")!;
  return f(mss, initialWindowSegments);
}

/**
 * The one place the checker touches `bun:test`. The checker is test support
 * (docs/HEADER-API.md "Test support"): it is only ever imported by tests, and
 * this module lives under `testing/` so scripts/layer-check.ts treats it as such.
 */
export { expect } from "bun:test";

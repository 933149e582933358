import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateToken } from "./token.ts";

const dir = mkdtempSync(join(tmpdir(), "netstack-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("creates a 0600 token file when missing, then reads the same token back", () => {
  const p = join(dir, "t");
  const a = loadOrCreateToken(p);
  expect(a.created).toBe(true);
  expect(a.token.length).toBeGreaterThanOrEqual(40);
  expect(statSync(p).mode & 0o777).toBe(0o600);
  expect(loadOrCreateToken(p)).toEqual({ token: a.token, created: false });
  expect(readFileSync(p, "utf8").trim()).toBe(a.token);
});

test("tightens a world-readable token file and refuses a too-short token", () => {
  const p = join(dir, "loose");
  writeFileSync(p, "0123456789abcdef0123\n");
  chmodSync(p, 0o644);
  expect(loadOrCreateToken(p).token).toBe("0123456789abcdef0123");
  expect(statSync(p).mode & 0o777).toBe(0o600);
  const short = join(dir, "short");
  writeFileSync(short, "abc");
  expect(() => loadOrCreateToken(short)).toThrow(/fewer than 16/);
});

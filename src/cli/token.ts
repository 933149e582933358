/** The API token: read from `path`, or created there with mode 0600 if missing. */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";

export function loadOrCreateToken(path: string): { token: string; created: boolean } {
  if (existsSync(path)) {
    const token = readFileSync(path, "utf8").trim();
    if (token.length < 16)
      throw new Error(`token file ${path} holds fewer than 16 characters; delete it to have a new one made`);
    // A token readable by others is no secret: tighten it rather than refuse to start.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return { token, created: false };
  }
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  const token = Buffer.from(bytes).toString("base64url");
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  return { token, created: true };
}

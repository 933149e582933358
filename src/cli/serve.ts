/** `netstack serve`: the appliance's main job. */
import { readFileSync } from "node:fs";
import { Store } from "../store/store.ts";
import { Appliance } from "./appliance.ts";
import { FlagError, helpText, parseFlags } from "./flags.ts";
import { createLogger } from "./logger.ts";
import {
  databaseFiles,
  dropPrivileges,
  lookupUser,
  privilegeNotes,
  summarizeThreads,
  threadCreds,
} from "./privileges.ts";
import { SERVE_FLAGS, serveConfig } from "./serve-config.ts";
import { loadOrCreateToken } from "./token.ts";
import { VERSION } from "./version.ts";

export async function serveCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const flags = parseFlags(argv, SERVE_FLAGS, env, (p) => readFileSync(p, "utf8"));
  if (flags.values.get("help")) {
    process.stdout.write(helpText("serve", "[flags]", SERVE_FLAGS));
    return 0;
  }
  if (flags.positionals.length > 0)
    throw new FlagError(flags.positionals[0]!, "unexpected argument (serve takes only flags)");
  const config = serveConfig(flags);
  const log = createLogger(config.logLevel);
  // Resolved before anything opens, so an unknown user is a flag error (exit 2).
  const user = config.user !== undefined ? lookupUser(config.user) : undefined;

  const { token, created } = loadOrCreateToken(config.tokenFile);
  const store = Store.open(config.db);
  const app = new Appliance({ version: VERSION, config, store, log, token });
  try {
    await app.start();
    app.listen();
    // Everything that needs privileges is open: drop the rest (src/cli/privileges.ts says what each thread keeps).
    const dropped = dropPrivileges({
      runtimeNics: !config.noRuntimeNics,
      ...(user ? { user } : {}),
      files: [...databaseFiles(config.db), config.tokenFile],
    });
    const threads = threadCreds();
    log.info("privileges dropped", { ...dropped, threads: summarizeThreads(threads, process.pid) });
    for (const note of privilegeNotes(threads, process.pid, user, !config.noRuntimeNics)) log.warn(note);
  } catch (e) {
    try {
      await app.stop();
    } catch {}
    throw e;
  }
  const api = app.apiUrl();
  const nic = app.primaryNic;
  const addrs = app.listNics()[0]?.addresses ?? [];
  process.stdout.write(`ready api=${api} ${config.device.kind}=${nic} addr=${addrs.join(",")}\n`);
  const stackV4 = config.addrs.find((a) => a.address.is4)?.address.toString();
  // The token is printed once, when it is created (it stays in the 0600 token file).
  if (created) process.stdout.write(`token: ${token} (saved in ${config.tokenFile})\n`);
  if (!config.device.explicit && stackV4) {
    process.stdout.write(
      [
        `try: ping -c 3 ${stackV4}`,
        ...(config.services.some((s) => s.kind === "http") ? [`try: curl http://${stackV4}/`] : []),
        `try: curl ${api}/v1/health`,
        `try: curl -H "Authorization: Bearer $(cat ${config.tokenFile})" ${api}/v1/nics`,
        `try: curl -H "Authorization: Bearer $(cat ${config.tokenFile})" -X POST -d '{"kind":"echo"}' ${api}/v1/services`,
        "",
      ].join("\n"),
    );
  }
  log.info("ready", { api, nic, addresses: addrs, tokenFile: config.tokenFile, tokenCreated: created });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info("stopping", { signal });
      try {
        await app.stop();
        resolve(0);
      } catch (e) {
        log.error("shutdown failed", { error: String(e) });
        resolve(1);
      }
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
  });
}

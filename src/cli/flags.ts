/**
 * Command-line flags, also readable from environment variables
 * (`NETSTACK_<FLAG>`, repeatable flags comma-separated) and a JSON config
 * file (`--config FILE`, keys are flag names). Precedence: flags > env > file.
 * Every error names the flag, so `main` can print one line and exit 2.
 */
export class FlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
  }
}

export interface FlagSpec {
  name: string;
  /** "string" takes a value, "bool" takes none, "list" is repeatable. */
  kind: "string" | "bool" | "list";
  help: string;
  /** Shown in help as the value's placeholder. */
  value?: string;
}

export interface ParsedFlags {
  values: Map<string, string | boolean | string[]>;
  positionals: string[];
}

export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  env: Record<string, string | undefined> = {},
  readConfig?: (path: string) => string,
): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  const fromCli = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = byName.get(name);
    if (!spec) throw new FlagError(`--${name}`, "unknown flag (see --help)");
    if (spec.kind === "bool") {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== "true" && v !== "false")
          throw new FlagError(`--${name}`, "takes no value, or =true / =false");
        values.set(name, v === "true");
      } else values.set(name, true);
      fromCli.add(name);
      continue;
    }
    let v: string;
    if (eq !== -1) v = arg.slice(eq + 1);
    else {
      const nxt = argv[i + 1];
      if (nxt === undefined || nxt.startsWith("--"))
        throw new FlagError(`--${name}`, `needs a value (${spec.value ?? "VALUE"})`);
      v = nxt;
      i++;
    }
    if (spec.kind === "list") {
      const cur = fromCli.has(name) ? (values.get(name) as string[]) : [];
      values.set(name, [...cur, v]);
    } else {
      if (fromCli.has(name)) throw new FlagError(`--${name}`, "given more than once");
      values.set(name, v);
    }
    fromCli.add(name);
  }

  for (const spec of specs) {
    if (fromCli.has(spec.name)) continue;
    const envName = `NETSTACK_${spec.name.toUpperCase().replaceAll("-", "_")}`;
    const ev = env[envName];
    if (ev === undefined || ev === "") continue;
    if (spec.kind === "bool") {
      if (!["1", "0", "true", "false"].includes(ev))
        throw new FlagError(envName, "must be 1, 0, true or false");
      values.set(spec.name, ev === "1" || ev === "true");
    } else if (spec.kind === "list") values.set(spec.name, ev.split(/[,;\s]+/).filter(Boolean));
    else values.set(spec.name, ev);
    fromCli.add(spec.name);
  }

  const configPath = values.get("config");
  if (typeof configPath === "string" && readConfig) {
    let obj: unknown;
    try {
      obj = JSON.parse(readConfig(configPath));
    } catch (e) {
      throw new FlagError("--config", `cannot read ${configPath}: ${e instanceof Error ? e.message : e}`);
    }
    if (!obj || typeof obj !== "object" || Array.isArray(obj))
      throw new FlagError("--config", `${configPath} must hold a JSON object`);
    for (const [k, v] of Object.entries(obj)) {
      const spec = byName.get(k);
      if (!spec || k === "config") throw new FlagError("--config", `unknown key "${k}" in ${configPath}`);
      if (fromCli.has(k)) continue;
      if (spec.kind === "bool") {
        if (typeof v !== "boolean") throw new FlagError("--config", `"${k}" must be true or false`);
        values.set(k, v);
      } else if (spec.kind === "list") {
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
          throw new FlagError("--config", `"${k}" must be a list of strings`);
        values.set(k, v as string[]);
      } else {
        if (typeof v !== "string" && typeof v !== "number")
          throw new FlagError("--config", `"${k}" must be a string`);
        values.set(k, String(v));
      }
    }
  }
  return { values, positionals };
}

export function str(f: ParsedFlags, name: string): string | undefined {
  const v = f.values.get(name);
  return typeof v === "string" ? v : undefined;
}

export function list(f: ParsedFlags, name: string): string[] {
  const v = f.values.get(name);
  return Array.isArray(v) ? v : [];
}

export function bool(f: ParsedFlags, name: string): boolean {
  return f.values.get(name) === true;
}

export function intFlag(f: ParsedFlags, name: string, min: number, max: number): number | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new FlagError(`--${name}`, `must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

export function helpText(command: string, usage: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `--${s.name}${s.kind === "bool" ? "" : ` ${s.value ?? "VALUE"}`}${s.kind === "list" ? " (repeatable)" : ""}`;
    return `  ${left.padEnd(34)} ${s.help}`;
  });
  return `Usage: netstack ${command} ${usage}\n\nFlags (also NETSTACK_<FLAG> environment variables or keys of a --config JSON file):\n${rows.join("\n")}\n`;
}

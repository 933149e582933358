/**
 * Privilege drop for `netstack serve` (issue 7: "the binary drops what it does
 * not need"), run once the devices, the database, the token file and the API
 * listener are open.
 *
 * What is kept: CAP_NET_ADMIN alone, because POST /v1/nics opens new TUN/TAP
 * devices later (open /dev/net/tun + TUNSETIFF, SIOCSIFADDR/MTU/flags on the
 * kernel side); with --no-runtime-nics nothing at all. Everything else leaves
 * the permitted, effective, inheritable, ambient and bounding sets, and
 * no_new_privs is set, so no execve can give anything back.
 *
 * Threads. Capabilities, securebits, the bounding set and no_new_privs belong
 * to each thread; capset/prctl change only the caller. Bun already runs other
 * threads when this runs (JSC's GC and JIT helpers, Bun's pools, mimalloc's
 * purge thread, the fdbased poll Worker), so:
 * - the main thread drops itself with capset/prctl;
 * - every other thread is sent a signal whose handler (compiled at run time,
 *   src/link/rawfile/thread-caps.ts, the way libcap's psx works) makes the same
 *   calls on that thread: effective = permitted = what is kept, the bounding
 *   set trimmed, no_new_privs. A thread that blocks the signal keeps what it
 *   had: in Bun 1.4.4 that is mimalloc's "mi-scavenger" (it blocks nearly every
 *   signal; it only returns memory to the kernel). The log names such threads;
 * - with --user, glibc runs setgroups/setresgid/setresuid on every thread (its
 *   setxid broadcast, which no thread can block), and the kernel clears the
 *   permitted and effective sets of each thread whose uids all leave 0 unless
 *   that thread has KEEPCAPS. Only the main thread sets KEEPCAPS, so every
 *   other thread, mi-scavenger included, ends with no capability and the
 *   user's uid. The signal pass then runs after the switch (the broadcast
 *   needs CAP_SETUID/CAP_SETGID on every thread), so the other threads get
 *   no_new_privs but keep their old bounding set (only consulted at execve,
 *   which no_new_privs already stops from granting anything);
 * - without --user the process stays uid 0: even with no capability, uid 0
 *   owns root's files, and mi-scavenger keeps root's capabilities. --user is
 *   the complete drop.
 * Threads created after the drop copy the creating thread's state.
 */
import { chownSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import {
  type CapSets,
  capAmbientClearAll,
  capBsetDrop,
  capBsetRead,
  capGet,
  capSet,
  setAllGids,
  setAllUids,
  setGroups,
  setKeepCaps,
  setNoNewPrivs,
} from "../link/rawfile/privileges.ts";
import { dropOnThreads } from "../link/rawfile/thread-caps.ts";
import { FlagError } from "./flags.ts";

export const CAP_NET_ADMIN = 12;
export const CAP_SETPCAP = 8;

/** capabilities(7) names by number (Linux 6.x knows 0..40). */
const CAP_NAMES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** The mask with bit `n` set for each capability number given. */
export function capMask(caps: number[]): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}

/** Capability numbers in a mask, ascending. */
export function capsIn(mask: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

/** Readable names of a mask: `["CAP_NET_ADMIN"]`; unknown numbers as `cap_41`. */
export function capNames(mask: bigint): string[] {
  return capsIn(mask).map((n) => CAP_NAMES[n] ?? `cap_${n}`);
}

/** A `CapEff:`-style hex field of /proc/<pid>/status. */
export function parseCapHex(hex: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new Error(`"${hex}" is not a capability mask`);
  return BigInt(`0x${hex}`);
}

export interface ThreadCreds {
  tid: number;
  name: string;
  uid: number[];
  gid: number[];
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
}

/** The credential lines of a /proc/<pid>/task/<tid>/status text. */
export function parseStatus(text: string, tid = 0): ThreadCreds {
  const f = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) f.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const ids = (k: string) => (f.get(k) ?? "").split(/\s+/).filter(Boolean).map(Number);
  const cap = (k: string) => parseCapHex(f.get(k) ?? "0");
  return {
    tid: tid || Number(f.get("Pid") ?? 0),
    name: f.get("Name") ?? "",
    uid: ids("Uid"),
    gid: ids("Gid"),
    capInh: cap("CapInh"),
    capPrm: cap("CapPrm"),
    capEff: cap("CapEff"),
    capBnd: cap("CapBnd"),
    capAmb: cap("CapAmb"),
    noNewPrivs: f.get("NoNewPrivs") === "1",
  };
}

/** What the drop does to the calling thread: bounding-set entries to drop and the final sets. */
export interface DropPlan {
  /** Capability numbers to remove from the bounding set (every one there but the kept). */
  bsetDrop: number[];
  /** The sets after the drop: the kept capabilities that the thread has, effective = permitted, no inheritable. */
  final: CapSets;
}

/**
 * The arithmetic of the drop. `keep` is what the process still needs;
 * `permitted` what the thread has now; `bounding` the capability numbers in
 * its bounding set. A kept capability the thread does not have cannot be
 * gained, so it is left out.
 */
export function planDrop(keep: bigint, permitted: bigint, bounding: number[]): DropPlan {
  const kept = keep & permitted;
  return {
    bsetDrop: bounding.filter((c) => !((keep >> BigInt(c)) & 1n)),
    final: { effective: kept, permitted: kept, inheritable: 0n },
  };
}

export interface UserSpec {
  user: string | number;
  group?: string | number;
}

/** `NAME|UID[:GROUP|GID]`. */
export function parseUserSpec(text: string): UserSpec {
  const m = /^([A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+)(?::([A-Za-z_][A-Za-z0-9_.-]*|[0-9]+))?$/.exec(text);
  if (!m) throw new FlagError("--user", `"${text}" is not NAME|UID[:GROUP|GID]`);
  const num = (s: string) => (/^[0-9]+$/.test(s) ? Number(s) : s);
  const spec: UserSpec = { user: num(m[1]!) };
  if (m[2] !== undefined) spec.group = num(m[2]);
  for (const v of [spec.user, spec.group])
    if (typeof v === "number" && v > 0xfffffffe)
      throw new FlagError("--user", `id ${v} in "${text}" is too large`);
  return spec;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  name: string;
}

function dbLines(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

/**
 * Resolves a user spec against /etc/passwd and /etc/group texts (local
 * files only, not NSS). A numeric uid with no passwd entry is allowed and
 * keeps gid = uid unless a group is given.
 */
export function resolveUser(spec: UserSpec, passwd: string, group: string): ResolvedUser {
  const users = dbLines(passwd);
  const row =
    typeof spec.user === "number"
      ? users.find((r) => Number(r[2]) === spec.user)
      : users.find((r) => r[0] === spec.user);
  if (!row && typeof spec.user === "string")
    throw new FlagError("--user", `no user named ${spec.user} in /etc/passwd`);
  const uid = row ? Number(row[2]) : (spec.user as number);
  let gid = row ? Number(row[3]) : uid;
  if (spec.group !== undefined) {
    if (typeof spec.group === "number") gid = spec.group;
    else {
      const g = dbLines(group).find((r) => r[0] === spec.group);
      if (!g) throw new FlagError("--user", `no group named ${spec.group} in /etc/group`);
      gid = Number(g[2]);
    }
  }
  return { uid, gid, name: row?.[0] ?? String(uid) };
}

/** Resolves `--user` from this machine's /etc/passwd and /etc/group. */
export function lookupUser(text: string): ResolvedUser {
  const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : "");
  return resolveUser(parseUserSpec(text), read("/etc/passwd"), read("/etc/group"));
}

/** The kernel calls the drop uses; replaced in unit tests. */
export interface PrivilegeSys {
  capGet(): CapSets;
  capSet(s: CapSets): void;
  capBsetRead(cap: number): boolean | undefined;
  capBsetDrop(cap: number): void;
  capAmbientClearAll(): void;
  setKeepCaps(on: boolean): void;
  setNoNewPrivs(): void;
  setGroups(gids: number[]): void;
  setAllGids(gid: number): void;
  setAllUids(uid: number): void;
  chown(path: string, uid: number, gid: number): void;
  /** Thread ids of this process other than the calling (main) thread. */
  otherThreads(): number[];
  /** Signals those threads to drop to `keep` themselves (src/link/rawfile/thread-caps.ts). */
  dropOnThreads(tids: number[], keep: bigint, bsetDrop: bigint): void;
  /** Waits (at most `ms`) until each thread shows no_new_privs; returns the names of those that did not. */
  waitThreads(tids: number[], ms: number): string[];
}

function taskStatus(tid: number): string | undefined {
  try {
    return readFileSync(`/proc/self/task/${tid}/status`, "utf8");
  } catch {
    return undefined; // exited
  }
}

export const linuxPrivilegeSys: PrivilegeSys = {
  capGet,
  capSet,
  capBsetRead,
  capBsetDrop,
  capAmbientClearAll,
  setKeepCaps,
  setNoNewPrivs,
  setGroups,
  setAllGids,
  setAllUids,
  chown: (p, u, g) => chownSync(p, u, g),
  otherThreads: () =>
    readdirSync("/proc/self/task")
      .map(Number)
      .filter((t) => t !== process.pid),
  dropOnThreads,
  waitThreads(tids, ms) {
    const end = Date.now() + ms;
    let left = tids;
    for (;;) {
      left = left.filter((t) => {
        const st = taskStatus(t);
        return st !== undefined && !/NoNewPrivs:\s+1/.test(st);
      });
      if (left.length === 0 || Date.now() >= end) break;
      Bun.sleepSync(2);
    }
    return left.map((t) => parseStatus(taskStatus(t) ?? "", t).name || String(t));
  },
};

export interface DropOptions {
  /** Keep CAP_NET_ADMIN (POST /v1/nics opens devices at run time). */
  runtimeNics: boolean;
  /** Switch to this user and group. */
  user?: ResolvedUser;
  /** Files the process has open and keeps writing (database and its WAL side files, token file): chowned to the user first. */
  files?: string[];
}

export interface DropResult {
  /** Capabilities the main thread keeps (effective = permitted). */
  kept: string[];
  /** Bounding-set entries that could not be dropped (no CAP_SETPCAP: not root and not given it). */
  bsetKept: string[];
  /** Other threads signalled to drop the same way, and those that did not (they block the signal). */
  otherThreads: { signalled: number; unanswered: string[]; error?: string };
  uid?: number;
  gid?: number;
  chowned: string[];
}

/**
 * Drops privileges on the calling thread (call it from the main thread) and,
 * with a user, switches every thread to it. Order matters: the bounding set
 * needs CAP_SETPCAP, so it goes first; KEEPCAPS before the uid change keeps
 * the permitted set on this thread, then capset trims it to what is kept.
 * Throws `Errno` when the kernel refuses (for example no CAP_SETUID for --user).
 */
export function dropPrivileges(o: DropOptions, sys: PrivilegeSys = linuxPrivilegeSys): DropResult {
  const keep = o.runtimeNics ? capMask([CAP_NET_ADMIN]) : 0n;
  const before = sys.capGet();
  const bounding: number[] = [];
  for (let c = 0; c < 64; c++) {
    const r = sys.capBsetRead(c);
    if (r === undefined) break;
    if (r) bounding.push(c);
  }
  const plan = planDrop(keep, before.permitted, bounding);
  const canSetpcap = ((before.effective >> BigInt(CAP_SETPCAP)) & 1n) === 1n;
  let bsetLeft = 0n;
  if (canSetpcap) for (const c of plan.bsetDrop) sys.capBsetDrop(c);
  else bsetLeft = capMask(plan.bsetDrop);
  sys.capAmbientClearAll();
  const chowned: string[] = [];
  if (o.user) {
    for (const f of o.files ?? []) {
      sys.chown(f, o.user.uid, o.user.gid);
      chowned.push(f);
    }
    try {
      if (plan.final.permitted !== 0n) sys.setKeepCaps(true);
      sys.setGroups([o.user.gid]);
      sys.setAllGids(o.user.gid);
      sys.setAllUids(o.user.uid);
      if (plan.final.permitted !== 0n) sys.setKeepCaps(false);
    } catch (e) {
      throw new Error(
        `cannot switch to user ${o.user.name} (${o.user.uid}:${o.user.gid}): ${(e as Error).message}; --user needs root or CAP_SETUID and CAP_SETGID`,
      );
    }
  }
  // The other threads drop the same way, in a signal handler each (src/link/rawfile/thread-caps.ts).
  // After --user: not before, since glibc's set*id broadcast needs CAP_SETUID/CAP_SETGID on
  // every thread (a thread that refuses hangs or aborts the process). They then have no
  // capability left; the handler still sets no_new_privs, and their bounding-set drop fails
  // for want of CAP_SETPCAP (it only matters at execve, which no_new_privs already defuses).
  const others: DropResult["otherThreads"] = { signalled: 0, unanswered: [] };
  if (canSetpcap) {
    const tids = sys.otherThreads();
    try {
      if (tids.length > 0)
        sys.dropOnThreads(tids, o.user ? 0n : plan.final.permitted, capMask(plan.bsetDrop));
      others.signalled = tids.length;
      others.unanswered = sys.waitThreads(tids, 250);
    } catch (e) {
      others.error = (e as Error).message;
    }
  }
  sys.capSet(plan.final);
  sys.setNoNewPrivs();
  return {
    kept: capNames(plan.final.effective),
    bsetKept: capNames(bsetLeft),
    otherThreads: others,
    ...(o.user ? { uid: o.user.uid, gid: o.user.gid } : {}),
    chowned,
  };
}

/** The files of an open SQLite database in WAL mode that exist (main file, -wal, -shm). */
export function databaseFiles(db: string): string[] {
  if (db === ":memory:" || db === "" || db.startsWith("file:")) return [];
  return [db, `${db}-wal`, `${db}-shm`].filter((f) => existsSync(f));
}

/** Every thread's credentials from /proc/self/task/<tid>/status (threads that exit meanwhile are skipped). */
export function threadCreds(procDir = "/proc/self/task"): ThreadCreds[] {
  const out: ThreadCreds[] = [];
  for (const tid of readdirSync(procDir)) {
    try {
      out.push(parseStatus(readFileSync(`${procDir}/${tid}/status`, "utf8"), Number(tid)));
    } catch {}
  }
  return out.sort((a, b) => a.tid - b.tid);
}

export interface ThreadGroup {
  threads: number;
  names: string[];
  uid: number;
  capEff: string[];
  capPrm: string[];
  capBnd: string[];
  noNewPrivs: boolean;
}

/** Names of a short mask; `["40 caps"]` for a long one (a log line, not a dump). */
export function capSummary(mask: bigint): string[] {
  const n = capsIn(mask).length;
  return n > 8 ? [`${n} caps`] : capNames(mask);
}

/** Threads grouped by identical credentials, for one log line; the group holding `mainTid` first. */
export function summarizeThreads(threads: ThreadCreds[], mainTid: number): ThreadGroup[] {
  const groups = new Map<string, ThreadGroup & { hasMain: boolean }>();
  for (const t of threads) {
    const key = [t.uid.join(","), t.capEff, t.capPrm, t.capBnd, t.noNewPrivs].join("|");
    let g = groups.get(key);
    if (!g) {
      g = {
        threads: 0,
        names: [],
        uid: t.uid[1] ?? t.uid[0] ?? -1,
        capEff: capSummary(t.capEff),
        capPrm: capSummary(t.capPrm),
        capBnd: capSummary(t.capBnd),
        noNewPrivs: t.noNewPrivs,
        hasMain: false,
      };
      groups.set(key, g);
    }
    g.threads++;
    if (!g.names.includes(t.name)) g.names.push(t.name);
    if (t.tid === mainTid) g.hasMain = true;
  }
  return [...groups.values()]
    .sort((a, b) => Number(b.hasMain) - Number(a.hasMain))
    .map(({ hasMain: _, ...g }) => g);
}

/**
 * Whether `user` can open a device with this owner and mode (permission bits
 * only, no ACLs). CAP_NET_ADMIN does not open files: after --user, POST
 * /v1/nics needs /dev/net/tun to be read-write for that user (most distros
 * make it 0666; some keep it 0600 root).
 */
export function canOpenDevice(user: ResolvedUser, st: { uid: number; gid: number; mode: number }): boolean {
  const bits = st.uid === user.uid ? st.mode >> 6 : st.gid === user.gid ? st.mode >> 3 : st.mode;
  return (bits & 0o6) === 0o6;
}

/** Warnings for the log after the drop: threads that kept capabilities, a /dev/net/tun the user cannot open. */
export function privilegeNotes(
  threads: ThreadCreds[],
  mainTid: number,
  user: ResolvedUser | undefined,
  runtimeNics: boolean,
): string[] {
  const notes: string[] = [];
  const kept = threads.filter((t) => t.tid !== mainTid && t.capEff !== 0n);
  if (kept.length > 0)
    notes.push(
      `${kept.length} of ${threads.length} threads (${[...new Set(kept.map((t) => t.name))].join(", ")}) keep their capabilities: they block the signal that makes a thread drop its own; run with --user to clear them in every thread`,
    );
  const nic = runtimeNics ? runtimeNicNote(user) : undefined;
  if (nic) notes.push(nic);
  return notes;
}

/** A note for the log when runtime NICs are on but the user cannot open /dev/net/tun. */
export function runtimeNicNote(user: ResolvedUser | undefined, path = "/dev/net/tun"): string | undefined {
  if (!user) return undefined;
  try {
    const st = statSync(path);
    if (canOpenDevice(user, st)) return undefined;
    return `${user.name} cannot open ${path} (mode ${(st.mode & 0o777).toString(8)}): POST /v1/nics will fail until it can (chmod 0666 or a group)`;
  } catch {
    return `${path} is missing: POST /v1/nics will fail`;
  }
}

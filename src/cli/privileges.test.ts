import { describe, expect, test } from "bun:test";
import type { CapSets } from "../link/rawfile/privileges.ts";
import { FlagError } from "./flags.ts";
import {
  CAP_NET_ADMIN,
  CAP_SETPCAP,
  canOpenDevice,
  capMask,
  capNames,
  capsIn,
  dropPrivileges,
  type PrivilegeSys,
  parseCapHex,
  parseStatus,
  parseUserSpec,
  planDrop,
  privilegeNotes,
  resolveUser,
  summarizeThreads,
} from "./privileges.ts";

const ALL = parseCapHex("000001ffffffffff"); // caps 0..40

describe("capability arithmetic", () => {
  test("masks, numbers and names", () => {
    expect(capMask([CAP_NET_ADMIN])).toBe(0x1000n);
    expect(capMask([0, 1, 40])).toBe((1n << 40n) | 3n);
    expect(capsIn(0x1000n)).toEqual([12]);
    expect(capNames(0x1000n)).toEqual(["CAP_NET_ADMIN"]);
    expect(capNames(1n << 41n)).toEqual(["cap_41"]);
    expect(capsIn(ALL).length).toBe(41);
  });

  test("hex fields of /proc status", () => {
    expect(parseCapHex("0000000000001000")).toBe(1n << 12n);
    expect(parseCapHex("000001fffeffffff") & (1n << 24n)).toBe(0n);
    expect(() => parseCapHex("xyz")).toThrow();
  });

  test("plan: keep CAP_NET_ADMIN, drop every other bounding entry, no inheritable", () => {
    const bounding = capsIn(ALL);
    const p = planDrop(capMask([CAP_NET_ADMIN]), ALL, bounding);
    expect(p.bsetDrop).toEqual(bounding.filter((c) => c !== CAP_NET_ADMIN));
    expect(p.final).toEqual({ effective: 0x1000n, permitted: 0x1000n, inheritable: 0n });
  });

  test("plan: keep nothing empties every set", () => {
    const p = planDrop(0n, ALL, [0, 12, 21]);
    expect(p.bsetDrop).toEqual([0, 12, 21]);
    expect(p.final).toEqual({ effective: 0n, permitted: 0n, inheritable: 0n });
  });

  test("plan: a kept capability the thread lacks is not gained", () => {
    const p = planDrop(capMask([CAP_NET_ADMIN]), capMask([13]), [12, 13]);
    expect(p.final.permitted).toBe(0n);
    expect(p.bsetDrop).toEqual([13]);
  });
});

describe("/proc status", () => {
  const text = [
    "Name:\tJITWorker",
    "Pid:\t42",
    "Uid:\t65534\t65534\t65534\t65534",
    "Gid:\t65534\t65534\t65534\t65534",
    "NoNewPrivs:\t1",
    "CapInh:\t0000000000000000",
    "CapPrm:\t0000000000001000",
    "CapEff:\t0000000000001000",
    "CapBnd:\t0000000000001000",
    "CapAmb:\t0000000000000000",
  ].join("\n");

  test("parses the credential lines", () => {
    const t = parseStatus(text);
    expect(t).toMatchObject({
      tid: 42,
      name: "JITWorker",
      uid: [65534, 65534, 65534, 65534],
      noNewPrivs: true,
    });
    expect(t.capEff).toBe(0x1000n);
    expect(t.capBnd).toBe(0x1000n);
    expect(t.capAmb).toBe(0n);
  });

  test("threads with the same credentials are one group, the main thread's first", () => {
    const main = { ...parseStatus(text, 1), name: "netstack" };
    const other = (tid: number, name: string) => ({
      ...parseStatus(text, tid),
      name,
      capEff: 0n,
      capPrm: 0n,
      capBnd: ALL,
      noNewPrivs: false,
    });
    const g = summarizeThreads([other(2, "HeapHelper"), main, other(3, "Worker"), other(4, "Worker")], 1);
    expect(g).toEqual([
      {
        threads: 1,
        names: ["netstack"],
        uid: 65534,
        capEff: ["CAP_NET_ADMIN"],
        capPrm: ["CAP_NET_ADMIN"],
        capBnd: ["CAP_NET_ADMIN"],
        noNewPrivs: true,
      },
      {
        threads: 3,
        names: ["HeapHelper", "Worker"],
        uid: 65534,
        capEff: [],
        capPrm: [],
        capBnd: ["41 caps"],
        noNewPrivs: false,
      },
    ]);
  });
});

describe("notes after the drop", () => {
  const t = (tid: number, capEff: bigint) => ({
    tid,
    name: "x",
    uid: [0, 0, 0, 0],
    gid: [0, 0, 0, 0],
    capInh: 0n,
    capPrm: capEff,
    capEff,
    capBnd: ALL,
    capAmb: 0n,
    noNewPrivs: false,
  });

  test("threads other than the main one that kept capabilities are named in a warning", () => {
    const notes = privilegeNotes([t(1, 0x1000n), t(2, ALL), t(3, ALL), t(4, 0n)], 1, undefined, true);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("2 of 4 threads");
    expect(notes[0]).toContain("--user");
  });

  test("no warning when only the main thread holds a capability", () => {
    expect(privilegeNotes([t(1, 0x1000n), t(2, 0n)], 1, undefined, true)).toEqual([]);
  });
});

describe("--user", () => {
  const passwd =
    "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  const group = "root:x:0:\nnogroup:x:65534:\nnetstack:x:990:\n";

  test("NAME, UID, NAME:GROUP, UID:GID", () => {
    expect(parseUserSpec("nobody")).toEqual({ user: "nobody" });
    expect(parseUserSpec("1000:1000")).toEqual({ user: 1000, group: 1000 });
    expect(resolveUser(parseUserSpec("nobody"), passwd, group)).toEqual({
      uid: 65534,
      gid: 65534,
      name: "nobody",
    });
    expect(resolveUser(parseUserSpec("nobody:netstack"), passwd, group)).toMatchObject({ gid: 990 });
    expect(resolveUser(parseUserSpec("4242"), passwd, group)).toEqual({ uid: 4242, gid: 4242, name: "4242" });
    expect(resolveUser(parseUserSpec("65534:7"), passwd, group)).toEqual({
      uid: 65534,
      gid: 7,
      name: "nobody",
    });
  });

  test("bad specs and unknown names are flag errors naming --user", () => {
    for (const bad of ["", "a b", "x:y:z", "-1", "99999999999"]) {
      expect(() => parseUserSpec(bad)).toThrow(FlagError);
    }
    expect(() => resolveUser(parseUserSpec("nosuch"), passwd, group)).toThrow(/--user|no user named nosuch/);
    expect(() => resolveUser(parseUserSpec("nobody:nosuch"), passwd, group)).toThrow(/no group/);
  });

  test("device permission check (owner, group, others)", () => {
    const u = { uid: 65534, gid: 65534, name: "nobody" };
    expect(canOpenDevice(u, { uid: 0, gid: 0, mode: 0o20600 })).toBe(false);
    expect(canOpenDevice(u, { uid: 0, gid: 0, mode: 0o20666 })).toBe(true);
    expect(canOpenDevice(u, { uid: 0, gid: 65534, mode: 0o20660 })).toBe(true);
    expect(canOpenDevice(u, { uid: 65534, gid: 0, mode: 0o20600 })).toBe(true);
  });
});

/** Records the calls the drop makes, with a thread that starts as root. */
function fakeSys(start: CapSets = { effective: ALL, permitted: ALL, inheritable: 0n }) {
  const calls: string[] = [];
  let sets = start;
  const bounding = new Set(capsIn(ALL));
  const sys: PrivilegeSys = {
    capGet: () => sets,
    capSet: (s) => {
      calls.push(`capset ${s.effective.toString(16)}/${s.permitted.toString(16)}/${s.inheritable}`);
      sets = s;
    },
    capBsetRead: (c) => (c > 40 ? undefined : bounding.has(c)),
    capBsetDrop: (c) => {
      bounding.delete(c);
    },
    capAmbientClearAll: () => calls.push("ambient-clear"),
    setKeepCaps: (on) => calls.push(`keepcaps ${on}`),
    setNoNewPrivs: () => calls.push("nnp"),
    setGroups: (g) => calls.push(`setgroups ${g}`),
    setAllGids: (g) => calls.push(`setgid ${g}`),
    setAllUids: (u) => calls.push(`setuid ${u}`),
    chown: (p, u, g) => calls.push(`chown ${p} ${u}:${g}`),
    otherThreads: () => [2, 3],
    dropOnThreads: (tids, keep, drop) =>
      calls.push(`threads ${tids} ${keep.toString(16)} ${capsIn(drop).length}`),
    waitThreads: () => [],
  };
  return { sys, calls, bounding, sets: () => sets };
}

describe("dropPrivileges order", () => {
  test("as root, keeping CAP_NET_ADMIN, no user", () => {
    const f = fakeSys();
    const r = dropPrivileges({ runtimeNics: true }, f.sys);
    expect([...f.bounding]).toEqual([CAP_NET_ADMIN]);
    expect(f.calls).toEqual(["ambient-clear", "threads 2,3 1000 40", "capset 1000/1000/0", "nnp"]);
    expect(r).toEqual({
      kept: ["CAP_NET_ADMIN"],
      bsetKept: [],
      otherThreads: { signalled: 2, unanswered: [] },
      chowned: [],
    });
  });

  test("with a user: chown, KEEPCAPS around the uid change, then capset", () => {
    const f = fakeSys();
    const r = dropPrivileges(
      { runtimeNics: true, user: { uid: 65534, gid: 65534, name: "nobody" }, files: ["/d/db", "/d/tok"] },
      f.sys,
    );
    expect(f.calls).toEqual([
      "ambient-clear",
      "chown /d/db 65534:65534",
      "chown /d/tok 65534:65534",
      "keepcaps true",
      "setgroups 65534",
      "setgid 65534",
      "setuid 65534",
      "keepcaps false",
      "threads 2,3 0 40",
      "capset 1000/1000/0",
      "nnp",
    ]);
    expect(r.uid).toBe(65534);
  });

  test("--no-runtime-nics with a user keeps nothing and needs no KEEPCAPS", () => {
    const f = fakeSys();
    const r = dropPrivileges({ runtimeNics: false, user: { uid: 7, gid: 8, name: "x" } }, f.sys);
    expect(f.bounding.size).toBe(0);
    expect(f.calls).not.toContain("keepcaps true");
    expect(f.sets()).toEqual({ effective: 0n, permitted: 0n, inheritable: 0n });
    expect(r.kept).toEqual([]);
  });

  test("a refused user switch says which user and what it needs", () => {
    const f = fakeSys({ effective: 0n, permitted: 0n, inheritable: 0n });
    f.sys.setGroups = () => {
      throw new Error("setgroups: operation not permitted (EPERM)");
    };
    expect(() =>
      dropPrivileges({ runtimeNics: true, user: { uid: 65534, gid: 65534, name: "nobody" } }, f.sys),
    ).toThrow(/cannot switch to user nobody \(65534:65534\): setgroups: operation not permitted.*CAP_SETUID/);
  });

  test("without CAP_SETPCAP the bounding set stays and is reported", () => {
    const has = capMask([CAP_NET_ADMIN, 13]);
    const f = fakeSys({ effective: has, permitted: has, inheritable: 0n });
    const r = dropPrivileges({ runtimeNics: true }, f.sys);
    expect(f.bounding.size).toBe(41);
    expect(r.bsetKept.length).toBe(40);
    expect(r.bsetKept).not.toContain("CAP_NET_ADMIN");
    expect(f.sets().effective).toBe(capMask([CAP_NET_ADMIN]));
    expect(CAP_SETPCAP).toBe(8);
  });
});

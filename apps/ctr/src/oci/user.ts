/** Users and groups from the container's own /etc/passwd and /etc/group, as containerd's
 *  WithUser, WithUsername, WithUserID, WithUIDGID and WithAdditionalGIDs resolve them (after the
 *  CVE-2023-25173 fix in 1.6.18: the primary gid is always among the additional gids). */
import type { Spec } from "./spec.ts";

/** Reads a file of the container's root filesystem; undefined when it does not exist. */
export interface RootfsFiles {
  read(path: string): Promise<string | undefined>;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export class NoUsersFound extends Error {
  constructor() {
    super("no users found");
  }
}
export class NoGroupsFound extends Error {
  constructor() {
    super("no groups found");
  }
}

// runc's parser: blank lines are skipped, a number that does not parse counts as 0.
const num = (s: string | undefined) => {
  const n = Number.parseInt(s ?? "", 10);
  return Number.isFinite(n) ? n : 0;
};
const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

export const parsePasswd = (text: string): PasswdEntry[] =>
  lines(text).map((l) => {
    const f = l.split(":");
    return { name: f[0] ?? "", uid: num(f[2]), gid: num(f[3]), home: f[5] ?? "" };
  });

export const parseGroup = (text: string): GroupEntry[] =>
  lines(text).map((l) => {
    const f = l.split(":");
    return { name: f[0] ?? "", gid: num(f[2]), members: f[3] ? f[3].split(",") : [] };
  });

async function findUser(
  root: RootfsFiles,
  match: (u: PasswdEntry) => boolean,
): Promise<PasswdEntry | undefined> {
  const text = await root.read("/etc/passwd");
  if (text === undefined) return undefined;
  const u = parsePasswd(text).find(match);
  if (!u) throw new NoUsersFound();
  return u;
}

const isUint = (s: string) => /^[0-9]+$/.test(s);

const user = (s: Spec) => {
  s.process ??= { user: { uid: 0, gid: 0 }, cwd: "" };
  return s.process.user;
};

/** The primary gid first among the additional gids, unless already there. */
export function ensureAdditionalGids(s: Spec): void {
  const u = user(s);
  const gids = u.additionalGids ?? [];
  if (!gids.includes(u.gid)) u.additionalGids = [u.gid, ...gids];
}

/** WithUserID: the uid, and the gid of its passwd entry (0 without one). */
export async function withUserID(s: Spec, root: RootfsFiles, uid: number): Promise<void> {
  const u = user(s);
  u.additionalGids = undefined;
  try {
    const entry = await findUser(root, (e) => e.uid === uid);
    u.uid = uid;
    u.gid = entry ? entry.gid : 0;
  } catch (e) {
    if (!(e instanceof NoUsersFound)) throw e;
    u.uid = uid;
    u.gid = 0;
  }
  ensureAdditionalGids(s);
}

/** WithUsername: uid and gid of the name's passwd entry, which must exist. */
export async function withUsername(s: Spec, root: RootfsFiles, name: string): Promise<void> {
  const u = user(s);
  u.additionalGids = undefined;
  const entry = await findUser(root, (e) => e.name === name);
  if (!entry) throw new NoUsersFound();
  u.uid = entry.uid;
  u.gid = entry.gid;
  ensureAdditionalGids(s);
}

/** WithUser: `uid`, `name`, `uid:gid`, `name:group` (and mixes), resolved in the rootfs. */
export async function withUser(s: Spec, root: RootfsFiles, value: string): Promise<void> {
  const parts = value.split(":");
  if (parts.length === 1) {
    if (isUint(value)) return withUserID(s, root, Number(value));
    return withUsername(s, root, value);
  }
  if (parts.length !== 2) throw new Error(`invalid USER value ${value}`);
  const u = user(s);
  u.additionalGids = undefined;
  const [a, b] = parts as [string, string];
  let uid = isUint(a) ? Number(a) : 0;
  let gid = isUint(b) ? Number(b) : 0;
  if (!isUint(a)) {
    const entry = await findUser(root, (e) => e.name === a);
    if (!entry) throw new Error(`open /etc/passwd: no such file or directory`);
    uid = entry.uid;
  }
  if (!isUint(b)) {
    const text = await root.read("/etc/group");
    if (text === undefined) throw new Error(`open /etc/group: no such file or directory`);
    const g = parseGroup(text).find((e) => e.name === b);
    if (!g) throw new NoGroupsFound();
    gid = g.gid;
  }
  u.uid = uid;
  u.gid = gid;
  ensureAdditionalGids(s);
}

/** WithAdditionalGIDs: the groups that list the user (by name, or by the name of the uid) as a
 *  member, after the primary gid. Missing files change nothing. */
export async function withAdditionalGIDs(s: Spec, root: RootfsFiles, value: string): Promise<void> {
  const u = user(s);
  let name = value;
  if (isUint(value)) {
    let entry: PasswdEntry | undefined;
    try {
      entry = await findUser(root, (e) => e.uid === Number(value));
    } catch (e) {
      if (e instanceof NoUsersFound) entry = undefined;
      else throw e;
    }
    if (!entry) {
      ensureAdditionalGids(s);
      return;
    }
    name = entry.name;
  }
  const text = await root.read("/etc/group");
  if (text !== undefined) {
    const gids = parseGroup(text)
      .filter((g) => g.name !== name && g.members.includes(name))
      .map((g) => g.gid);
    u.additionalGids = [...(u.additionalGids ?? []), ...gids];
  }
  ensureAdditionalGids(s);
}

/** Filesystem changes between a lower and an upper tree: continuity's `fs.Changes` (both trees
 *  walked side by side in path order) and `fs.DiffDirChanges` (only an overlayfs upperdir
 *  walked, its char 0/0 whiteouts and opaque xattrs read back as deletions). Changes arrive in
 *  an order that can be applied as it comes: a removed directory is one change, not one per
 *  file under it.
 *
 *  "Same file" follows continuity: same inode, or equal mode/uid/gid/rdev, equal
 *  `security.capability`, and for non-directories equal size and mtime seconds — when both
 *  mtimes have no nanoseconds (truncated by an archive) the content decides; when their
 *  nanoseconds differ the file changed. */
import { listDir } from "./remove.ts";
import type { Root } from "./resolve.ts";
import {
  close,
  lgetxattrAt,
  lstatat,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  openat,
  readInto,
  readlinkat,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Stat,
} from "./sys.ts";

export const ChangeKind = { Unmodified: 0, Add: 1, Modify: 2, Delete: 3 } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

/** A file met in a walk. `dirfd`/`name` reach it without a path walk; they are valid only
 *  until the change callback returns. Paths are "/"-rooted latin1 byte strings. */
export interface Entry {
  path: string;
  st: Stat;
  dirfd: number;
  name: string;
}

export type ChangeFn = (kind: ChangeKind, path: string, entry: Entry | undefined) => Promise<void>;

export const isDir = (st: Stat) => (st.mode & S_IFMT) === S_IFDIR;
const isLinked = (st: Stat) => !isDir(st) && st.nlink > 1;

/** filepath.Walk order: each directory's names sorted bytewise, parents before children. */
export function* walk(dirfd: number, prefix = ""): Generator<Entry> {
  const rfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
  let names: string[];
  try {
    names = listDir(rfd).sort();
  } finally {
    close(rfd);
  }
  for (const name of names) {
    const st = lstatat(dirfd, name);
    if (st === undefined) continue; // gone since the listing
    const path = `${prefix}/${name}`;
    yield { path, st, dirfd, name };
    if (isDir(st)) {
      const child = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
      try {
        yield* walk(child, path);
      } finally {
        close(child);
      }
    }
  }
}

/** continuity's directoryCompare: bytewise, with "/" sorting before every other byte. */
export function directoryCompare(a: string, b: string): number {
  const l = Math.min(a.length, b.length);
  for (let i = 0; i < l; i++) {
    let c1 = a.charCodeAt(i);
    let c2 = b.charCodeAt(i);
    if (c1 === 0x2f) c1 = 0;
    if (c2 === 0x2f) c2 = 0;
    if (c1 !== c2) return c1 < c2 ? -1 : 1;
  }
  return a.length - b.length;
}

const capability = (e: Entry) => lgetxattrAt(e.dirfd, e.name, "security.capability");

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

const CHUNK = 1 << 16;

function sameContent(a: Entry, b: Entry): boolean {
  const fa = openat(a.dirfd, a.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const fb = openat(b.dirfd, b.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const ba = Buffer.allocUnsafe(CHUNK);
      const bb = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const na = readInto(fa, ba, a.path);
        const nb = readInto(fb, bb, b.path);
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
        if (na === 0) return true;
      }
    } finally {
      close(fb);
    }
  } finally {
    close(fa);
  }
}

/** continuity's sameFile. */
export function sameFile(a: Entry, b: Entry): boolean {
  const s1 = a.st;
  const s2 = b.st;
  if (s1.dev === s2.dev && s1.ino === s2.ino) return true;
  if (
    s1.mode !== s2.mode ||
    s1.uid !== s2.uid ||
    s1.gid !== s2.gid ||
    s1.rdevMajor !== s2.rdevMajor ||
    s1.rdevMinor !== s2.rdevMinor
  ) {
    return false;
  }
  if (!bytesEqual(capability(a), capability(b))) return false;
  if (isDir(s1)) return true;
  if (s1.size !== s2.size || s1.mtimeSec !== s2.mtimeSec) return false;
  if (s1.mtimeNsec === 0 && s2.mtimeNsec === 0) {
    if ((s1.mode & S_IFMT) === S_IFLNK) return readlinkat(a.dirfd, a.name) === readlinkat(b.dirfd, b.name);
    if (s1.size > 0 && (s1.mode & S_IFMT) === S_IFREG) return sameContent(a, b);
    return true;
  }
  return s1.mtimeNsec === s2.mtimeNsec;
}

/** continuity's doubleWalkDiff. */
export async function doubleWalkChanges(lowerFd: number, upperFd: number, fn: ChangeFn): Promise<void> {
  const lower = walk(lowerFd);
  const upper = walk(upperFd);
  let f1 = lower.next().value as Entry | undefined;
  let f2 = upper.next().value as Entry | undefined;
  let rmdir = "";
  try {
    while (f1 !== undefined || f2 !== undefined) {
      const cmp = f1 === undefined ? 1 : f2 === undefined ? -1 : directoryCompare(f1.path, f2.path);
      if (cmp > 0) {
        // In upper only.
        rmdir = "";
        await fn(ChangeKind.Add, f2!.path, f2);
        f2 = upper.next().value as Entry | undefined;
      } else if (cmp < 0) {
        // In lower only; what is under a removed directory goes with it.
        const e = f1!;
        f1 = lower.next().value as Entry | undefined;
        if (rmdir !== "" && e.path.startsWith(rmdir)) continue;
        if (isDir(e.st)) rmdir = `${e.path}/`;
        else rmdir = "";
        await fn(ChangeKind.Delete, e.path, undefined);
      } else {
        const same = sameFile(f1!, f2!);
        if (isDir(f1!.st) && !isDir(f2!.st)) rmdir = `${f1!.path}/`;
        else rmdir = "";
        const e = f2!;
        if (!same) await fn(ChangeKind.Modify, e.path, e);
        else if (isLinked(e.st)) await fn(ChangeKind.Unmodified, e.path, e);
        f1 = lower.next().value as Entry | undefined;
        f2 = upper.next().value as Entry | undefined;
      }
    }
  } finally {
    lower.return(undefined);
    upper.return(undefined);
  }
}

/** continuity's sameFsTime: equal, or equal seconds with one side truncated. */
function sameFsTime(a: Stat, b: Stat): boolean {
  return a.mtimeSec === b.mtimeSec && (a.mtimeNsec === b.mtimeNsec || a.mtimeNsec === 0 || b.mtimeNsec === 0);
}

const OPAQUE_XATTRS = ["trusted.overlay.opaque", "user.overlay.opaque"];
// A renamed directory (redirect_dir) or a metadata-only copy-up (metacopy) keeps its data in
// a lower layer: the upperdir alone does not describe the change.
const INDIRECT_XATTRS = [
  "trusted.overlay.redirect",
  "trusted.overlay.metacopy",
  "user.overlay.redirect",
  "user.overlay.metacopy",
];

/** Whether an upperdir can be diffed on its own: none of its entries points into a lower
 *  layer for its content. */
export function upperdirSelfContained(upperFd: number): boolean {
  for (const e of walk(upperFd)) {
    const type = e.st.mode & S_IFMT;
    if (type !== S_IFDIR && type !== S_IFREG) continue;
    for (const k of INDIRECT_XATTRS) if (lgetxattrAt(e.dirfd, e.name, k) !== undefined) return false;
  }
  return true;
}

/** continuity's DiffDirChanges for an overlayfs upperdir over `lower` (the mounted lower
 *  layers). A whiteout of something the lower never had is dropped. */
export async function overlayChanges(
  lower: Root,
  upperFd: number,
  upperRoot: Root,
  fn: ChangeFn,
): Promise<void> {
  const changedDirs = new Set<string>();
  for (const e of walk(upperFd)) {
    const type = e.st.mode & S_IFMT;
    let deleted = false;
    if (type === S_IFCHR && e.st.rdevMajor === 0 && e.st.rdevMinor === 0) {
      deleted = true;
    } else if (type === S_IFDIR) {
      for (const k of OPAQUE_XATTRS) {
        const v = lgetxattrAt(e.dirfd, e.name, k);
        if (v !== undefined && v.length === 1 && v[0] === 0x79) {
          await fn(ChangeKind.Delete, `${e.path}/.wh..opq`, undefined);
          break;
        }
      }
    }
    const base = lstatPath(lower, e.path);
    if (deleted && base === undefined) continue;
    let kind: ChangeKind;
    if (deleted) {
      kind = ChangeKind.Delete;
    } else if (base !== undefined) {
      if (
        isDir(base) &&
        isDir(e.st) &&
        e.st.size === base.size &&
        e.st.mode === base.mode &&
        sameFsTime(e.st, base)
      ) {
        continue; // an untouched parent of something changed
      }
      kind = ChangeKind.Modify;
    } else {
      kind = ChangeKind.Add;
    }
    if (isDir(e.st)) changedDirs.add(e.path);
    if (kind === ChangeKind.Add || kind === ChangeKind.Delete) {
      const parent = e.path.slice(0, e.path.lastIndexOf("/"));
      if (parent !== "" && !changedDirs.has(parent)) {
        await withEntry(upperRoot, parent, (pe) => fn(ChangeKind.Modify, parent, pe));
        changedDirs.add(parent);
      }
    }
    await fn(kind, e.path, kind === ChangeKind.Delete ? undefined : e);
  }
}

/** lstat of a "/"-rooted path inside a root (parents resolved inside it); undefined if absent. */
export function lstatPath(root: Root, path: string): Stat | undefined {
  const i = path.lastIndexOf("/");
  const parent = path.slice(1, Math.max(i, 0));
  const fd = root.open(parent, O_PATH | O_DIRECTORY);
  if (fd < 0) return undefined;
  try {
    return lstatat(fd, path.slice(i + 1));
  } finally {
    close(fd);
  }
}

/** Runs `fn` with the Entry of a "/"-rooted path inside a root (its parent dir held open). */
export async function withEntry<T>(root: Root, path: string, fn: (e: Entry) => Promise<T>): Promise<T> {
  const i = path.lastIndexOf("/");
  const parent = path.slice(1, Math.max(i, 0));
  const name = path.slice(i + 1);
  const fd = root.open(parent, O_PATH | O_DIRECTORY);
  if (fd < 0) throw new Error(`${path}: parent not found in ${root.path}`);
  try {
    const st = lstatat(fd, name);
    if (st === undefined) throw new Error(`${path}: not found in ${root.path}`);
    return await fn({ path, st, dirfd: fd, name });
  } finally {
    close(fd);
  }
}

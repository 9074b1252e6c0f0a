/** Filesystem changes applied through a mounted snapshot, and a tree comparison (continuity's
 *  fs/fstest, the small part of it the suite needs). */
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A change to a tree rooted at `root`. */
export type Applier = (root: string) => void;

export const apply =
  (...appliers: Applier[]): Applier =>
  (root) => {
    for (const a of appliers) a(root);
  };

export const createFile =
  (path: string, content: string, mode = 0o644): Applier =>
  (root) => {
    writeFileSync(join(root, path), content);
    chmodSync(join(root, path), mode);
  };

export const createDir =
  (path: string, mode = 0o755): Applier =>
  (root) => {
    mkdirSync(join(root, path), { mode });
    chmodSync(join(root, path), mode);
  };

export const removeAll =
  (path: string): Applier =>
  (root) =>
    rmSync(join(root, path), { recursive: true, force: true });

export const link =
  (oldPath: string, newPath: string): Applier =>
  (root) =>
    linkSync(join(root, oldPath), join(root, newPath));

export const symlink =
  (target: string, path: string): Applier =>
  (root) =>
    symlinkSync(target, join(root, path));

export const rename =
  (oldPath: string, newPath: string): Applier =>
  (root) =>
    renameSync(join(root, oldPath), join(root, newPath));

export const chown =
  (path: string, uid: number, gid: number): Applier =>
  (root) =>
    chownSync(join(root, path), uid, gid);

/** One entry of a tree, as compared: type, mode, owner, and content or link target. */
export interface Entry {
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  content?: string;
}

/** Every entry below `root` (the root itself excluded), sorted by path. */
export function tree(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = lstatSync(full);
      const e: Entry = { path, type: "other", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) e.type = "dir";
      else if (st.isFile()) {
        e.type = "file";
        e.content = readFileSync(full, "utf8");
      } else if (st.isSymbolicLink()) {
        e.type = "symlink";
        e.content = readlinkSync(full);
        e.mode = 0;
      }
      out.push(e);
      if (e.type === "dir") walk(path);
    }
  };
  walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The tree `applier` makes in an empty directory. */
export function expectedTree(applier: Applier): Entry[] {
  const dir = mkdtempSync(join(tmpdir(), "snapshot-suite-expected-"));
  try {
    applier(dir);
    return tree(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

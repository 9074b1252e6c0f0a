/** Reading the container's files before it exists, as containerd's mount.WithReadonlyTempMount:
 *  the snapshot's mounts go read-only on a temp dir (an overlay's upperdir becomes its top
 *  lowerdir, so nothing can be written), files are read, and the mount is undone. */
import { existsSync, mkdtempSync, readFileSync, readlinkSync, lstatSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { mountAll, unmountAll } from "@bunkerd/snapshotters/mount";
import type { RootfsFiles } from "./user.ts";

export interface SnapshotMount {
  type: string;
  source: string;
  options: string[];
}

/** The read-only form of a snapshot mount. */
export function readonlyMount(m: SnapshotMount): SnapshotMount {
  if (m.type === "overlay") {
    let upper = "";
    const lowers: string[] = [];
    const rest: string[] = [];
    for (const o of m.options) {
      if (o.startsWith("upperdir=")) upper = o.slice("upperdir=".length);
      else if (o.startsWith("lowerdir=")) lowers.push(...o.slice("lowerdir=".length).split(":"));
      else if (!o.startsWith("workdir=") && o !== "volatile") rest.push(o);
    }
    const all = upper ? [upper, ...lowers] : lowers;
    // A single directory cannot be an overlay: bind it read-only instead.
    if (all.length === 1) return { type: "bind", source: all[0]!, options: ["rbind", "ro"] };
    return { type: "overlay", source: m.source, options: [...rest, `lowerdir=${all.join(":")}`] };
  }
  return { ...m, options: [...m.options.filter((o) => o !== "rw"), "ro"] };
}

/** A path inside `root` with symlinks resolved as if `root` were `/` (containerd's fs.RootPath). */
export function rootPath(root: string, path: string): string {
  const parts = posix.normalize(`/${path}`).split("/").filter(Boolean);
  let cur = "/";
  for (let i = 0, hops = 0; i < parts.length; i++) {
    const next = posix.join(cur, parts[i]!);
    const full = join(root, next);
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(full);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++hops > 255) throw new Error(`too many links in ${path}`);
      const link = readlinkSync(full);
      const target = link.startsWith("/") ? link : posix.join(cur, link);
      parts.splice(0, i + 1, ...posix.normalize(target).split("/").filter(Boolean));
      cur = "/";
      i = -1;
      continue;
    }
    cur = next;
  }
  return join(root, cur);
}

/** Files of a directory tree (a mounted rootfs or an unpacked one). */
export function directoryFiles(root: string): RootfsFiles {
  return {
    async read(path) {
      const p = rootPath(root, path);
      if (!existsSync(p)) return undefined;
      return readFileSync(p, "utf8");
    },
  };
}

/** Runs `fn` with the snapshot mounted read-only on a temp dir, always unmounting after. */
export async function withReadonlyMount<T>(
  mounts: SnapshotMount[],
  fn: (files: RootfsFiles) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "bctr-mount-"));
  try {
    await mountAll(mounts.map(readonlyMount), dir);
    try {
      return await fn(directoryFiles(dir));
    } finally {
      await unmountAll(dir);
    }
  } finally {
    rmdirSync(dir);
  }
}

/** A RootfsFiles that mounts the snapshot only when a file is first read (most specs need
 *  none), and `close()` to undo it. */
export function lazyRootfs(
  getMounts: () => Promise<SnapshotMount[]>,
): RootfsFiles & { close(): Promise<void> } {
  let dir: string | undefined;
  let mounted: Promise<RootfsFiles> | undefined;
  return {
    read(path) {
      mounted ??= (async () => {
        const mounts = await getMounts();
        dir = mkdtempSync(join(tmpdir(), "bctr-mount-"));
        try {
          await mountAll(mounts.map(readonlyMount), dir);
        } catch (e) {
          rmdirSync(dir);
          dir = undefined;
          throw e;
        }
        return directoryFiles(dir);
      })();
      return mounted.then((f) => f.read(path));
    },
    async close() {
      if (!dir) return;
      await unmountAll(dir);
      rmdirSync(dir);
      dir = undefined;
    },
  };
}

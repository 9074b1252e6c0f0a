/** Removal inside a root by directory fd: Go's os.RemoveAll, without ever following a
 *  symlink (a symlink is unlinked, not entered) and without any path leaving the fd it
 *  started from. */
import { readdirSync } from "node:fs";
import {
  AT_REMOVEDIR,
  close,
  EISDIR,
  ENOENT,
  EPERM,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_RDONLY,
  openat,
  SysError,
  unlinkat,
} from "./sys.ts";

/** The names in an open directory, as latin1 byte strings. */
export function listDir(dirfd: number): string[] {
  // /proc/self/fd/N lands on that exact directory inode.
  const names = readdirSync(Buffer.from(`/proc/self/fd/${dirfd}`), {
    encoding: "buffer",
  }) as unknown as Buffer[];
  return names.map((n) => n.toString("latin1", 0, n.length));
}

/** Removes `name` under `dirfd` and everything below it; a missing name is fine. */
export function removeAllAt(dirfd: number, name: string): void {
  let r = unlinkat(dirfd, name, 0);
  if (r === 0 || r === -ENOENT) return;
  // unlink(2) on a directory: EISDIR on Linux (EPERM by POSIX).
  if (r !== -EISDIR && r !== -EPERM) throw new SysError(-r, "unlink", name);
  let fd: number;
  try {
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    // EPERM on something that is no directory (an immutable file): report the unlink.
    if (r === -EPERM) throw new SysError(EPERM, "unlink", name);
    throw e;
  }
  try {
    for (const child of listDir(fd)) removeAllAt(fd, child);
  } finally {
    close(fd);
  }
  r = unlinkat(dirfd, name, AT_REMOVEDIR);
  if (r !== 0 && r !== -ENOENT) throw new SysError(-r, "rmdir", name);
}

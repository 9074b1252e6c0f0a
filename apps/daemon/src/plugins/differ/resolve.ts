/** Archive names resolved inside a root, never outside it — containerd's `fs.RootPath`
 *  semantics (the root acts as `/`: `..` stops there, absolute symlinks start there), enforced
 *  by the kernel with openat2(RESOLVE_IN_ROOT) where it exists, else by a walk that opens one
 *  component at a time with O_NOFOLLOW and expands symlinks itself.
 *
 *  Names are cleaned lexically first (containerd runs `filepath.Clean` on every header name):
 *  `../../etc/passwd` and `/etc/passwd` both land on `<root>/etc/passwd`. Parent directories
 *  come back as O_PATH fds, cached by name, so an entry costs no path walk when its directory
 *  was seen before; any removal drops the cache, since it may change what a name resolves to. */
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import {
  close,
  EAGAIN,
  ENAMETOOLONG,
  EEXIST,
  ELOOP,
  ENOENT,
  ENOSYS,
  ENOTDIR,
  fstat,
  ltypeat,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  openat2Supported,
  openHostDir,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  readlinkat,
  S_IFDIR,
  S_IFLNK,
  SysError,
  tryMkdirat,
  tryOpenat,
  tryOpenat2,
  lchmodat,
} from "./sys.ts";

/** A directory inside the root: an O_PATH fd and its identity (dev:ino). */
export interface Dir {
  fd: number;
  id: string;
}

/** Splits a header name into [parent, base] after a lexical clean with `..` clamped at the
 *  root; undefined when the name resolves to the root itself. The parent is "" for the root. */
export function splitName(name: string): [parent: string, base: string] | undefined {
  // Fast path, one scan: no leading "/", no empty, "." or ".." component (a "./" prefix and
  // trailing slashes are allowed, as GNU tar writes them).
  let start = 0;
  while (name.charCodeAt(start) === 0x2e && name.charCodeAt(start + 1) === 0x2f) start += 2;
  let end = name.length;
  while (end > start && name.charCodeAt(end - 1) === 0x2f) end--;
  let clean = end > start && name.charCodeAt(start) !== 0x2f;
  let lastSlash = -1;
  for (let i = start, compStart = start; clean && i <= end; i++) {
    if (i === end || name.charCodeAt(i) === 0x2f) {
      const len = i - compStart;
      if (
        len === 0 ||
        (len <= 2 &&
          name.charCodeAt(compStart) === 0x2e &&
          (len === 1 || name.charCodeAt(compStart + 1) === 0x2e))
      ) {
        clean = false;
      }
      if (i < end) lastSlash = i;
      compStart = i + 1;
    }
  }
  if (clean) {
    return lastSlash < 0
      ? ["", name.slice(start, end)]
      : [name.slice(start, lastSlash), name.slice(lastSlash + 1, end)];
  }
  const out: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  if (out.length === 0) return undefined;
  const base = out.pop()!;
  return [out.join("/"), base];
}

const MAX_LINKS = 255;
/** PATH_MAX: openat2 refuses longer names, and so does the walk (which by itself would not:
 *  every step is relative), so both resolvers accept the same layers. */
const PATH_MAX = 4096;
const DIR_CACHE = 512;

/** Called when a directory is created on the way to a parent: `rel` is its resolved path
 *  inside the root, `fd` an O_PATH fd on it. The overlay applier copies lower-layer
 *  attributes here (containerd's mkparent with parents). */
export type OnMkdir = (rel: string, dirfd: number, name: string) => void;

export class Root {
  readonly fd: number;
  readonly rootDir: Dir;
  private readonly cache = new Map<string, Dir>();
  private useOpenat2: boolean;

  constructor(
    readonly path: string,
    private readonly onMkdir?: OnMkdir,
  ) {
    this.fd = openHostDir(path);
    const st = fstat(this.fd);
    this.rootDir = { fd: this.fd, id: `${st.dev}:${st.ino}` };
    this.useOpenat2 = openat2Supported();
  }

  /** The directory `rel` (a cleaned parent from splitName), created with mode 0755 (and the
   *  onMkdir hook) where missing, as containerd's mkparent does — or, with `create` false, a
   *  missing one fails with ENOENT. Symlinks on the way resolve inside the root. A
   *  non-directory on the way fails with ENOTDIR. */
  dir(rel: string, create = true): Dir {
    if (rel === "") return this.rootDir;
    if (rel.length >= PATH_MAX) throw new SysError(ENAMETOOLONG, "resolve", rel.slice(0, 64));
    const hit = this.cache.get(rel);
    if (hit !== undefined) {
      // Keep recently used entries at the end: eviction takes the oldest.
      this.cache.delete(rel);
      this.cache.set(rel, hit);
      return hit;
    }
    let fd = -ENOSYS;
    if (this.useOpenat2) {
      fd = tryOpenat2(this.fd, rel, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd === -ENOSYS) this.useOpenat2 = false;
    }
    if (fd < 0) {
      if (fd !== -ENOENT && fd !== -ENOSYS && fd !== -EAGAIN) throw this.error(-fd, rel);
      fd = this.walk(rel, create);
    }
    const st = fstat(fd);
    const d = { fd, id: `${st.dev}:${st.ino}` };
    if (this.cache.size >= DIR_CACHE) {
      const oldest = this.cache.keys().next().value!;
      close(this.cache.get(oldest)!.fd);
      this.cache.delete(oldest);
    }
    this.cache.set(rel, d);
    return d;
  }

  /** Opens `rel` (a cleaned path, final symlink followed inside the root) with `flags`;
   *  the fd or -errno. Used for directory times at the end of an apply. */
  open(rel: string, flags: number): number {
    if (rel === "") return tryOpenat(this.fd, ".", flags);
    if (rel.length >= PATH_MAX) return -ENAMETOOLONG;
    if (this.useOpenat2) {
      const fd = tryOpenat2(this.fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd !== -ENOSYS && fd !== -EAGAIN) return fd;
    }
    let dfd: number;
    try {
      dfd = this.walk(rel, false);
    } catch (e) {
      if (e instanceof SysError) return -e.errno;
      throw e;
    }
    try {
      return tryOpenat(dfd, ".", flags);
    } finally {
      close(dfd);
    }
  }

  /** Drops every cached directory but `keep`: something was removed, and a cached name may
   *  no longer lead where it did. */
  invalidate(...keep: Dir[]): void {
    for (const [k, d] of this.cache) {
      if (keep.includes(d)) continue;
      close(d.fd);
      this.cache.delete(k);
    }
  }

  close(): void {
    for (const d of this.cache.values()) close(d.fd);
    this.cache.clear();
    close(this.fd);
  }

  private error(errno: number, rel: string): BunkerError | SysError {
    if (errno === ENOTDIR) {
      return new BunkerError(Kind.InvalidArgument, `mkparent ${JSON.stringify(rel)}: not a directory`);
    }
    if (errno === ELOOP)
      return new BunkerError(Kind.InvalidArgument, `${JSON.stringify(rel)}: too many links`);
    return new SysError(errno, "resolve", rel);
  }

  /** One component at a time from the root, never letting the kernel follow a symlink:
   *  each symlink met is read and its target spliced in (absolute targets restart at the
   *  root, `..` stops at the root) — containerd's RootPath. Creates missing directories when
   *  `create`. Returns an O_PATH fd the caller owns. */
  private walk(rel: string, create: boolean): number {
    let comps = rel.split("/");
    let links = 0;
    for (;;) {
      const stack: number[] = [];
      const parts: string[] = [];
      let cur = this.fd;
      let restart: string[] | undefined;
      try {
        for (let i = 0; i < comps.length; i++) {
          const c = comps[i]!;
          if (c === "" || c === ".") continue;
          if (c === "..") {
            if (stack.length > 0) {
              close(stack.pop()!);
              parts.pop();
              cur = stack.length > 0 ? stack[stack.length - 1]! : this.fd;
            }
            continue;
          }
          let fd = tryOpenat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW);
          if (fd === -ENOENT && create) {
            const r = tryMkdirat(cur, c, 0o755);
            if (r < 0 && r !== -EEXIST) throw new SysError(-r, "mkdir", [...parts, c].join("/"));
            if (r === 0) {
              // mkdir is subject to the umask; containerd chmods the new directory after.
              lchmodat(cur, c, 0o755);
              this.onMkdir?.([...parts, c].join("/"), cur, c);
            }
            fd = tryOpenat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW);
          }
          if (fd === -ENOENT) throw new SysError(ENOENT, "resolve", [...parts, c].join("/"));
          if (fd >= 0) {
            stack.push(fd);
            parts.push(c);
            cur = fd;
            continue;
          }
          if (fd !== -ENOTDIR && fd !== -ELOOP) throw this.error(-fd, [...parts, c].join("/"));
          const type = ltypeat(cur, c);
          if (type !== S_IFLNK) throw this.error(ENOTDIR, [...parts, c].join("/"));
          if (++links > MAX_LINKS) throw this.error(ELOOP, rel);
          const target = readlinkat(cur, c);
          const base = target.startsWith("/") ? [] : parts;
          restart = [...base, ...target.split("/"), ...comps.slice(i + 1)];
          break;
        }
        if (restart === undefined) {
          const out = stack.pop() ?? -1;
          if (out < 0) return tryOpenat(this.fd, ".", O_PATH | O_DIRECTORY);
          return out;
        }
      } finally {
        for (const fd of stack) close(fd);
      }
      comps = restart;
    }
  }
}

/** Whether `name` under `dirfd` is a directory (not a symlink to one). */
export function isDirAt(dirfd: number, name: string): boolean {
  return ltypeat(dirfd, name) === S_IFDIR;
}

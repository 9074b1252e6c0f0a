/** The tar sink that writes a layer into a directory: containerd's `archive.applyNaive` and
 *  `createTarFile`. Every name is resolved inside the root (resolve.ts); everything is created
 *  relative to its parent's fd, exclusively and without following a final symlink; metadata
 *  goes through the new file's own fd or an *at call with AT_SYMLINK_NOFOLLOW.
 *
 *  Order per entry, as containerd: create, lchown, xattrs, chmod (after chown, which clears
 *  setuid/setgid and security.capability), times. Directory times are set at the end, once
 *  nothing more is created inside them. */
import { BunkerError, invalidArgument, Kind } from "@bunkerd/plugin-api";
import { removeAllAt, listDir } from "./remove.ts";
import { type Dir, Root, splitName } from "./resolve.ts";
import {
  close,
  EEXIST,
  ENOENT,
  ENOTDIR,
  ENOTSUP,
  fchmod,
  fchown,
  fsetxattr,
  fstat,
  futimens,
  fxattrs,
  lchmodat,
  lchownat,
  linkat,
  lsetxattrAt,
  ltypeat,
  lutimensat,
  mknodat,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_WRONLY,
  openat,
  printable,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  SysError,
  symlinkat,
  tryMkdirat,
  tryOpenat,
  writeAll,
  XATTR_CREATE,
} from "./sys.ts";
import { type TarHeader, type TarSink, TypeFlag, xattrsOf } from "./tar.ts";

export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_OPAQUE = ".wh..wh..opq";
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";

/** "native": a whiteout deletes from the tree below, an opaque marker empties its directory.
 *  "overlay": the tree is an overlayfs upperdir; whiteouts become char 0/0 devices and opaque
 *  markers the `trusted.overlay.opaque=y` xattr (containerd's OverlayConvertWhiteout). */
export type WhiteoutMode = "native" | "overlay";

export interface ApplierOptions {
  whiteouts?: WhiteoutMode;
  /** Overlay lower dirs, top first: a parent directory missing from the upperdir is created
   *  with the owner, mode, times and xattrs of the first lower that has it. */
  parents?: string[];
  /** Skip device nodes (containerd does in a user namespace, where mknod fails). */
  skipDevices?: boolean;
  warn?: (msg: string) => void;
}

// Go's maxTime for a 64-bit timespec: time.Unix(0, 1<<63-1).
const MAX_SEC = 9223372036;
const MAX_NSEC = 854775807;

/** containerd's boundTime: outside [epoch, maxTime] becomes the epoch. */
function bound(sec: number, nsec: number): [number, number] {
  if (sec < 0 || sec > MAX_SEC || (sec === MAX_SEC && nsec > MAX_NSEC)) return [0, 0];
  return [sec, nsec];
}

/** [atime sec, nsec, mtime sec, nsec]: atime is the later of atime and mtime, as containerd. */
function timesOf(h: TarHeader): [number, number, number, number] {
  let as = h.mtime;
  let an = h.mtimeNsec;
  if (h.atime !== undefined && (h.atime > h.mtime || (h.atime === h.mtime && h.atimeNsec > h.mtimeNsec))) {
    as = h.atime;
    an = h.atimeNsec;
  }
  const [a1, a2] = bound(as, an);
  const [m1, m2] = bound(h.mtime, h.mtimeNsec);
  return [a1, a2, m1, m2];
}

/** Linux/glibc makedev. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

interface DirTimes {
  rel: string;
  t: [number, number, number, number];
}

export class Applier implements TarSink {
  private readonly root: Root;
  private readonly overlay: boolean;
  private readonly skipDevices: boolean;
  private readonly warn: (msg: string) => void;
  private readonly parents: string[];
  private parentRoots: Root[] | undefined;
  /** Entries written by this layer, as "<parent dev:ino>/<name>": what an opaque marker spares. */
  private readonly unpacked = new Set<string>();
  private readonly dirs: DirTimes[] = [];
  private fd = -1;
  private cur: TarHeader | undefined;
  private curKey = "";
  /** Entries seen, for stats. */
  entries = 0;

  constructor(rootPath: string, opts: ApplierOptions = {}) {
    this.overlay = opts.whiteouts === "overlay";
    this.skipDevices = opts.skipDevices ?? false;
    this.warn = opts.warn ?? (() => {});
    this.parents = opts.parents ?? [];
    this.root = new Root(
      rootPath,
      this.parents.length > 0 ? (rel, fd, name) => this.copyUp(rel, fd, name) : undefined,
    );
  }

  entry(h: TarHeader): void {
    this.entries++;
    if (h.typeflag === TypeFlag.XGlobalHeader) return; // containerd ignores PAX global headers
    const split = splitName(h.name);
    if (split === undefined) return; // resolved to the root
    const [prel, base] = split;
    if (this.skipDevices && (h.typeflag === TypeFlag.Char || h.typeflag === TypeFlag.Block)) {
      this.warn(`file ${JSON.stringify(printable(h.name))} ignored: archive may not be supported on system`);
      return;
    }
    const dir = this.root.dir(prel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteout(h, dir, base);
      return;
    }
    const key = `${dir.id}/${base}`;
    switch (h.typeflag) {
      case TypeFlag.Reg: {
        let fd = tryOpenat(dir.fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        if (fd === -EEXIST) {
          this.replace(dir, base);
          fd = tryOpenat(dir.fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        }
        if (fd < 0) throw new SysError(-fd, "open", h.name);
        this.fd = fd;
        this.cur = h;
        this.curKey = key;
        return; // metadata once the body is written (entryEnd)
      }
      case TypeFlag.Dir: {
        const type = ltypeat(dir.fd, base);
        if (type !== S_IFDIR) {
          if (type !== 0) this.replace(dir, base);
          const r = tryMkdirat(dir.fd, base, h.mode & 0o777);
          if (r < 0) throw new SysError(-r, "mkdir", h.name);
        }
        const fd = openat(dir.fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          this.fileMeta(fd, h);
        } finally {
          close(fd);
        }
        this.dirs.push({ rel: prel === "" ? base : `${prel}/${base}`, t: timesOf(h) });
        break;
      }
      case TypeFlag.Symlink:
        this.create(dir, base, h, () => symlinkat(h.linkname, dir.fd, base), "symlink");
        this.linkMeta(dir, base, h, false);
        break;
      case TypeFlag.Link: {
        const [tdir, tbase] = this.linkTarget(h);
        this.create(dir, base, h, () => linkat(tdir.fd, tbase, dir.fd, base), "link", tdir);
        this.linkMeta(dir, base, h, true);
        break;
      }
      case TypeFlag.Char:
      case TypeFlag.Block:
      case TypeFlag.Fifo: {
        const type =
          h.typeflag === TypeFlag.Char ? S_IFCHR : h.typeflag === TypeFlag.Block ? S_IFBLK : S_IFIFO;
        const dev = h.typeflag === TypeFlag.Fifo ? 0n : makedev(h.devmajor, h.devminor);
        this.create(dir, base, h, () => mknodat(dir.fd, base, type | (h.mode & 0o7777), dev), "mknod");
        this.linkMeta(dir, base, h, true);
        break;
      }
      default:
        throw invalidArgument(
          `unhandled tar header type ${h.typeflag} for ${JSON.stringify(printable(h.name))}`,
        );
    }
    this.unpacked.add(key);
  }

  data(chunk: Uint8Array, start: number, end: number): void {
    if (this.fd >= 0) writeAll(this.fd, chunk, start, end, this.cur!.name);
  }

  entryEnd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    const h = this.cur!;
    this.fd = -1;
    this.cur = undefined;
    try {
      this.fileMeta(fd, h);
      const [as, an, ms, mn] = timesOf(h);
      futimens(fd, as, an, ms, mn, h.name);
    } finally {
      close(fd);
    }
    this.unpacked.add(this.curKey);
  }

  /** Directory times, now that nothing more is created inside them. */
  finish(): void {
    for (const d of this.dirs) {
      const fd = this.root.open(d.rel, O_RDONLY | O_DIRECTORY);
      if (fd === -ENOENT || fd === -ENOTDIR) continue; // removed or replaced later in the layer
      if (fd < 0) throw new SysError(-fd, "open", d.rel);
      try {
        futimens(fd, d.t[0], d.t[1], d.t[2], d.t[3], d.rel);
      } finally {
        close(fd);
      }
    }
  }

  close(): void {
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
    this.root.close();
    for (const r of this.parentRoots ?? []) r.close();
  }

  /** Owner, xattrs, then mode, on an open fd (regular files and directories). */
  private fileMeta(fd: number, h: TarHeader): void {
    fchown(fd, h.uid, h.gid, h.name);
    if (h.pax !== undefined) {
      for (const [k, v] of xattrsOf(h)) {
        if (this.refuseXattr(k, h)) continue;
        const r = fsetxattr(fd, k, v);
        if (r === -ENOTSUP) {
          this.warn(`ignored xattr ${k} in archive: not supported`);
          continue;
        }
        if (r < 0) throw new SysError(-r, `setxattr ${k}`, h.name);
      }
    }
    fchmod(fd, h.mode & 0o7777, h.name);
  }

  /** Owner, xattrs, mode (not on symlinks) and times of a name, never following it. */
  private linkMeta(dir: Dir, base: string, h: TarHeader, chmod: boolean): void {
    lchownat(dir.fd, base, h.uid, h.gid);
    if (h.pax !== undefined) {
      for (const [k, v] of xattrsOf(h)) {
        if (this.refuseXattr(k, h)) continue;
        const r = lsetxattrAt(dir.fd, base, k, v);
        if (r === -ENOTSUP) {
          this.warn(`ignored xattr ${k} in archive: not supported`);
          continue;
        }
        if (r < 0) throw new SysError(-r, `lsetxattr ${k}`, h.name);
      }
    }
    if (chmod) lchmodat(dir.fd, base, h.mode & 0o7777);
    const [as, an, ms, mn] = timesOf(h);
    lutimensat(dir.fd, base, as, an, ms, mn);
  }

  /** containerd refuses `trusted.*` from archives (it would let a layer forge overlay
   *  metadata such as opaque markers): warned about and skipped. */
  private refuseXattr(key: string, h: TarHeader): boolean {
    if (!key.startsWith("trusted.")) return false;
    this.warn(
      `ignored xattr ${key} in archive ${JSON.stringify(printable(h.name))}: admin attributes not supported`,
    );
    return true;
  }

  /** Creates with `make` (returns 0 or -errno); an existing name is removed first, as
   *  containerd removes whatever is there unless directory meets directory. */
  private create(
    dir: Dir,
    base: string,
    h: TarHeader,
    make: () => number,
    call: string,
    ...keep: Dir[]
  ): void {
    let r = make();
    if (r === -EEXIST) {
      this.replace(dir, base, ...keep);
      r = make();
    }
    if (r < 0) throw new SysError(-r, call, h.name);
  }

  private replace(dir: Dir, base: string, ...keep: Dir[]): void {
    removeAllAt(dir.fd, base);
    this.root.invalidate(dir, ...keep);
  }

  /** containerd's hardlinkRootPath: the target's parent resolves inside the root, its last
   *  component is taken as is (a link to a symlink links the symlink). */
  private linkTarget(h: TarHeader): [Dir, string] {
    const name = h.linkname.replace(/^\/+/, "");
    const i = name.lastIndexOf("/");
    const base = i < 0 ? name : name.slice(i + 1);
    if (base === "" || base === "." || base === "..") {
      throw invalidArgument(
        `invalid hardlink ${JSON.stringify(printable(h.name))} to ${JSON.stringify(printable(h.linkname))}`,
      );
    }
    const parent = i < 0 ? "" : name.slice(0, i);
    if (parent === "") return [this.root.rootDir, base];
    // A lexical clean would change what ".." means after a symlink; the kernel (or the
    // walk) resolves it physically, as RootPath does, still inside the root.
    const split = parent.includes("..") ? parent : (splitName(`${parent}/x`)?.[0] ?? "");
    return [this.root.dir(split, false), base];
  }

  private whiteout(h: TarHeader, dir: Dir, base: string): void {
    if (base === WHITEOUT_OPAQUE) {
      if (this.overlay) {
        const fd = openat(dir.fd, ".", O_RDONLY | O_DIRECTORY);
        try {
          const r = fsetxattr(fd, OVERLAY_OPAQUE_XATTR, new Uint8Array([0x79]));
          if (r < 0) throw new SysError(-r, "setxattr trusted.overlay.opaque", h.name);
        } catch (e) {
          throw convertFailed(h, e);
        } finally {
          close(fd);
        }
      } else {
        this.emptyExcept(dir.fd, dir.id);
        this.root.invalidate(dir);
      }
      return;
    }
    const orig = base.slice(WHITEOUT_PREFIX.length);
    if (orig === "" || orig === "." || orig === "..") {
      throw invalidArgument(`invalid whiteout name: ${printable(base)}: invalid archive`);
    }
    if (this.overlay) {
      const r = mknodat(dir.fd, orig, S_IFCHR, 0n);
      if (r < 0) throw convertFailed(h, new SysError(-r, "mknod", orig));
      lchownat(dir.fd, orig, h.uid, h.gid);
    } else {
      removeAllAt(dir.fd, orig);
      this.root.invalidate(dir);
    }
  }

  /** Removes everything under a directory that this layer did not write (opaque marker in
   *  native mode), descending into directories the layer did write. */
  private emptyExcept(dirfd: number, id: string): void {
    const fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
    try {
      for (const name of listDir(fd)) {
        if (!this.unpacked.has(`${id}/${name}`)) {
          removeAllAt(fd, name);
        } else if (ltypeat(fd, name) === S_IFDIR) {
          const child = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
          try {
            const st = fstat(child);
            this.emptyExcept(child, `${st.dev}:${st.ino}`);
          } finally {
            close(child);
          }
        }
      }
    } finally {
      close(fd);
    }
  }

  /** containerd's mkparent with parents: a directory created on the way takes owner, mode,
   *  times and (non-trusted) xattrs from the first lower layer that has it. */
  private copyUp(rel: string, parentfd: number, name: string): void {
    this.parentRoots ??= this.parents.map((p) => new Root(p));
    for (const lower of this.parentRoots) {
      const lfd = lower.open(rel, O_PATH);
      if (lfd === -ENOENT || lfd === -ENOTDIR) continue;
      if (lfd < 0) throw new SysError(-lfd, "open", rel);
      try {
        const st = fstat(lfd);
        if ((st.mode & 0o170000) !== S_IFDIR) return; // replaced below: keep the defaults
        const src = openat(lfd, ".", O_RDONLY | O_DIRECTORY);
        const dst = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          fchown(dst, st.uid, st.gid, rel);
          fchmod(dst, st.mode & 0o7777, rel);
          futimens(dst, st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec, rel);
          for (const [k, v] of fxattrs(src)) {
            if (k.startsWith("trusted.")) continue;
            const r = fsetxattr(dst, k, v, XATTR_CREATE);
            if (r < 0 && r !== -ENOTSUP && r !== -EEXIST) throw new SysError(-r, `setxattr ${k}`, rel);
          }
        } finally {
          close(src);
          close(dst);
        }
        return;
      } finally {
        close(lfd);
      }
    }
  }
}

function convertFailed(h: TarHeader, e: unknown): BunkerError {
  const why = e instanceof Error ? e.message : String(e);
  return new BunkerError(
    Kind.Unknown,
    `failed to convert whiteout file ${JSON.stringify(printable(h.name))}: ${why}`,
    {
      cause: e,
    },
  );
}

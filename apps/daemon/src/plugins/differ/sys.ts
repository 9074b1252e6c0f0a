/** The syscalls the applier and differ need and Node does not offer: every path operation is
 *  relative to a directory fd (`*at`), resolution is confined with openat2(RESOLVE_IN_ROOT),
 *  and metadata calls never follow a final symlink (CVE-2021-32760). One libc handle per
 *  thread, through bun:ffi.
 *
 *  Names from archives are byte strings held as latin1 JS strings (one char per byte), so a
 *  non-UTF-8 file name survives the round trip; host paths (roots, mount points) are UTF-8. */
import { dlopen, FFIType, linkSymbols, type Pointer, ptr, read } from "bun:ffi";
import { constants as osConstants } from "node:os";

const { i32, i64, u32, u64, ptr: P } = FFIType;

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;

const GENERIC = process.arch !== "x64" && process.arch !== "ia32";
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = GENERIC ? 0o40000 : 0o200000;
export const O_NOFOLLOW = GENERIC ? 0o100000 : 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const XATTR_CREATE = 1;

// The unified syscall table (x86_64 and every asm-generic arch share these numbers).
const SYS_openat2 = 437;
const SYS_fchmodat2 = 452;

const libc = dlopen("libc.so.6", {
  __errno_location: { args: [], returns: P },
  syscall: { args: [i64, i64, i64, i64, i64, i64], returns: i64 },
  openat: { args: [i32, P, i32, u32], returns: i32 },
  close: { args: [i32], returns: i32 },
  mkdirat: { args: [i32, P, u32], returns: i32 },
  mknodat: { args: [i32, P, u32, u64], returns: i32 },
  symlinkat: { args: [P, i32, P], returns: i32 },
  linkat: { args: [i32, P, i32, P, i32], returns: i32 },
  unlinkat: { args: [i32, P, i32], returns: i32 },
  fchown: { args: [i32, u32, u32], returns: i32 },
  fchownat: { args: [i32, P, u32, u32, i32], returns: i32 },
  fchmod: { args: [i32, u32], returns: i32 },
  fchmodat: { args: [i32, P, u32, i32], returns: i32 },
  futimens: { args: [i32, P], returns: i32 },
  utimensat: { args: [i32, P, P, i32], returns: i32 },
  fsetxattr: { args: [i32, P, P, u64, i32], returns: i32 },
  lsetxattr: { args: [P, P, P, u64, i32], returns: i32 },
  lgetxattr: { args: [P, P, P, u64], returns: i64 },
  llistxattr: { args: [P, P, u64], returns: i64 },
  fgetxattr: { args: [i32, P, P, u64], returns: i64 },
  flistxattr: { args: [i32, P, u64], returns: i64 },
  statx: { args: [i32, P, i32, u32, P], returns: i32 },
  readlinkat: { args: [i32, P, P, u64], returns: i64 },
  write: { args: [i32, P, u64], returns: i64 },
  read: { args: [i32, P, u64], returns: i64 },
  mount: { args: [P, P, P, u64, P], returns: i32 },
  umount2: { args: [P, i32], returns: i32 },
}).symbols;

// openat2 and fchmodat2 have no glibc wrappers: bind syscall(2) again with pointer-typed
// arguments, so typed arrays are passed as such.
const sysPtr = (libc.syscall as unknown as { ptr: Pointer }).ptr;
const raw = linkSymbols({
  openat2: { args: [i64, i64, P, P, i64], returns: i64, ptr: sysPtr },
  fchmodat2: { args: [i64, i64, P, i64, i64], returns: i64, ptr: sysPtr },
}).symbols as unknown as {
  openat2(nr: number, dirfd: number, path: Uint8Array, how: BigUint64Array, size: number): bigint;
  fchmodat2(nr: number, dirfd: number, path: Uint8Array, mode: number, flags: number): bigint;
};

// errno lives at a fixed per-thread address: look it up once.
const errnoPtr = libc.__errno_location()!;
const errno = (): number => read.i32(errnoPtr);

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, n]) => [n as number, name]),
);
export const errnoName = (n: number): string => errnoNames.get(n) ?? `errno ${n}`;
export const ENOENT = osConstants.errno.ENOENT;
export const EEXIST = osConstants.errno.EEXIST;
export const ENOTDIR = osConstants.errno.ENOTDIR;
export const EINVAL = osConstants.errno.EINVAL;
export const EBUSY = osConstants.errno.EBUSY;
export const ELOOP = osConstants.errno.ELOOP;
export const ENOSYS = osConstants.errno.ENOSYS;
export const ENODATA = osConstants.errno.ENODATA;
export const ENOTSUP = osConstants.errno.EOPNOTSUPP;
export const EINTR = osConstants.errno.EINTR;
export const ERANGE = osConstants.errno.ERANGE;
export const EPERM = osConstants.errno.EPERM;
export const EXDEV = osConstants.errno.EXDEV;
export const EAGAIN = osConstants.errno.EAGAIN;
export const ENAMETOOLONG = osConstants.errno.ENAMETOOLONG;
export const EISDIR = osConstants.errno.EISDIR;

/** A failed syscall, shaped like Node's errors (`code`, `syscall`, `path`) so
 *  `toBunkerError` maps ENOENT → not found and keeps the detail. */
export class SysError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly syscall: string,
    readonly path?: string,
  ) {
    const code = errnoName(errno);
    super(`${syscall} ${path === undefined ? "" : `${JSON.stringify(printable(path))}: `}${code}`);
    this.code = code;
    this.name = "SysError";
  }
}

/** A latin1 byte string shown as UTF-8 where it decodes, for messages only. */
export function printable(s: string): string {
  if (!/[\u0080-\u00ff]/.test(s)) return s;
  return Buffer.from(s, "latin1").toString("utf8");
}

const fail = (call: string, path?: string): never => {
  throw new SysError(errno(), call, path);
};

// Scratch buffers for C strings, two for the calls that take two names. Buffers are handed
// to FFI as typed arrays, never as addresses taken earlier: JSC may move a small array's
// storage, and a stale address reads garbage.
const SCRATCH = 16 * 1024;
const s1 = Buffer.alloc(SCRATCH);
const s2 = Buffer.alloc(SCRATCH);

function put(buf: Buffer, s: string, enc: "latin1" | "utf8"): Buffer {
  const n = buf.write(s, 0, enc);
  if (n >= SCRATCH - 1) throw new SysError(osConstants.errno.ENAMETOOLONG, "path", s.slice(0, 64));
  buf[n] = 0;
  return buf;
}
/** An archive name (latin1 byte string) as a C string in scratch 1 or 2. */
const n1 = (s: string): Buffer => put(s1, s, "latin1");
const n2 = (s: string): Buffer => put(s2, s, "latin1");
/** A host path (UTF-8) as a C string. */
const h1 = (s: string): Buffer => put(s1, s, "utf8");

// ── opening and resolving ─────────────────────────────────────────────────────────────

/** Opens a host directory (a root, a lower dir) as an O_PATH fd. */
export function openHostDir(path: string): number {
  const fd = libc.openat(AT_FDCWD, h1(path), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  return fd;
}

export function openat(dirfd: number, name: string, flags: number, mode = 0): number {
  const fd = libc.openat(dirfd, n1(name), flags | O_CLOEXEC, mode);
  if (fd < 0) fail("openat", name);
  return fd;
}

/** openat without throwing: the fd, or -errno. */
export function tryOpenat(dirfd: number, name: string, flags: number, mode = 0): number {
  const fd = libc.openat(dirfd, n1(name), flags | O_CLOEXEC, mode);
  return fd < 0 ? -errno() : fd;
}

const how = new BigUint64Array(3);
let haveOpenat2: boolean | undefined;

/** openat2(2) with `resolve` flags; the fd, or -errno. ENOSYS when the kernel lacks it. */
export function tryOpenat2(dirfd: number, name: string, flags: number, resolve: number): number {
  how[0] = BigInt(flags | O_CLOEXEC);
  how[1] = 0n;
  how[2] = BigInt(resolve);
  const r = Number(raw.openat2(SYS_openat2, dirfd, n1(name), how, 24));
  return r < 0 ? -errno() : r;
}

/** Tests only: behave as on a kernel before 5.6 — no openat2, no fchmodat2 — (true), or
 *  detect again (undefined). */
export function emulateOldKernel(on: boolean | undefined): void {
  haveOpenat2 = on ? false : undefined;
  haveFchmodat2 = !on;
}

/** Whether openat2 with RESOLVE_IN_ROOT works here (Linux ≥ 5.6, not filtered by seccomp). */
export function openat2Supported(): boolean {
  if (haveOpenat2 === undefined) {
    const fd = tryOpenat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT);
    haveOpenat2 = fd >= 0;
    if (fd >= 0) libc.close(fd);
  }
  return haveOpenat2;
}

export function close(fd: number): void {
  if (fd >= 0) libc.close(fd);
}

// ── creating and removing ─────────────────────────────────────────────────────────────

/** mkdirat; 0 or -errno. */
export function tryMkdirat(dirfd: number, name: string, mode: number): number {
  return libc.mkdirat(dirfd, n1(name), mode) < 0 ? -errno() : 0;
}

export function mknodat(dirfd: number, name: string, mode: number, dev: number | bigint): number {
  return libc.mknodat(dirfd, n1(name), mode, dev) < 0 ? -errno() : 0;
}

export function symlinkat(target: string, dirfd: number, name: string): number {
  return libc.symlinkat(n2(target), dirfd, n1(name)) < 0 ? -errno() : 0;
}

/** linkat without AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink itself. */
export function linkat(olddirfd: number, oldname: string, newdirfd: number, newname: string): number {
  return libc.linkat(olddirfd, n2(oldname), newdirfd, n1(newname), 0) < 0 ? -errno() : 0;
}

export function unlinkat(dirfd: number, name: string, flags: number): number {
  return libc.unlinkat(dirfd, n1(name), flags) < 0 ? -errno() : 0;
}

// ── metadata, never through a symlink ─────────────────────────────────────────────────

export function fchown(fd: number, uid: number, gid: number, name?: string): void {
  if (libc.fchown(fd, uid >>> 0, gid >>> 0) < 0) fail("fchown", name);
}

export function lchownat(dirfd: number, name: string, uid: number, gid: number): void {
  if (libc.fchownat(dirfd, n1(name), uid >>> 0, gid >>> 0, AT_SYMLINK_NOFOLLOW) < 0) fail("lchown", name);
}

export function fchmod(fd: number, mode: number, name?: string): void {
  if (libc.fchmod(fd, mode) < 0) fail("fchmod", name);
}

let haveFchmodat2 = true;
/** chmod that never follows a final symlink: fchmodat2(AT_SYMLINK_NOFOLLOW) where the kernel
 *  has it (6.6+); a symlink keeps its mode (Linux symlinks have none). Older kernels: open the
 *  name O_PATH|O_NOFOLLOW, check it is no symlink, and chmod through that exact inode. */
export function lchmodat(dirfd: number, name: string, mode: number): void {
  if (haveFchmodat2) {
    const r = Number(raw.fchmodat2(SYS_fchmodat2, dirfd, n1(name), mode, AT_SYMLINK_NOFOLLOW));
    if (r === 0) return;
    const e = errno();
    if (e === ENOTSUP) return; // a symlink
    if (e !== ENOSYS) throw new SysError(e, "fchmodat2", name);
    haveFchmodat2 = false;
  }
  const fd = libc.openat(dirfd, n1(name), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail("open", name);
  try {
    const st = fstat(fd);
    if ((st.mode & S_IFMT) === S_IFLNK) return;
    // /proc/self/fd/N of an O_PATH fd names that inode, not a path that could be swapped.
    if (libc.fchmodat(AT_FDCWD, h1(`/proc/self/fd/${fd}`), mode, 0) < 0) fail("chmod", name);
  } finally {
    libc.close(fd);
  }
}

// struct timespec[2]: {i64 sec, i64 nsec} × 2, written as 32-bit halves (little-endian hosts).
const ts = new Uint32Array(8);
function putTime(i: number, sec: number, nsec: number): void {
  ts[i] = sec >>> 0;
  ts[i + 1] = Math.floor(sec / 0x100000000) >>> 0;
  ts[i + 2] = nsec >>> 0;
  ts[i + 3] = 0;
}

export function futimens(
  fd: number,
  asec: number,
  ansec: number,
  msec: number,
  mnsec: number,
  name?: string,
) {
  putTime(0, asec, ansec);
  putTime(4, msec, mnsec);
  if (libc.futimens(fd, ts) < 0) fail("futimens", name);
}

export function lutimensat(
  dirfd: number,
  name: string,
  asec: number,
  ansec: number,
  msec: number,
  mnsec: number,
): void {
  putTime(0, asec, ansec);
  putTime(4, msec, mnsec);
  if (libc.utimensat(dirfd, n1(name), ts, AT_SYMLINK_NOFOLLOW) < 0) fail("utimensat", name);
}

const EMPTY = new Uint8Array(16);

/** fsetxattr; 0 or -errno. The value is raw bytes. */
export function fsetxattr(fd: number, key: string, value: Uint8Array, flags = 0): number {
  const v = value.length === 0 ? EMPTY : value;
  return libc.fsetxattr(fd, n2(key), v, value.length, flags) < 0 ? -errno() : 0;
}

/** lsetxattr on `dirfd`/`name` without following `name`: through /proc/self/fd/<dirfd>, which
 *  lands on that exact directory inode. 0 or -errno. */
export function lsetxattrAt(dirfd: number, name: string, key: string, value: Uint8Array, flags = 0): number {
  const path = `/proc/self/fd/${dirfd}/${name}`;
  const v = value.length === 0 ? EMPTY : value;
  return libc.lsetxattr(n1(path), n2(key), v, value.length, flags) < 0 ? -errno() : 0;
}

const xbuf = Buffer.alloc(64 * 1024 + 16);

/** lgetxattr of a host path; undefined when absent (ENODATA) or unsupported. */
export function lgetxattr(path: string, key: string): Uint8Array | undefined {
  const n = Number(libc.lgetxattr(h1(path), n2(key), xbuf, 64 * 1024));
  if (n < 0) {
    const e = errno();
    if (e === ENODATA || e === ENOTSUP) return undefined;
    throw new SysError(e, "lgetxattr", path);
  }
  return new Uint8Array(xbuf.subarray(0, n));
}

/** lgetxattr of `name` under `dirfd` (not following `name`); undefined when absent. */
export function lgetxattrAt(dirfd: number, name: string, key: string): Uint8Array | undefined {
  const n = Number(libc.lgetxattr(n1(`/proc/self/fd/${dirfd}/${name}`), n2(key), xbuf, 64 * 1024));
  if (n < 0) {
    const e = errno();
    if (e === ENODATA || e === ENOTSUP) return undefined;
    throw new SysError(e, "lgetxattr", name);
  }
  return new Uint8Array(xbuf.subarray(0, n));
}

/** llistxattr of a host path: the attribute names (latin1). */
export function llistxattr(path: string): string[] {
  const n = Number(libc.llistxattr(h1(path), xbuf, 64 * 1024));
  if (n < 0) {
    const e = errno();
    if (e === ENOTSUP) return [];
    throw new SysError(e, "llistxattr", path);
  }
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (xbuf[i] === 0) {
      if (i > start) out.push(xbuf.toString("latin1", start, i));
      start = i + 1;
    }
  }
  return out;
}

/** The xattrs of an open fd (any file type but a symlink), as [name, value] pairs. */
export function fxattrs(fd: number): [string, Uint8Array][] {
  const n = Number(libc.flistxattr(fd, xbuf, 64 * 1024));
  if (n < 0) {
    const e = errno();
    if (e === ENOTSUP) return [];
    throw new SysError(e, "flistxattr");
  }
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (xbuf[i] === 0) {
      if (i > start) names.push(xbuf.toString("latin1", start, i));
      start = i + 1;
    }
  }
  const out: [string, Uint8Array][] = [];
  for (const name of names) {
    const m = Number(libc.fgetxattr(fd, n2(name), xbuf, 64 * 1024));
    if (m < 0) {
      const e = errno();
      if (e === ENODATA || e === ENOTSUP) continue;
      throw new SysError(e, "fgetxattr", name);
    }
    out.push([name, new Uint8Array(xbuf.subarray(0, m))]);
  }
  return out;
}

// ── stat ──────────────────────────────────────────────────────────────────────────────

/** The fields of statx(2) the applier and differ use; times split into seconds and ns. */
export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  dev: string;
  size: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  rdevMajor: number;
  rdevMinor: number;
}

const STATX_BASIC = 0x7ff;
const sx = Buffer.alloc(512);
const emptyName = Buffer.alloc(16);

function decodeStatx(): Stat {
  const i64 = (o: number) => sx.readUInt32LE(o) + sx.readInt32LE(o + 4) * 0x100000000;
  return {
    nlink: sx.readUInt32LE(16),
    uid: sx.readUInt32LE(20),
    gid: sx.readUInt32LE(24),
    mode: sx.readUInt16LE(28),
    ino: i64(32),
    size: i64(40),
    atimeSec: i64(64),
    atimeNsec: sx.readUInt32LE(72),
    mtimeSec: i64(112),
    mtimeNsec: sx.readUInt32LE(120),
    rdevMajor: sx.readUInt32LE(128),
    rdevMinor: sx.readUInt32LE(132),
    dev: `${sx.readUInt32LE(136)}:${sx.readUInt32LE(140)}`,
  };
}

/** lstat of `name` under `dirfd` (never follows `name`); undefined if it does not exist. */
export function lstatat(dirfd: number, name: string): Stat | undefined {
  if (libc.statx(dirfd, n1(name), AT_SYMLINK_NOFOLLOW, STATX_BASIC, sx) < 0) {
    const e = errno();
    if (e === ENOENT) return undefined;
    throw new SysError(e, "lstat", name);
  }
  return decodeStatx();
}

/** The file type of `name` under `dirfd` (S_IF* bits), 0 if it does not exist. */
export function ltypeat(dirfd: number, name: string): number {
  if (libc.statx(dirfd, n1(name), AT_SYMLINK_NOFOLLOW, 0x1, sx) < 0) {
    const e = errno();
    if (e === ENOENT) return 0;
    throw new SysError(e, "lstat", name);
  }
  return sx.readUInt16LE(28) & S_IFMT;
}

export function fstat(fd: number): Stat {
  if (libc.statx(fd, emptyName, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC, sx) < 0) fail("fstat");
  return decodeStatx();
}

/** lstat of a host path; undefined if it does not exist. */
export function lstatHost(path: string): Stat | undefined {
  if (libc.statx(AT_FDCWD, h1(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC, sx) < 0) {
    const e = errno();
    if (e === ENOENT) return undefined;
    throw new SysError(e, "lstat", path);
  }
  return decodeStatx();
}

/** stat (following symlinks) of a host path; undefined if it does not exist. */
export function statHost(path: string): Stat | undefined {
  if (libc.statx(AT_FDCWD, h1(path), 0, STATX_BASIC, sx) < 0) {
    const e = errno();
    if (e === ENOENT || e === ENOTDIR) return undefined;
    throw new SysError(e, "stat", path);
  }
  return decodeStatx();
}

const lbuf = Buffer.alloc(8192);

/** readlinkat: the target as a latin1 byte string. */
export function readlinkat(dirfd: number, name: string): string {
  const n = Number(libc.readlinkat(dirfd, n1(name), lbuf, 8192));
  if (n < 0) fail("readlink", name);
  return lbuf.toString("latin1", 0, n);
}

/** readlink of a host path (used for /proc/self/fd/N). */
export function readlinkHost(path: string): string {
  const n = Number(libc.readlinkat(AT_FDCWD, h1(path), lbuf, 8192));
  if (n < 0) fail("readlink", path);
  return lbuf.toString("latin1", 0, n);
}

// ── raw I/O on fds we opened ──────────────────────────────────────────────────────────

/** Writes all of buf[start, end) to fd. */
export function writeAll(fd: number, buf: Uint8Array, start: number, end: number, name?: string): void {
  while (start < end) {
    // An address taken just before the call: the chunk is large and alive, its storage fixed.
    const n = Number(libc.write(fd, ptr(buf, start), end - start));
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw new SysError(e, "write", name);
    }
    start += n;
  }
}

/** Reads up to buf.length bytes; 0 at EOF. */
export function readInto(fd: number, buf: Uint8Array, name?: string): number {
  for (;;) {
    const n = Number(libc.read(fd, buf, buf.length));
    if (n >= 0) return n;
    const e = errno();
    if (e !== EINTR) throw new SysError(e, "read", name);
  }
}

// ── mounts ────────────────────────────────────────────────────────────────────────────

/** mount(2); 0 or -errno. Source, type and data may be empty. */
export function mount(source: string, target: string, fstype: string, flags: number, data: string): number {
  const src = Buffer.from(`${source}\0`, "utf8");
  const typ = Buffer.from(`${fstype}\0`, "utf8");
  const dat = Buffer.from(`${data}\0`, "utf8");
  const r = libc.mount(
    source === "" ? null : src,
    h1(target),
    fstype === "" ? null : typ,
    flags,
    data === "" ? null : dat,
  );
  return r < 0 ? -errno() : 0;
}

export function umount2(target: string, flags: number): number {
  return libc.umount2(h1(target), flags) < 0 ? -errno() : 0;
}

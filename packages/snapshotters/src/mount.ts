/** Mounting what a snapshotter returns, as containerd's mount package does on Linux
 *  (mount/mount_linux.go): fstab-style options split into mount(2) flags and fs data, a bind
 *  made read-only by a remount, propagation changed by a second call, unmount retried while busy.
 *
 *  mount(2) and umount2(2) go through libc with bun:ffi. The one case that needs a working
 *  directory is an overlay whose options exceed a page: containerd then passes `lowerdir=` relative
 *  to the lowerdirs' common directory and mounts from there. A worker cannot chdir (the process
 *  shares one cwd), so that mount runs in a child `mount` (util-linux) started with that cwd. */
import { CString, dlopen, FFIType, ptr, read } from "bun:ffi";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import type { Mount } from "./snapshotter.ts";

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

const MNT_DETACH = 2;
const EBUSY = 16;
const EINVAL = 22;
const PROPAGATION = MS.SHARED | MS.PRIVATE | MS.SLAVE | MS.UNBINDABLE;

// containerd's table: an option here is a flag (set, or cleared when `clear`); anything else is data.
const FLAGS: Record<string, { clear: boolean; flag: number }> = {
  async: { clear: true, flag: MS.SYNCHRONOUS },
  atime: { clear: true, flag: MS.NOATIME },
  bind: { clear: false, flag: MS.BIND },
  defaults: { clear: false, flag: 0 },
  dev: { clear: true, flag: MS.NODEV },
  diratime: { clear: true, flag: MS.NODIRATIME },
  dirsync: { clear: false, flag: MS.DIRSYNC },
  exec: { clear: true, flag: MS.NOEXEC },
  mand: { clear: false, flag: MS.MANDLOCK },
  noatime: { clear: false, flag: MS.NOATIME },
  nodev: { clear: false, flag: MS.NODEV },
  nodiratime: { clear: false, flag: MS.NODIRATIME },
  noexec: { clear: false, flag: MS.NOEXEC },
  nomand: { clear: true, flag: MS.MANDLOCK },
  norelatime: { clear: true, flag: MS.RELATIME },
  nostrictatime: { clear: true, flag: MS.STRICTATIME },
  nosuid: { clear: false, flag: MS.NOSUID },
  rbind: { clear: false, flag: MS.BIND | MS.REC },
  relatime: { clear: false, flag: MS.RELATIME },
  remount: { clear: false, flag: MS.REMOUNT },
  ro: { clear: false, flag: MS.RDONLY },
  rw: { clear: true, flag: MS.RDONLY },
  strictatime: { clear: false, flag: MS.STRICTATIME },
  suid: { clear: true, flag: MS.NOSUID },
  sync: { clear: false, flag: MS.SYNCHRONOUS },
  private: { clear: false, flag: MS.PRIVATE },
  rprivate: { clear: false, flag: MS.PRIVATE | MS.REC },
  shared: { clear: false, flag: MS.SHARED },
  rshared: { clear: false, flag: MS.SHARED | MS.REC },
  slave: { clear: false, flag: MS.SLAVE },
  rslave: { clear: false, flag: MS.SLAVE | MS.REC },
  unbindable: { clear: false, flag: MS.UNBINDABLE },
  runbindable: { clear: false, flag: MS.UNBINDABLE | MS.REC },
};

/** Splits fstab-style options into mount(2) flags and the fs-specific data string. */
export function parseMountOptions(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAGS[o];
    if (f && f.flag !== 0) flags = f.clear ? flags & ~f.flag : flags | f.flag;
    else if (!f) data.push(o);
  }
  return { flags, data: data.join(",") };
}

let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    mount: {
      args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr],
      returns: FFIType.i32,
    },
    umount2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
    strerror: { args: [FFIType.i32], returns: FFIType.ptr },
    getpagesize: { args: [], returns: FFIType.i32 },
  }).symbols;
}
const sys = () => (libc ??= openLibc());

/** The page size: the kernel copies at most one page of mount data. */
export const pageSize = (): number => sys().getpagesize();

const encoder = new TextEncoder();
const cstr = (s: string) => encoder.encode(`${s}\0`);

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  20: "ENOTDIR",
  22: "EINVAL",
  19: "ENODEV",
  36: "ENAMETOOLONG",
};
const ERRNO_KINDS: Record<number, Kind> = {
  1: Kind.PermissionDenied,
  2: Kind.NotFound,
  13: Kind.PermissionDenied,
  20: Kind.InvalidArgument,
  22: Kind.InvalidArgument,
  36: Kind.InvalidArgument,
};

/** An errno from a mount call, with containerd's kinds and the syscall and path kept. */
export class MountError extends BunkerError {
  constructor(
    readonly errno: number,
    subject: string,
    syscall: string,
    path: string,
  ) {
    super(ERRNO_KINDS[errno] ?? Kind.Unknown, subject, { syscall, path });
    this.name = "MountError";
  }
  /** "EBUSY", "EINVAL", … */
  get errnoName(): string {
    return ERRNO_NAMES[this.errno] ?? `errno ${this.errno}`;
  }
}

function errnoNow(): number {
  const p = sys().__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

function strerror(errno: number): string {
  const p = sys().strerror(errno);
  return p === null ? `errno ${errno}` : new CString(p).toString().toLowerCase();
}

/** mount(2); throws a MountError naming the call. */
function mountSyscall(source: string, target: string, fstype: string, flags: number, data: string) {
  const src = cstr(source);
  const tgt = cstr(target);
  const typ = cstr(fstype);
  const dat = data === "" ? null : cstr(data);
  const rc = sys().mount(ptr(src), ptr(tgt), ptr(typ), flags, dat === null ? null : ptr(dat));
  if (rc !== 0) {
    const errno = errnoNow();
    throw new MountError(
      errno,
      `mount ${fstype || "(none)"} ${source || "(none)"} on ${target} (flags 0x${flags.toString(16)}): ${strerror(errno)}`,
      "mount",
      target,
    );
  }
}

function umountSyscall(target: string, flags: number): number {
  const tgt = cstr(target);
  return sys().umount2(ptr(tgt), flags) === 0 ? 0 : errnoNow();
}

/** Mounts `m` on `target`, as containerd's `Mount.Mount`. */
export async function mount(m: Mount, target: string): Promise<void> {
  target = resolve(target);
  let chdir = "";
  let options = m.options;
  // Keep the data within one page (containerd keeps 512 bytes of slack).
  if (m.type === "overlay" && optionsSize(options) >= pageSize() - 512) {
    ({ chdir, options } = compactLowerdirOption(options));
  }
  const { flags, data } = parseMountOptions(options);
  if (data.length > pageSize()) {
    throw new BunkerError(Kind.InvalidArgument, `mount ${m.type} on ${target}: mount options is too long`);
  }
  const oflags = flags & ~PROPAGATION;
  if ((flags & MS.REMOUNT) === 0 || data !== "") {
    if (chdir === "") mountSyscall(m.source, target, m.type, oflags, data);
    else await mountFrom(chdir, m.source, target, m.type, options);
  }
  if ((flags & PROPAGATION) !== 0) {
    mountSyscall("", target, "", flags & (PROPAGATION | MS.REC | MS.SILENT), "");
  }
  // A bind mount ignores MS_RDONLY: remount it to apply read-only.
  if ((oflags & (MS.BIND | MS.RDONLY)) === (MS.BIND | MS.RDONLY)) {
    mountSyscall("", target, "", oflags | MS.REMOUNT, "");
  }
}

/** The kernel calls a caller needs, as one seam: tests of code that mounts can record calls
 *  instead of needing root (STYLE.md §7). */
export interface Mounter {
  mount(m: Mount, target: string): Promise<void>;
  unmount(target: string, opts?: { detach?: boolean }): Promise<void>;
}

/** Mounts each of `mounts` on `target` in order (containerd's `mount.All`). */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  for (const m of mounts) await mount(m, target);
}

/** Unmounts `target`, retrying while it is busy (50 × 50 ms, as containerd). Not a mount point
 *  (EINVAL) is fine. */
export async function unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
  const errno = await unmountOnce(resolve(target), opts.detach ? MNT_DETACH : 0);
  if (errno !== 0 && errno !== EINVAL) throw unmountError(errno, target);
}

/** Unmounts every mount stacked on `target` until it is no mount point; a missing path is fine. */
export async function unmountAll(target: string, opts: { detach?: boolean } = {}): Promise<void> {
  if (target === "" || !existsSync(target)) return;
  target = resolve(target);
  for (;;) {
    const errno = await unmountOnce(target, opts.detach ? MNT_DETACH : 0);
    if (errno === EINVAL) return;
    if (errno !== 0) throw unmountError(errno, target);
  }
}

/** Unmounts every mount at or below `dir`, deepest first. Returns the mount points it unmounted. */
export async function unmountUnder(dir: string, opts: { detach?: boolean } = {}): Promise<string[]> {
  const base = existsSync(dir) ? realpathSync(dir) : resolve(dir);
  const points = mountPointsUnder(base).sort((a, b) => b.length - a.length);
  for (const p of points) await unmountAll(p, opts);
  return points;
}

/** The mount points at or below `dir` (as /proc/self/mountinfo spells them). */
export function mountPointsUnder(dir: string): string[] {
  const base = dir.endsWith("/") ? dir.slice(0, -1) : dir;
  return mountInfo()
    .map((m) => m.mountPoint)
    .filter((p) => p === base || p.startsWith(`${base}/`));
}

export interface MountInfoEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
  superOptions: string;
}

/** The mounts of this process's mount namespace (/proc/self/mountinfo). */
export function mountInfo(): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (line === "") continue;
    const [pre, post] = line.split(" - ");
    const f = pre!.split(" ");
    const g = (post ?? "").split(" ");
    out.push({
      mountPoint: unescapeOctal(f[4] ?? ""),
      options: f[5] ?? "",
      fsType: g[0] ?? "",
      source: unescapeOctal(g[1] ?? ""),
      superOptions: g[2] ?? "",
    });
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescapeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

async function unmountOnce(target: string, flags: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const errno = umountSyscall(target, flags);
    if (errno !== EBUSY) return errno;
    await Bun.sleep(50);
  }
  return EBUSY;
}

function unmountError(errno: number, target: string) {
  return new MountError(errno, `failed to unmount target ${target}: ${strerror(errno)}`, "umount2", target);
}

/** The overlay mount with relative lowerdirs, from `dir`: a child `mount` started there. */
async function mountFrom(dir: string, source: string, target: string, fstype: string, options: string[]) {
  // The flags the first mount(2) gets; propagation is applied afterwards, as for the direct call.
  const opts = options.filter((o) => !(o in FLAGS) || (FLAGS[o]!.flag & PROPAGATION) === 0);
  const proc = Bun.spawn(["mount", "-n", "-i", "-t", fstype, "-o", opts.join(","), source, target], {
    cwd: dir,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) {
    throw new BunkerError(
      Kind.Unknown,
      `failed to mountat ${dir}: mount ${fstype} on ${target}: ${err.trim() || `exit status ${code}`}`,
      { syscall: "mount", path: target },
    );
  }
}

const optionsSize = (opts: readonly string[]) => opts.reduce((n, o) => n + o.length, 0);

/** containerd's compactLowerdirOption: the lowerdirs' common parent directory, and the options
 *  with `lowerdir=` made relative to it and moved last. Unchanged when there is nothing to
 *  compact (one lowerdir, or no common directory below /). */
export function compactLowerdirOption(opts: readonly string[]): { chdir: string; options: string[] } {
  const idx = opts.findIndex((o) => o.startsWith("lowerdir="));
  if (idx === -1) return { chdir: "", options: [...opts] };
  const dirs = opts[idx]!.slice("lowerdir=".length).split(":");
  if (dirs.length === 1) return { chdir: "", options: [...opts] };
  let common = longestCommonPrefix(dirs);
  if (common === "") return { chdir: "", options: [...opts] };
  // The ids are digits: go back to the parent so "snapshots/1" and "snapshots/12" share "snapshots/".
  common = goDir(common);
  if (common === "/") return { chdir: "", options: [...opts] };
  common = `${common}/`;
  const rel = dirs.map((d) => d.slice(common.length));
  const options = [...opts.slice(0, idx), ...opts.slice(idx + 1), `lowerdir=${rel.join(":")}`];
  return { chdir: common, options };
}

/** Go's path.Dir: everything before the last "/", without trailing slashes ("a/b/" → "a/b"). */
function goDir(p: string): string {
  const head = p.slice(0, p.lastIndexOf("/") + 1).replace(/\/+$/, "");
  return head === "" ? (p.startsWith("/") ? "/" : ".") : head;
}

function longestCommonPrefix(strs: readonly string[]): string {
  if (strs.length === 0) return "";
  let min = strs[0]!;
  let max = strs[0]!;
  for (const s of strs) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  let i = 0;
  while (i < min.length && min[i] === max[i]) i++;
  return min.slice(0, i);
}

/** The real thing: mount(2) and umount2(2). */
export const linuxMounter: Mounter = {
  mount: (m, target) => mount(m, target),
  unmount: (target, opts) => unmount(target, opts),
};

/** Mounts as containerd describes them (`{type, source, target?, options}`) and the temporary
 *  mounts the differ works in: containerd's `mount.All`, `UnmountAll`, `WithTempMount` and
 *  `WithReadonlyTempMount`, through mount(2) by bun:ffi. Options are fstab-style: flag words
 *  become mount flags, propagation words a second call, the rest the data string; a bind
 *  mount asked read-only is remounted read-only, as the kernel ignores MS_RDONLY on the
 *  first bind call. */
import { mkdtempSync, rmdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { EBUSY, EINVAL, ENOENT, errnoName, mount as sysMount, umount2 } from "./sys.ts";

export interface Mount {
  type: string;
  source: string;
  /** Where under the mount root this one goes (containerd 1.7+); "" or absent: the root. */
  target?: string;
  options: string[];
}

const MS_RDONLY = 0x1;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const MS_SLAVE = 1 << 19;
const MS_SHARED = 1 << 20;
const MS_UNBINDABLE = 1 << 17;
const MNT_DETACH = 2;

// containerd's parseMountOptions table: [clear?, flag].
const FLAGS: Record<string, [boolean, number]> = {
  async: [true, 0x10],
  atime: [true, 0x400],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, 0x4],
  diratime: [true, 0x800],
  dirsync: [false, 0x80],
  exec: [true, 0x8],
  mand: [false, 0x40],
  noatime: [false, 0x400],
  nodev: [false, 0x4],
  nodiratime: [false, 0x800],
  noexec: [false, 0x8],
  nomand: [true, 0x40],
  norelatime: [true, 1 << 21],
  nostrictatime: [true, 1 << 24],
  nosuid: [false, 0x2],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, 1 << 21],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  strictatime: [false, 1 << 24],
  suid: [true, 0x2],
  sync: [false, 0x10],
};

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string[];
}

export function parseMountOptions(options: string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAGS[o];
    if (f !== undefined) {
      flags = f[0] ? flags & ~f[1] : flags | f[1];
    } else if (PROPAGATION[o] !== undefined) {
      propagation |= PROPAGATION[o];
    } else {
      data.push(o);
    }
  }
  return { flags, propagation, data };
}

const PAGE = 4096;

function mountError(m: Mount, target: string, errno: number): BunkerError {
  return new BunkerError(
    Kind.Unknown,
    `failed to mount ${m.type} ${JSON.stringify(m.source)} on ${JSON.stringify(target)}: ${errnoName(errno)}`,
  );
}

/** Mounts one mount at `target`. */
export function mountAt(m: Mount, target: string): void {
  const { flags, propagation, data } = parseMountOptions(m.options);
  const d = data.join(",");
  const type = m.type === "bind" ? "" : m.type;
  if (!(flags & MS_REMOUNT) || d !== "") {
    if (m.type === "overlay" && d.length >= PAGE) {
      mountLongOverlay(m, target);
    } else {
      const r = sysMount(m.source, target, type, flags & ~propagation, d);
      if (r < 0) throw mountError(m, target, -r);
    }
  }
  if (propagation !== 0) {
    const r = sysMount("", target, "", propagation, "");
    if (r < 0) throw mountError(m, target, -r);
  }
  if ((flags & (MS_BIND | MS_RDONLY)) === (MS_BIND | MS_RDONLY)) {
    const r = sysMount("", target, "", flags | MS_REMOUNT, "");
    if (r < 0) throw mountError(m, target, -r);
  }
}

/** Overlay options past a page: containerd chdirs to the lowerdirs' common parent and passes
 *  relative paths. chdir is per process and workers are threads, so this runs mount(8) in a
 *  child whose working directory is that parent instead. */
function mountLongOverlay(m: Mount, target: string): void {
  const lower = m.options.find((o) => o.startsWith("lowerdir="));
  if (lower === undefined) throw mountError(m, target, EINVAL);
  const dirs = lower.slice("lowerdir=".length).split(":");
  let common = dirs[0]!.slice(0, dirs[0]!.lastIndexOf("/") + 1);
  for (const d of dirs)
    while (!d.startsWith(common)) common = common.slice(0, common.slice(0, -1).lastIndexOf("/") + 1);
  if (common.length <= 1) throw mountError(m, target, EINVAL);
  const opts = m.options.map((o) =>
    o === lower ? `lowerdir=${dirs.map((d) => d.slice(common.length)).join(":")}` : o,
  );
  const p = Bun.spawnSync(["mount", "-t", m.type, "-o", opts.join(","), m.source, resolve(target)], {
    cwd: common,
    stderr: "pipe",
  });
  if (p.exitCode !== 0) {
    throw new BunkerError(
      Kind.Unknown,
      `failed to mount overlay on ${target}: ${p.stderr.toString().trim()}`,
    );
  }
}

/** containerd's mount.All: each mount in order, at `root`/`target`. */
export function mountAll(mounts: Mount[], root: string): void {
  for (const m of mounts) {
    const t = m.target ? join(root, m.target) : root;
    if (!resolve(t).startsWith(resolve(root))) {
      throw new BunkerError(Kind.InvalidArgument, `mount target ${JSON.stringify(m.target)} escapes ${root}`);
    }
    mountAt(m, t);
  }
}

/** Unmounts everything stacked on `target` (until EINVAL: nothing mounted there). EBUSY is
 *  retried for a while, then the mount is detached. */
export async function unmountAll(target: string): Promise<void> {
  for (;;) {
    let r = umount2(target, 0);
    for (let i = 0; r === -EBUSY && i < 50; i++) {
      await Bun.sleep(50);
      r = umount2(target, 0);
    }
    if (r === -EBUSY) r = umount2(target, MNT_DETACH);
    if (r === -EINVAL || r === -ENOENT) return;
    if (r < 0) throw new BunkerError(Kind.Unknown, `failed to unmount ${target}: ${errnoName(-r)}`);
  }
}

/** containerd's readonlyMounts: an overlay's upperdir becomes its top lowerdir (no workdir),
 *  anything else gets `ro`. */
export function readonlyMounts(mounts: Mount[]): Mount[] {
  return mounts.map((m) => {
    if (m.type === "overlay") {
      const upper = m.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length);
      const out = m.options.filter((o) => !o.startsWith("upperdir=") && !o.startsWith("workdir="));
      return {
        ...m,
        options:
          upper === undefined
            ? out
            : out.map((o) =>
                o.startsWith("lowerdir=") ? `lowerdir=${upper}:${o.slice("lowerdir=".length)}` : o,
              ),
      };
    }
    return { ...m, options: [...m.options.filter((o) => o !== "rw" && o !== "ro"), "ro"] };
  });
}

/** Mounts `mounts` on a fresh directory under `tmpDir`, runs `fn` on it, and unmounts and
 *  removes the directory whatever happens. */
export async function withTempMount<T>(
  tmpDir: string,
  mounts: Mount[],
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const root = mkdtempSync(join(tmpDir, "containerd-mount"));
  try {
    mountAll(mounts, root);
    return await fn(root);
  } finally {
    await unmountAll(root);
    rmdirSync(root);
  }
}

export const withReadonlyTempMount = <T>(tmpDir: string, mounts: Mount[], fn: (root: string) => Promise<T>) =>
  withTempMount(tmpDir, readonlyMounts(mounts), fn);

/** What the host's overlayfs can do (containerd's snapshots/overlay/overlayutils/check.go and
 *  overlay.go supportsIndex): whether it mounts at all, whether `index=off` is understood,
 *  whether `userxattr` is needed (rootless, in a user namespace). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { toBunkerError } from "@bunkerd/plugin-api";
import { mount, unmountAll } from "../mount.ts";

const TMPFS_MAGIC = 0x01021994;

/** `index=off` is passed when the overlay module has an `index` parameter. */
export const supportsIndex = (): boolean => existsSync("/sys/module/overlay/parameters/index");

/** Outside the initial user namespace, uid_map is not the identity over the whole range. */
export function runningInUserNS(): boolean {
  try {
    const lines = readFileSync("/proc/self/uid_map", "utf8").trim().split("\n");
    const f = (lines[0] ?? "").trim().split(/\s+/);
    return !(lines.length === 1 && f[0] === "0" && f[1] === "0" && f[2] === "4294967295");
  } catch {
    return false;
  }
}

export function isPathOnTmpfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** Kernel release at least `major.minor`. */
export function kernelAtLeast(major: number, minor: number, rel = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/** Mounts a two-lowerdir overlay in a scratch directory under `dir` and unmounts it. Returns the
 *  reason it failed, or undefined when it worked. */
export async function tryOverlayMount(
  dir: string,
  prefix: string,
  extra: string[] = [],
): Promise<string | undefined> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const td = mkdtempSync(join(dir, prefix));
  try {
    for (const d of ["lower1", "lower2", "upper", "work", "merged"]) mkdirSync(join(td, d), { mode: 0o755 });
    const data = `lowerdir=${join(td, "lower2")}:${join(td, "lower1")},upperdir=${join(td, "upper")},workdir=${join(td, "work")}`;
    const merged = join(td, "merged");
    try {
      await mount({ type: "overlay", source: "overlay", options: [...extra, data] }, merged);
    } catch (e) {
      return `failed to mount overlay: ${toBunkerError(e).message}`;
    }
    await unmountAll(merged);
    return undefined;
  } finally {
    rmSync(td, { recursive: true, force: true });
  }
}

/** containerd's overlayutils.Supported: overlayfs works with `root` as its backing directory.
 *  Returns the reason it does not, or undefined. */
export async function overlaySupport(root: string): Promise<string | undefined> {
  try {
    return await tryOverlayMount(root, "multiple-lowerdir-check");
  } catch (e) {
    return toBunkerError(e).message;
  }
}

/** containerd's NeedsUserXAttr: only in a user namespace, not on tmpfs; kernels from 5.11 take
 *  `userxattr`, older ones are asked by mounting with it. */
export async function needsUserXAttr(dir: string): Promise<boolean> {
  if (!runningInUserNS()) return false;
  if (isPathOnTmpfs(dir)) return false;
  if (kernelAtLeast(5, 11)) return true;
  const checkRoot = join(dir, "userxattr-check");
  rmSync(checkRoot, { recursive: true, force: true });
  try {
    return (await tryOverlayMount(checkRoot, "check-", ["ro", "userxattr"])) === undefined;
  } finally {
    rmSync(checkRoot, { recursive: true, force: true });
  }
}

/** Process-level start-up chores containerd does before it loads plugins. */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Root and state are created 0711: traversable for shims and runc, not listable. */
export function ensureDir(path: string, mode = 0o711): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
}

/** Applies oom_score_adj. Lowering it needs CAP_SYS_RESOURCE; without it containerd only
 *  warns, and so do we. Returns a warning, or undefined when applied. */
export function applyOomScore(score: number, file = "/proc/self/oom_score_adj"): string | undefined {
  try {
    const current = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    if (current === score) return undefined;
    writeFileSync(file, String(score));
    return undefined;
  } catch (e) {
    return `failed to apply oom_score ${score}: ${(e as Error).message}`;
  }
}

/** containerd mounts layers for diffs under <root>/tmpmounts; a crash can leave some behind.
 *  Unmount whatever is still mounted there (deepest first), then empty the directory. */
export function cleanupTempMounts(root: string): string[] {
  const dir = join(root, "tmpmounts");
  const leftovers = mountsUnder(dir);
  for (const m of leftovers) {
    Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
  }
  rmSync(dir, { recursive: true, force: true });
  ensureDir(dir, 0o700);
  return leftovers;
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let info = "";
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of info.split("\n")) {
    const target = line.split(" ")[4];
    if (!target) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const path = target.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

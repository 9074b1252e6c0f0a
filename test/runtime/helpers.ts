/** Shared pieces of the runtime suites: unique container ids (runc's state under
 *  /run/containerd/runc/<ns> is shared by every daemon on the machine), polling, and the check
 *  that a test left no shim, mount or bundle behind. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, shimPids } from "../harness/daemon.ts";

let n = 0;
/** A container id no other test on this machine uses at the same time. */
export const uniqueId = (prefix: string) => `${prefix}-${process.pid}-${++n}-${Date.now() % 100000}`;

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/** Mount points under `dir`, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
}

export const bundlesDir = (d: DaemonHandle) => join(d.state, "io.containerd.runtime.v2.task");

/** Bundles left in the state dir, as "<ns>/<id>". */
export function bundles(d: DaemonHandle): string[] {
  const root = bundlesDir(d);
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((ns) => readdirSync(join(root, ns)).map((id) => `${ns}/${id}`));
}

/** Nothing left running or mounted for the daemon: no shim, no rootfs mount, no bundle. */
export async function expectClean(d: DaemonHandle): Promise<void> {
  await waitFor("shims to exit", () => shimPids(d.dir).length === 0 || undefined, 5_000).catch(() => {});
  const left = { shims: shimPids(d.dir), mounts: mountsUnder(d.dir), bundles: bundles(d) };
  if (left.shims.length + left.mounts.length + left.bundles.length > 0) {
    throw new Error(`left behind: ${JSON.stringify(left)}`);
  }
}

/** Whether `pid` runs; a zombie (exited, not yet reaped by whoever inherited it) does not. */
export const isAlive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

/** `ctr tasks ls` as rows {task, pid, status}. */
export async function tasksLs(d: DaemonHandle, ns = "default") {
  const r = await d.ctr(["-n", ns, "tasks", "ls"]);
  if (r.code !== 0) throw new Error(`ctr tasks ls: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [task, pid, status] = l.trim().split(/\s+/);
      return { task: task!, pid: Number(pid), status: status! };
    });
}

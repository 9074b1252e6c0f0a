/** What every check of the suite runs in: a fresh temporary directory holding the snapshotter's
 *  root and a work area for mount points, and the guarantee that nothing stays mounted or on
 *  disk afterwards. A check that leaves a mount behind fails, after the mount is undone. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BunkerError, type Kind } from "@bunkerd/plugin-api";
import { mountAll, mountPointsUnder, unmountAll, unmountUnder } from "../mount.ts";
import type { Mount, Snapshotter } from "../snapshotter.ts";

/** Opens a snapshotter on `root` (an empty directory on first use; reopened on the same root,
 *  it must find what it left there). */
export type OpenSnapshotter = (root: string) => Promise<Snapshotter>;

/** Where a check runs: the snapshotter, its root, a directory for mount points, and `reopen`
 *  (closes the snapshotter, opens a new one on the same root). */
export interface SuiteContext {
  sn: Snapshotter;
  root: string;
  work: string;
  reopen(): Promise<Snapshotter>;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The label containerd's suite puts on every snapshot. */
export const gcRootLabels = (): Record<string, string> => ({
  "containerd.io/gc.root": new Date().toISOString().replace(/\.\d+Z$/, "Z"),
});

/** Runs `check` against a snapshotter on a fresh temporary root, then unmounts and removes
 *  everything. Fails when a mount was left behind. */
export async function withSnapshotter(
  name: string,
  open: OpenSnapshotter,
  check: (c: SuiteContext) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `snapshot-suite-${name}-`));
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(root, { mode: 0o777 });
  mkdirSync(work, { mode: 0o777 });
  const ctx: SuiteContext = {
    sn: await open(root),
    root,
    work,
    async reopen() {
      await ctx.sn.close();
      ctx.sn = await open(root);
      return ctx.sn;
    },
  };
  let leftover: string[] = [];
  try {
    await check(ctx);
  } finally {
    leftover = mountPointsUnder(dir);
    if (leftover.length > 0) await unmountUnder(dir, { detach: true });
    await ctx.sn.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (leftover.length > 0) throw new Error(`mounts left behind: ${leftover.join(", ")}`);
}

/** Mounts `mounts` on a new directory under `work`, runs `fn` on it, unmounts whatever happens. */
export async function withMounted<T>(
  mounts: Mount[],
  work: string,
  fn: (target: string) => T | Promise<T>,
): Promise<T> {
  const target = mkdtempSync(join(work, "mnt-"));
  await mountAll(mounts, target);
  try {
    return await fn(target);
  } finally {
    await unmountAll(target);
    rmSync(target, { recursive: true, force: true });
  }
}

/** The kind and message of what `p` rejects with. */
export async function rejection(p: Promise<unknown>): Promise<{ kind: Kind; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return { kind: e.kind, message: e.message };
    throw e;
  }
  throw new Error("expected a rejection");
}

/** Collects an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

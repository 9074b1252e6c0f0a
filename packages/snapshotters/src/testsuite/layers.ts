/** Checks that mount what the snapshotter returns and look at the files (root only): layers
 *  stack, deletions and renames in an upper layer hide the lower files, views are read-only,
 *  ownership and modes carry through, and a deep stack still mounts. */
import { expect } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Applier,
  apply,
  chown,
  createDir,
  createFile,
  expectedTree,
  link,
  removeAll,
  rename,
  symlink,
  tree,
} from "./fstest.ts";
import { collect, gcRootLabels, rejection, type SuiteContext, withMounted } from "./harness.ts";

/** Commits one layer per applier, each on the last, checking every layer shows the sum of the
 *  appliers so far; then a view of the top shows all of them. Returns the committed names. */
export async function checkLayers(c: SuiteContext, ...appliers: Applier[]): Promise<string[]> {
  const labels = gcRootLabels();
  const committed: string[] = [];
  let parent = "";
  for (const [i, applier] of appliers.entries()) {
    const key = `layer-${i}-active`;
    const mounts = await c.sn.prepare(key, parent, { labels });
    await withMounted(mounts, c.work, (target) => {
      expect(tree(target)).toEqual(expectedTree(apply(...appliers.slice(0, i))));
      applier(target);
    });
    const name = `layer-${i}`;
    await c.sn.commit(name, key, { labels });
    committed.push(name);
    parent = name;
  }
  const view = await c.sn.view("top-view", parent, { labels });
  await withMounted(view, c.work, (target) => {
    expect(tree(target)).toEqual(expectedTree(apply(...appliers)));
  });
  await c.sn.remove("top-view");
  return committed;
}

/** containerd's Basic: prepare, write through the mount, commit; a child sees the files and
 *  changes them; a view of the child sees both; a parent with children cannot be removed. */
export async function checkCommitView(c: SuiteContext): Promise<void> {
  const labels = gcRootLabels();
  const initial = apply(
    createFile("foo", "foo\n", 0o777),
    createDir("a", 0o755),
    createDir("a/b", 0o755),
    createDir("a/b/c", 0o755),
  );
  const diff = apply(createFile("bar", "bar\n", 0o777), createFile("foo", "bar\n", 0o777), removeAll("a/b"));

  await withMounted(await c.sn.prepare("preparing", "", { labels }), c.work, initial);
  await c.sn.commit("committed", "preparing", { labels });
  const si = await c.sn.stat("committed");
  expect(si).toMatchObject({ name: "committed", kind: "committed", labels });
  expect(si.parent).toBeUndefined();
  expect((await rejection(c.sn.stat("preparing"))).kind).toBe("not found");

  await withMounted(await c.sn.prepare("next", "committed", { labels }), c.work, (target) => {
    expect(tree(target)).toEqual(expectedTree(initial));
    diff(target);
  });
  expect(await c.sn.stat("next")).toMatchObject({ name: "next", parent: "committed", kind: "active" });
  await c.sn.commit("committed-next", "next", { labels });
  const si2 = await c.sn.stat("committed-next");
  expect(si2).toMatchObject({ parent: "committed", kind: "committed" });

  const walked = new Map((await collect(c.sn.walk())).map((i) => [i.name, i]));
  expect(walked.get("committed")).toEqual(si);
  expect(walked.get("committed-next")).toEqual(si2);

  await withMounted(await c.sn.view("view", "committed-next", { labels }), c.work, (target) => {
    expect(tree(target)).toEqual(expectedTree(apply(initial, diff)));
  });
  await c.sn.remove("view");
  expect(await rejection(c.sn.remove("committed"))).toMatchObject({ kind: "failed precondition" });
  await c.sn.remove("committed-next");
  await c.sn.remove("committed");
  expect(await collect(c.sn.walk())).toEqual([]);
}

/** Files and directories deleted in an upper layer are gone from everything above it. */
export async function checkDeletions(c: SuiteContext): Promise<void> {
  await checkLayers(
    c,
    apply(
      createFile("foo", "foo\n"),
      createFile("foobar", "foobar\n"),
      createDir("d"),
      createDir("d/e"),
      createFile("d/e/f", "f\n"),
    ),
    apply(removeAll("foobar"), removeAll("d/e")),
    apply(createDir("d/e"), createFile("d/e/g", "g\n")),
  );
}

/** Renames and hard links of lower files, as containerd's MoveFileFromLowerLayer and Rename. */
export async function checkRenames(c: SuiteContext): Promise<void> {
  await checkLayers(
    c,
    apply(
      createDir("dir1", 0o700),
      createFile("dir1/f1", "Hello", 0o644),
      createDir("dir2", 0o700),
      createFile("dir2/f2", "...", 0o644),
      createDir("dir3"),
      createFile("dir3/f3", "3"),
      createFile("dir3/f4", "4"),
      symlink("dir1/f1", "ln"),
    ),
    apply(
      createDir("dir4", 0o700),
      createFile("dir4/f1", "Hello", 0o644),
      removeAll("dir1"),
      link("dir2/f2", "dir4/f2"),
      removeAll("dir2/f2"),
      // A file, not a directory: overlayfs answers EXDEV for a lower directory without redirect_dir.
      rename("dir3/f3", "dir3/f5"),
      createFile("dir3/f4-new", "new 4"),
      rename("dir3/f4-new", "dir3/f4"),
    ),
  );
}

/** Owners and modes set in a lower layer show through, and a child's directory keeps them. */
export async function checkOwnership(c: SuiteContext): Promise<void> {
  await checkLayers(
    c,
    apply(
      createDir("opt"),
      createDir("opt/a", 0o700),
      chown("opt/a", 1000, 1001),
      createFile("opt/a/f", "x", 0o600),
      chown("opt/a/f", 1000, 1001),
      createDir("tmp", 0o1777),
    ),
    apply(createFile("opt/a/g", "y", 0o640), chown("opt/a/g", 1000, 1001), createFile("tmp/t", "t")),
  );
}

/** A view mounts read-only: writing through it fails. */
export async function checkViewReadonly(c: SuiteContext): Promise<void> {
  await c.sn.prepare("preparing", "");
  await c.sn.commit("committed", "preparing");
  for (const [key, parent] of [
    ["view", "committed"],
    ["view-empty", ""],
  ] as const) {
    await withMounted(await c.sn.view(key, parent), c.work, (target) => {
      expect(() => writeFileSync(join(target, "testfile"), "testcontent")).toThrow();
    });
  }
  // Two layers: the view is an overlay without an upper directory.
  await c.sn.prepare("second", "committed");
  await c.sn.commit("committed-2", "second");
  await withMounted(await c.sn.view("view-2", "committed-2"), c.work, (target) => {
    expect(() => writeFileSync(join(target, "testfile"), "testcontent")).toThrow();
  });
}

/** `depth` committed layers, each adding a file and replacing one; the top still mounts as a
 *  view and as an active snapshot (overlayfs: the lowerdir list then exceeds a page, and goes
 *  relative). */
export async function checkDeepStack(c: SuiteContext, depth: number): Promise<void> {
  let parent = "";
  for (let i = 1; i <= depth; i++) {
    await withMounted(await c.sn.prepare(`a${i}`, parent), c.work, (target) => {
      writeFileSync(join(target, `layer-${i}`), String(i));
      writeFileSync(join(target, "top"), String(i));
    });
    await c.sn.commit(`l${i}`, `a${i}`);
    parent = `l${i}`;
  }
  const check = (target: string) => {
    const names = readdirSync(target);
    expect(names.length).toBe(depth + 1);
    for (let i = 1; i <= depth; i++) expect(readFileSync(join(target, `layer-${i}`), "utf8")).toBe(String(i));
    expect(readFileSync(join(target, "top"), "utf8")).toBe(String(depth));
  };
  await withMounted(await c.sn.view("deep-view", parent), c.work, check);
  await withMounted(await c.sn.prepare("deep-active", parent), c.work, (target) => {
    check(target);
    writeFileSync(join(target, "written"), "w");
    expect(existsSync(join(target, "written"))).toBe(true);
  });
  // Mounts are stable: asking again gives the same answer.
  expect(await c.sn.mounts("deep-view")).toEqual(await c.sn.mounts("deep-view"));
  expect(await rejection(c.sn.remove(`l${depth - 1}`))).toMatchObject({ kind: "failed precondition" });
}

/** Usage of an active snapshot is measured from its files; committing records it; a view has none. */
export async function checkUsageMeasured(c: SuiteContext): Promise<void> {
  await c.sn.prepare("a", "");
  const before = await c.sn.usage("a");
  expect(before.inodes).toBe(1);
  await withMounted(await c.sn.mounts("a"), c.work, (target) => {
    writeFileSync(join(target, "big"), Buffer.alloc(64 * 1024, 1));
    writeFileSync(join(target, "small"), "x");
  });
  const active = await c.sn.usage("a");
  expect(active.inodes).toBe(3);
  expect(active.size).toBeGreaterThanOrEqual(before.size + 64 * 1024);
  await c.sn.commit("c", "a");
  expect(await c.sn.usage("c")).toEqual(active);
  await c.sn.view("v", "c");
  expect(await c.sn.usage("v")).toEqual({ size: 0, inodes: 0 });
}

/** Closing and opening the snapshotter on the same root keeps records and files. */
export async function checkReopenKeepsFiles(c: SuiteContext): Promise<void> {
  await withMounted(await c.sn.prepare("a", ""), c.work, createFile("kept", "kept\n"));
  await c.sn.commit("c", "a", { labels: { l: "1" } });
  await c.sn.prepare("b", "c");
  const before = await collect(c.sn.walk());
  const mounts = await c.sn.mounts("b");
  const sn = await c.reopen();
  expect(await collect(sn.walk())).toEqual(before);
  expect(await sn.mounts("b")).toEqual(mounts);
  await withMounted(mounts, c.work, (target) => {
    expect(readFileSync(join(target, "kept"), "utf8")).toBe("kept\n");
  });
}

/** Checks of the records alone, no mounts needed: kinds and parents, labels and `update`,
 *  `walk` filters, containerd's refusals (kind and wording), key reuse after removal, and
 *  close/reopen. */
import { expect } from "bun:test";
import type { SnapshotInfo } from "../snapshotter.ts";
import { collect, gcRootLabels, rejection, type SuiteContext } from "./harness.ts";

/** containerd's base set: c1 ← c2 ← a1, v1; a2 and v2 without parent. */
async function baseSnapshots(c: SuiteContext): Promise<void> {
  const labels = gcRootLabels();
  await c.sn.prepare("c1-a", "", { labels });
  await c.sn.commit("c1", "c1-a", { labels });
  await c.sn.prepare("c2-a", "c1", { labels });
  await c.sn.commit("c2", "c2-a", { labels });
  await c.sn.prepare("a1", "c2", { labels });
  await c.sn.prepare("a2", "", { labels });
  await c.sn.view("v1", "c2", { labels });
  await c.sn.view("v2", "", { labels });
}

const BASE: { name: string; kind: SnapshotInfo["kind"]; parent?: string }[] = [
  { name: "c1", kind: "committed" },
  { name: "c2", kind: "committed", parent: "c1" },
  { name: "a1", kind: "active", parent: "c2" },
  { name: "a2", kind: "active" },
  { name: "v1", kind: "view", parent: "c2" },
  { name: "v2", kind: "view" },
];

/** Keep only the labels a check set (overlayfs may add its upperdir label). */
const own = (labels: Record<string, string>) =>
  Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith("containerd.io/snapshot/")));

/** containerd's Update: stat shows kind, parent and equal times; update replaces labels, or the
 *  named ones (an empty value removes one), bumps `updated` only, and refuses other fields. */
export async function checkStatUpdate(c: SuiteContext): Promise<void> {
  const t1 = Date.now();
  await baseSnapshots(c);
  const t2 = Date.now();
  for (const tc of BASE) {
    let st = await c.sn.stat(tc.name);
    expect(st.created.getTime()).toBeGreaterThanOrEqual(t1);
    expect(st.created.getTime()).toBeLessThanOrEqual(t2);
    expect(st.updated).toEqual(st.created);
    expect(st.kind).toBe(tc.kind);
    expect(st.parent).toBe(tc.parent);
    expect(st.name).toBe(tc.name);

    const created = st.created;
    const rootTime = gcRootLabels()["containerd.io/gc.root"]!;
    let expected: Record<string, string> = {
      l1: "v1",
      l2: "v2",
      l3: "v3",
      "containerd.io/gc.root": rootTime,
    };
    const u1 = Date.now();
    st = await c.sn.update({ ...st, parent: "doesnotexist", labels: expected });
    const u2 = Date.now();
    expect(st.created).toEqual(created);
    expect(st.updated.getTime()).toBeGreaterThanOrEqual(u1);
    expect(st.updated.getTime()).toBeLessThanOrEqual(u2);
    expect([st.kind, st.parent, st.name]).toEqual([tc.kind, tc.parent, tc.name]);
    expect(own(st.labels)).toEqual(expected);

    expected = { l1: "updated", l3: "v3", "containerd.io/gc.root": rootTime };
    st = await c.sn.update({ ...st, labels: { l1: "updated", l4: "v4" } }, ["labels.l1", "labels.l2"]);
    expect(own(st.labels)).toEqual(expected);

    expected = { l4: "v4", "containerd.io/gc.root": rootTime };
    st = await c.sn.update({ ...st, labels: expected }, ["labels"]);
    expect(own(st.labels)).toEqual(expected);
    expect(own((await c.sn.stat(tc.name)).labels)).toEqual(expected);

    const refused = await rejection(c.sn.update({ ...st, parent: "doesnotexist" }, ["parent"]));
    expect(refused).toEqual({
      kind: "invalid argument",
      message: `cannot update "parent" field on snapshot "${tc.name}": invalid argument`,
    });
  }
  expect(await rejection(c.sn.update({ ...(await c.sn.stat("c1")), name: "nope" }))).toEqual({
    kind: "not found",
    message: "snapshot does not exist: not found",
  });
}

/** Walk lists every snapshot in name order, and filters as containerd: name, parent, kind,
 *  labels.<key>, `,` for and, several filters for or. A bad filter is InvalidArgument. */
export async function checkWalkFilters(c: SuiteContext): Promise<void> {
  await baseSnapshots(c);
  await c.sn.update({ ...(await c.sn.stat("a1")), labels: { "app.io/role": "web", tier: "front" } });
  await c.sn.update({ ...(await c.sn.stat("v1")), labels: { "app.io/role": "db" } });
  const names = async (...filters: string[]) => (await collect(c.sn.walk(filters))).map((i) => i.name);
  expect(await names()).toEqual(["a1", "a2", "c1", "c2", "v1", "v2"]);
  expect(await names("kind==committed")).toEqual(["c1", "c2"]);
  expect(await names("kind==view")).toEqual(["v1", "v2"]);
  expect(await names("parent==c2")).toEqual(["a1", "v1"]);
  expect(await names("name==c2")).toEqual(["c2"]);
  expect(await names("name~=^a")).toEqual(["a1", "a2"]);
  expect(await names('labels."app.io/role"==web')).toEqual(["a1"]);
  expect(await names('labels."app.io/role"')).toEqual(["a1", "v1"]);
  expect(await names("labels.tier!=front")).toEqual(["a2", "c1", "c2", "v1", "v2"]);
  expect(await names("kind==active,parent==c2")).toEqual(["a1"]);
  expect(await names("name==c1", "kind==view")).toEqual(["c1", "v1", "v2"]);
  // containerd: a snapshot's parent is always present, even when empty.
  expect(await names("parent")).toEqual(["a1", "a2", "c1", "c2", "v1", "v2"]);
  expect(await names("parent==c1")).toEqual(["c2"]);
  expect((await rejection(collect(c.sn.walk(['name=="unterminated'])))).kind).toBe("invalid argument");
}

/** containerd's refusals, with their kinds and the words of its storage layer. */
export async function checkRefusals(c: SuiteContext): Promise<void> {
  await c.sn.prepare("a", "");
  await c.sn.view("v", "");
  await c.sn.prepare("b", "");
  await c.sn.commit("c", "b");

  const expectRefusal = async (p: Promise<unknown>, kind: string, words: string) => {
    const r = await rejection(p);
    expect(r.kind as string).toBe(kind);
    expect(r.message).toContain(words);
  };
  // A parent must exist and be committed; a key is taken once.
  await expectRefusal(c.sn.prepare("x", "nope"), "not found", 'missing parent "nope" bucket');
  await expectRefusal(c.sn.view("x", "nope"), "not found", 'missing parent "nope" bucket');
  await expectRefusal(c.sn.view("x", "a"), "invalid argument", 'parent "a" is not committed snapshot');
  await expectRefusal(c.sn.prepare("x", "v"), "invalid argument", 'parent "v" is not committed snapshot');
  await expectRefusal(c.sn.prepare("a", ""), "already exists", "failed to create snapshot: snapshot a");
  await expectRefusal(c.sn.view("a", "c"), "already exists", "snapshot a: already exists");
  await expectRefusal(c.sn.prepare("c", "c"), "already exists", "snapshot c: already exists");
  // Commit: only an active snapshot, once, under a free name.
  await c.sn.commit("c2", "a");
  await expectRefusal(c.sn.commit("c3", "a"), "not found", "snapshot does not exist");
  await expectRefusal(c.sn.commit("c3", "v"), "failed precondition", 'snapshot "v" is not active');
  await c.sn.prepare("d", "c");
  await expectRefusal(c.sn.commit("c", "d"), "already exists", "committed snapshot c: already exists");
  await expectRefusal(c.sn.commit("c4", "c"), "failed precondition", 'snapshot "c" is not active');
  // Mounts only of active snapshots and views.
  await expectRefusal(c.sn.mounts("c"), "failed precondition", "requested snapshot c not active or view");
  await expectRefusal(c.sn.mounts("nope"), "not found", "snapshot does not exist");
  // Stat, usage, remove of nothing.
  await expectRefusal(c.sn.stat("nope"), "not found", "snapshot does not exist");
  await expectRefusal(c.sn.usage("nope"), "not found", "snapshot does not exist");
  await expectRefusal(c.sn.remove("nope"), "not found", "snapshot nope: not found");
  // A parent with children stays.
  await expectRefusal(c.sn.remove("c"), "failed precondition", "cannot remove snapshot with child");
  await c.sn.remove("d");
  await c.sn.remove("c");
  expect((await collect(c.sn.walk())).map((i) => i.name)).toEqual(["c2", "v"]);
}

/** containerd's RemoveIntermediateSnapshot and Transitivity: base ← inter ← top; the middle
 *  cannot go first; parents resolve transitively; top-down removal works. */
export async function checkRemoveIntermediate(c: SuiteContext): Promise<void> {
  await c.sn.prepare("base", "");
  await c.sn.commit("committed-base", "base");
  await c.sn.prepare("inter", "committed-base");
  await c.sn.commit("committed-inter", "inter");
  await c.sn.prepare("top", "committed-inter");
  const top = await c.sn.stat("top");
  const parent = await c.sn.stat(top.parent!);
  expect([parent.name, parent.parent]).toEqual(["committed-inter", "committed-base"]);
  expect((await c.sn.stat(parent.parent!)).parent).toBeUndefined();
  expect(await rejection(c.sn.remove("committed-inter"))).toEqual({
    kind: "failed precondition",
    message: "failed to remove: cannot remove snapshot with child: failed precondition",
  });
  await c.sn.remove("top");
  await c.sn.remove("committed-inter");
  await c.sn.remove("committed-base");
  expect(await collect(c.sn.walk())).toEqual([]);
}

/** containerd's Remove: a removed key can be used again, for either kind, and a removed
 *  committed name can be committed again. */
export async function checkRemoveReuse(c: SuiteContext): Promise<void> {
  await c.sn.prepare("committed-a", "");
  await c.sn.commit("committed-1", "committed-a");
  await c.sn.prepare("reuse-1", "committed-1");
  await c.sn.remove("reuse-1");
  await c.sn.view("reuse-1", "committed-1");
  await c.sn.remove("reuse-1");
  await c.sn.prepare("reuse-1", "");
  await c.sn.remove("committed-1");
  await c.sn.commit("committed-1", "reuse-1");
  expect((await c.sn.stat("committed-1")).kind).toBe("committed");
}

/** Commit replaces labels, never inherits them; the active snapshot's own go with it. */
export async function checkCommitLabels(c: SuiteContext): Promise<void> {
  await c.sn.prepare("a", "", { labels: { from: "prepare", empty: "" } });
  expect(own((await c.sn.stat("a")).labels)).toEqual({ from: "prepare" });
  await c.sn.commit("c", "a", { labels: { from: "commit" } });
  expect(own((await c.sn.stat("c")).labels)).toEqual({ from: "commit" });
  await c.sn.prepare("b", "c");
  await c.sn.commit("c-bare", "b");
  expect(own((await c.sn.stat("c-bare")).labels)).toEqual({});
}

/** Closing twice is fine; a closed snapshotter refuses calls; a reopened one has everything. */
export async function checkReopenKeepsRecords(c: SuiteContext): Promise<void> {
  await baseSnapshots(c);
  const before = await collect(c.sn.walk());
  const mounts = await c.sn.mounts("a1");
  await c.sn.close();
  await c.sn.close();
  expect((await rejection(c.sn.stat("c1"))).kind).toBe("unavailable");
  const sn = await c.reopen();
  expect(await collect(sn.walk())).toEqual(before);
  expect(await sn.mounts("a1")).toEqual(mounts);
  // Ids are never reused: a key made again gets a new directory.
  const v2 = await sn.mounts("v2");
  await sn.remove("v2");
  await sn.view("v2", "");
  expect(await sn.mounts("v2")).not.toEqual(v2);
}

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BunkerError, Kind } from "@bunkerd/plugin-api";
import { backendLock } from "../gc/lock.ts";
import { type MetadataDb, openMetadata, read, write } from "./db.ts";
import type { Deletion, GcNotifier } from "./gc-notify.ts";
import { createLease, listLeaseResources } from "./leases.ts";
import { deleteNamespace } from "./namespaces.ts";
import { snapshotSequences, snapshots } from "./schema.ts";
import { type CreateRequest, SnapshotRecords } from "./snapshot-records.ts";

let dir: string;
let db: MetadataDb;
let records: SnapshotRecords;
let notices: (string | Deletion)[];

const SN = "overlayfs";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bunkerd-snapshot-records-"));
  db = openMetadata(join(dir, "meta.db"));
  notices = [];
  const gc: GcNotifier = {
    mutated: () => void notices.push("mutated"),
    deleted: (what) => void notices.push(what ?? "deleted"),
    collect: async () => {},
  };
  records = new SnapshotRecords(db, gc);
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A create that the backend carried out. */
async function created(ns: string, c: CreateRequest, snapshotter = SN) {
  const r = await records.beginCreate(ns, snapshotter, c);
  return records.finishCreate(ns, snapshotter, r);
}

/** Prepare + commit, as an unpacked layer is made. */
async function committed(ns: string, name: string, parent?: string, labels?: Record<string, string>) {
  await created(ns, { key: `${name}-active`, parent, kind: "active" });
  const r = await records.beginCommit(ns, SN, { name, key: `${name}-active`, labels });
  return records.finishCommit(ns, SN, r);
}

async function failure(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as BunkerError;
    return { kind: err.kind, message: err.message };
  }
  throw new Error("expected a failure");
}

const sequence = (ns: string, snapshotter = SN) =>
  read(db, (tx) => tx.select().from(snapshotSequences).all()).find(
    (r) => r.namespace === ns && r.snapshotter === snapshotter,
  )?.sequence;

describe("backend names", () => {
  test("are <namespace>/<sequence>/<key>, counted per namespace and snapshotter", async () => {
    const a = await records.beginCreate("default", SN, { key: "a", kind: "active" });
    expect(a).toEqual({ op: "create", key: "a", kind: "active", backendName: "default/1/a" });
    await records.finishCreate("default", SN, a);
    const commit = await records.beginCommit("default", SN, { name: "a1", key: "a" });
    expect(commit).toEqual({
      op: "commit",
      name: "a1",
      key: "a",
      backendName: "default/2/a1",
      sourceBackend: "default/1/a",
      sequence: 2,
    });
    await records.finishCommit("default", SN, commit);
    const b = await records.beginCreate("default", SN, { key: "b", parent: "a1", kind: "view" });
    expect(b).toMatchObject({ backendName: "default/3/b", backendParent: "default/2/a1", kind: "view" });
    expect((await records.beginCreate("other", SN, { key: "a", kind: "active" })).backendName).toBe(
      "other/1/a",
    );
    expect((await records.beginCreate("default", "native", { key: "a", kind: "active" })).backendName).toBe(
      "default/1/a",
    );
  });

  test("a removed key's number is never given again (the collector may not have removed it yet)", async () => {
    await created("default", { key: "a", kind: "active" });
    await records.remove("default", SN, "a");
    expect((await records.beginCreate("default", SN, { key: "a", kind: "active" })).backendName).toBe(
      "default/2/a",
    );
  });

  test("a create spends its number once key and parent check out; a failed commit gives it back", async () => {
    await committed("ns", "base"); // 1, 2
    expect(await failure(records.beginCreate("ns", SN, { key: "base", kind: "active" }))).toMatchObject({
      kind: Kind.AlreadyExists,
    });
    expect(
      await failure(records.beginCreate("ns", SN, { key: "x", parent: "nope", kind: "active" })),
    ).toMatchObject({ kind: Kind.NotFound });
    expect(sequence("ns")).toBe(2);
    // The backend refuses it: the number stays spent, as containerd's first transaction keeps it.
    const x = await records.beginCreate("ns", SN, { key: "x", parent: "base", kind: "active" });
    await records.abortCreate("ns", SN, x);
    expect(sequence("ns")).toBe(3);
    const c = await records.beginCommit("ns", SN, { name: "basec", key: "base" });
    expect(c.backendName).toBe("ns/4/basec");
    await records.abortCommit("ns", SN, c);
    expect(sequence("ns")).toBe(3);
    expect((await records.beginCreate("ns", SN, { key: "y", kind: "active" })).backendName).toBe("ns/4/y");
  });

  test("a commit's number is kept when another was taken meanwhile", async () => {
    await created("ns", { key: "a", kind: "active" }); // 1
    const c = await records.beginCommit("ns", SN, { name: "a1", key: "a" }); // 2
    await records.beginCreate("ns", SN, { key: "b", kind: "active" }); // 3
    await records.abortCommit("ns", SN, c);
    expect(sequence("ns")).toBe(3);
  });
});

describe("two phases", () => {
  test("a reservation is hidden, holds its key, and is not a parent until confirmed", async () => {
    const r = await records.beginCreate("default", SN, { key: "a", kind: "active", labels: { x: "1" } });
    expect(await failure(records.get("default", SN, "a"))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot a does not exist: not found",
    });
    expect(await records.list("default", SN)).toEqual([]);
    expect(await failure(records.remove("default", SN, "a"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(records.beginCreate("default", SN, { key: "a", kind: "view" }))).toEqual({
      kind: Kind.AlreadyExists,
      message: 'snapshot "a": already exists',
    });
    expect(
      await failure(records.beginCreate("default", SN, { key: "b", parent: "a", kind: "active" })),
    ).toEqual({ kind: Kind.NotFound, message: "parent snapshot a does not exist: not found" });
    const record = await records.finishCreate("default", SN, r);
    expect(record).toMatchObject({
      key: "a",
      backendName: "default/1/a",
      kind: "active",
      labels: { x: "1" },
    });
    expect(await records.get("default", SN, "a")).toEqual(record);
    // Twice is once.
    expect(await records.finishCreate("default", SN, r)).toEqual(record);
  });

  test("an aborted create leaves nothing behind but the spent number", async () => {
    write(db, (tx) => createLease(tx, "default", "l1"));
    const r = await records.beginCreate("default", SN, { key: "a", kind: "active", lease: "l1" });
    expect(read(db, (tx) => listLeaseResources(tx, "default", "l1"))).toEqual([
      { type: "snapshots/overlayfs", id: "a" },
    ]);
    await records.abortCreate("default", SN, r);
    expect(read(db, (tx) => tx.select().from(snapshots).all())).toEqual([]);
    expect(read(db, (tx) => listLeaseResources(tx, "default", "l1"))).toEqual([]);
    await records.abortCreate("default", SN, r); // nothing left: fine
    expect(await failure(records.finishCreate("default", SN, r))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot a does not exist: not found",
    });
  });

  test("a reservation swept meanwhile (same key, another backend name) is not confirmed", async () => {
    const first = await records.beginCreate("default", SN, { key: "a", kind: "active" });
    await records.abortCreate("default", SN, first);
    const second = await records.beginCreate("default", SN, { key: "a", kind: "active" });
    expect(await failure(records.finishCreate("default", SN, first))).toMatchObject({ kind: Kind.NotFound });
    await records.abortCreate("default", SN, first); // not the reservation it made: kept
    expect((await records.finishCreate("default", SN, second)).backendName).toBe("default/2/a");
  });

  test("commit: the new record keeps the parent, the old one goes when the backend is done", async () => {
    await committed("default", "base");
    await created("default", { key: "work", parent: "base", kind: "active", labels: { w: "1" } });
    const r = await records.beginCommit("default", SN, { name: "layer", key: "work", labels: { l: "2" } });
    // Until then the old key is still there and the new one is not.
    expect((await records.get("default", SN, "work")).kind).toBe("active");
    expect(await failure(records.get("default", SN, "layer"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(records.beginCommit("default", SN, { name: "layer", key: "work" }))).toEqual({
      kind: Kind.AlreadyExists,
      message: 'snapshot "layer": already exists',
    });
    const layer = await records.finishCommit("default", SN, r);
    expect(layer).toMatchObject({
      key: "layer",
      parent: "base",
      kind: "committed",
      labels: { l: "2" },
      backendName: "default/4/layer",
    });
    expect((await records.list("default", SN)).map((x) => x.key)).toEqual(["base", "layer"]);
  });

  test("a commit aborted leaves the active snapshot as it was", async () => {
    const a = await created("default", { key: "a", kind: "active" });
    const r = await records.beginCommit("default", SN, { name: "a1", key: "a" });
    await records.abortCommit("default", SN, r);
    expect(await records.list("default", SN)).toEqual([a]);
  });

  test("a commit whose reservation was swept still drops the consumed old record", async () => {
    await created("default", { key: "a", kind: "active" });
    const r = await records.beginCommit("default", SN, { name: "a1", key: "a" });
    write(db, (tx) => tx.delete(snapshots).run()); // the collector's sweep, say
    await created("default", { key: "a", kind: "active" }); // a new "a": not the one committed
    expect(await failure(records.finishCommit("default", SN, r))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot a1 does not exist: not found",
    });
    expect((await records.list("default", SN)).map((x) => [x.key, x.backendName])).toEqual([
      ["a", "default/3/a"],
    ]);
  });

  test("a create still pending on a committed key is dropped with it", async () => {
    await created("default", { key: "a", kind: "active" });
    const child = await records.beginCreate("default", SN, { key: "c", parent: "a", kind: "active" });
    const r = await records.beginCommit("default", SN, { name: "a1", key: "a" });
    await records.finishCommit("default", SN, r);
    expect(await failure(records.finishCreate("default", SN, child))).toMatchObject({ kind: Kind.NotFound });
    expect((await records.list("default", SN)).map((x) => x.key)).toEqual(["a1"]);
  });

  test("pending() lists what a crash left, in every namespace, as reservations", async () => {
    write(db, (tx) => createLease(tx, "b", "l"));
    await created("a", { key: "k", kind: "active" });
    const commit = await records.beginCommit("a", SN, { name: "k1", key: "k" });
    const create = await records.beginCreate("b", SN, { key: "v", kind: "view", lease: "l" });
    await records.beginCreate("b", "native", { key: "n", kind: "active" });
    expect(await records.pending(SN)).toEqual([
      { namespace: "a", reservation: commit },
      { namespace: "b", reservation: create },
    ]);
    await records.finishCommit("a", SN, commit);
    await records.abortCreate("b", SN, create);
    expect(await records.pending(SN)).toEqual([]);
  });

  test("begin waits while the collector cleans backends (the backend lock)", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const gc = backendLock(db).exclusive(() => held);
    let done = false;
    const begun = records.beginCreate("default", SN, { key: "a", kind: "active" }).then(() => {
      done = true;
    });
    await Bun.sleep(10);
    expect(done).toBe(false);
    release();
    await gc;
    await begun;
    expect(done).toBe(true);
  });
});

describe("containerd's errors", () => {
  test("labels are validated before anything; an empty key is refused once the number is spent", async () => {
    expect(
      await failure(
        records.beginCreate("d", SN, { key: "a", kind: "active", labels: { ["x".repeat(5000)]: "v" } }),
      ),
    ).toEqual({
      kind: Kind.InvalidArgument,
      message:
        "info.Labels: label key and value greater than maximum size (4096 bytes), key: xxxxxxxxxx: invalid argument",
    });
    expect(sequence("d")).toBeUndefined();
    expect(
      await failure(records.beginCreate("d", SN, { key: "a", kind: "active", labels: { a: "", "": "v" } })),
    ).toEqual({ kind: Kind.Unknown, message: 'failed to set label ""="v": key required' });
    expect(sequence("d")).toBe(1);
    expect(await records.list("d", SN)).toEqual([]);
  });

  test("an empty key is refused after the number is spent", async () => {
    expect(await failure(records.beginCreate("d", SN, { key: "", kind: "active" }))).toEqual({
      kind: Kind.Unknown,
      message: "bucket name required",
    });
    expect(sequence("d")).toBe(1);
  });

  test("a missing lease fails a create after its number is spent, a commit before", async () => {
    expect(await failure(records.beginCreate("d", SN, { key: "a", kind: "active", lease: "nope" }))).toEqual({
      kind: Kind.NotFound,
      message: "lease does not exist: not found",
    });
    expect(sequence("d")).toBe(1);
    await created("d", { key: "a", kind: "active" });
    expect(await failure(records.beginCommit("d", SN, { name: "a1", key: "zz", lease: "nope" }))).toEqual({
      kind: Kind.NotFound,
      message: "lease does not exist: not found",
    });
    expect(sequence("d")).toBe(2);
  });

  test("commit checks, in containerd's order", async () => {
    expect(await failure(records.beginCommit("fresh", SN, { name: "a", key: "b" }))).toEqual({
      kind: Kind.NotFound,
      message: 'can not find snapshotter "overlayfs": not found',
    });
    await committed("d", "done");
    expect(await failure(records.beginCommit("d", SN, { name: "done", key: "nope" }))).toEqual({
      kind: Kind.AlreadyExists,
      message: 'snapshot "done": already exists',
    });
    expect(await failure(records.beginCommit("d", SN, { name: "", key: "done" }))).toEqual({
      kind: Kind.Unknown,
      message: "bucket name required",
    });
    expect(await failure(records.beginCommit("d", SN, { name: "x", key: "nokey" }))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot nokey does not exist: not found",
    });
    expect(
      await failure(records.beginCommit("d", SN, { name: "x", key: "done", labels: { "": "v" } })),
    ).toMatchObject({ kind: Kind.Unknown });
    expect(sequence("d")).toBe(2);
  });

  test("remove: not found, and not while a child (even one being created) names it", async () => {
    expect(await failure(records.remove("d", SN, "zz"))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot zz does not exist: not found",
    });
    await committed("d", "base");
    const child = await records.beginCreate("d", SN, { key: "c", parent: "base", kind: "active" });
    expect(await failure(records.remove("d", SN, "base"))).toEqual({
      kind: Kind.FailedPrecondition,
      message: "cannot remove snapshot with child: failed precondition",
    });
    await records.finishCreate("d", SN, child);
    expect(await failure(records.remove("d", SN, "base"))).toMatchObject({ kind: Kind.FailedPrecondition });
    notices = [];
    expect(await records.remove("d", SN, "c")).toEqual({ backendName: "d/3/c" });
    expect(notices).toEqual([{ snapshotter: SN, backendName: "d/3/c" }]);
    await records.remove("d", SN, "base");
    expect(await records.list("d", SN)).toEqual([]);
  });

  test("a failed prepare in a new namespace does not create it", async () => {
    await failure(records.beginCreate("fresh", SN, { key: "a", parent: "nope", kind: "active" }));
    expect(read(db, (tx) => tx.select().from(snapshotSequences).all())).toEqual([]);
    expect(db.$client.query("SELECT name FROM namespaces").all()).toEqual([]);
  });
});

describe("namespaces", () => {
  test("a key in one namespace is invisible in another; the same key maps to two backend snapshots", async () => {
    await committed("a", "sha256:chain");
    expect(await failure(records.get("b", SN, "sha256:chain"))).toMatchObject({ kind: Kind.NotFound });
    expect(await records.list("b", SN)).toEqual([]);
    expect(await failure(records.remove("b", SN, "sha256:chain"))).toMatchObject({ kind: Kind.NotFound });
    expect(
      await failure(records.beginCreate("b", SN, { key: "x", parent: "sha256:chain", kind: "active" })),
    ).toMatchObject({ kind: Kind.NotFound });
    await committed("b", "sha256:chain");
    expect((await records.get("a", SN, "sha256:chain")).backendName).toBe("a/2/sha256:chain");
    expect((await records.get("b", SN, "sha256:chain")).backendName).toBe("b/2/sha256:chain");
  });

  test("a namespace with snapshots cannot be deleted; its sequence goes with it once empty", async () => {
    await created("gone", { key: "a", kind: "active" });
    expect(() => write(db, (tx) => deleteNamespace(tx, "gone"))).toThrow(
      'namespace "gone" must be empty, but it still has snapshots on "overlayfs" snapshotter',
    );
    await records.remove("gone", SN, "a");
    write(db, (tx) => deleteNamespace(tx, "gone"));
    expect(sequence("gone")).toBeUndefined();
  });
});

describe("leases (the containerd-lease header)", () => {
  test("create and commit join the caller's lease; commit moves it from key to name; remove leaves it", async () => {
    write(db, (tx) => createLease(tx, "default", "pull"));
    const lease = "pull";
    const r = await records.beginCreate("default", SN, { key: "extract-1", kind: "active", lease });
    await records.finishCreate("default", SN, r);
    const c = await records.beginCommit("default", SN, { name: "sha256:l1", key: "extract-1", lease });
    const resources = () => read(db, (tx) => listLeaseResources(tx, "default", "pull"));
    expect(resources()).toEqual([
      { type: "snapshots/overlayfs", id: "extract-1" },
      { type: "snapshots/overlayfs", id: "sha256:l1" },
    ]);
    await records.finishCommit("default", SN, c);
    expect(resources()).toEqual([{ type: "snapshots/overlayfs", id: "sha256:l1" }]);
    await records.remove("default", SN, "sha256:l1", { lease });
    expect(resources()).toEqual([]);
  });

  test("an aborted commit leaves the lease as it was", async () => {
    write(db, (tx) => createLease(tx, "default", "l"));
    await created("default", { key: "a", kind: "active", lease: "l" });
    const c = await records.beginCommit("default", SN, { name: "a1", key: "a", lease: "l" });
    await records.abortCommit("default", SN, c);
    expect(read(db, (tx) => listLeaseResources(tx, "default", "l"))).toEqual([
      { type: "snapshots/overlayfs", id: "a" },
    ]);
  });

  test("a prepare whose snapshot.ref target exists leases the target and answers AlreadyExists", async () => {
    write(db, (tx) => createLease(tx, "default", "l"));
    await committed("default", "sha256:chain");
    const before = sequence("default");
    expect(
      await failure(
        records.beginCreate("default", SN, {
          key: "extract-2",
          parent: "",
          kind: "active",
          labels: { "containerd.io/snapshot.ref": "sha256:chain" },
          lease: "l",
        }),
      ),
    ).toEqual({ kind: Kind.AlreadyExists, message: 'target snapshot "sha256:chain": already exists' });
    expect(read(db, (tx) => listLeaseResources(tx, "default", "l"))).toEqual([
      { type: "snapshots/overlayfs", id: "sha256:chain" },
    ]);
    expect(sequence("default")).toBe(before);
    // A target the namespace does not have is only a label.
    const r = await records.beginCreate("default", SN, {
      key: "extract-3",
      kind: "active",
      labels: { "containerd.io/snapshot.ref": "sha256:other" },
    });
    expect((await records.finishCreate("default", SN, r)).labels).toEqual({
      "containerd.io/snapshot.ref": "sha256:other",
    });
  });
});

describe("update", () => {
  test("labels, replaced or by field path; other paths and an empty name are refused", async () => {
    await created("d", { key: "a", kind: "active", labels: { keep: "1", drop: "2" } });
    expect(
      (
        await records.update("d", SN, { name: "a", labels: { drop: "", add: "3" } }, [
          "labels.drop",
          "labels.add",
        ])
      ).labels,
    ).toEqual({ keep: "1", add: "3" });
    expect(
      (await records.update("d", SN, { name: "a", labels: { missing: "x" } }, ["labels.keep"])).labels,
    ).toEqual({ add: "3" });
    const replaced = await records.update("d", SN, { name: "a", labels: { only: "1" } });
    expect(replaced.labels).toEqual({ only: "1" });
    expect(replaced.updatedAt.getTime()).toBeGreaterThanOrEqual(replaced.createdAt.getTime());
    expect((await records.update("d", SN, { name: "a" }, ["labels"])).labels).toEqual({});
    expect(await failure(records.update("d", SN, { name: "a" }, ["kind"]))).toEqual({
      kind: Kind.InvalidArgument,
      message: 'cannot update "kind" field on snapshot "a": invalid argument',
    });
    expect(await failure(records.update("d", SN, { name: "" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "invalid argument",
    });
    expect(await failure(records.update("d", SN, { name: "nope", labels: { a: "b" } }))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot nope does not exist: not found",
    });
    expect(await failure(records.update("d", SN, { name: "a", labels: { "": "v" } }))).toEqual({
      kind: Kind.Unknown,
      message: 'failed to read labels: failed to set label ""="v": key required',
    });
  });
});

describe("list", () => {
  test("by key byte order, with containerd's snapshot filters", async () => {
    await committed("d", "base", undefined, { tier: "base" });
    await created("d", { key: "B-work", parent: "base", kind: "active", labels: { tier: "top" } });
    await created("d", { key: "view", parent: "base", kind: "view" });
    const names = async (...filters: string[]) => (await records.list("d", SN, filters)).map((r) => r.key);
    expect(await names()).toEqual(["B-work", "base", "view"]);
    expect(await names("kind==committed")).toEqual(["base"]);
    expect(await names("parent==base")).toEqual(["B-work", "view"]);
    expect(await names('parent==""')).toEqual(["base"]);
    expect(await names("labels.tier==top", "kind==view")).toEqual(["B-work", "view"]);
    expect(await names("labels.tier")).toEqual(["B-work", "base"]);
    expect(await names("name~=^b")).toEqual(["base"]);
    expect(await names("name==view,kind==active")).toEqual([]);
  });

  test("page walks the records in batches", async () => {
    for (let i = 0; i < 5; i++) await created("d", { key: `k${i}`, kind: "active" });
    await records.beginCreate("d", SN, { key: "k2a", kind: "active" }); // pending: skipped
    const first = await records.page("d", SN, { limit: 2 });
    expect(first.map((r) => r.key)).toEqual(["k0", "k1"]);
    expect((await records.page("d", SN, { after: "k1", limit: 2 })).map((r) => r.key)).toEqual(["k2", "k3"]);
    expect((await records.page("d", SN, { after: "k3", limit: 2 })).map((r) => r.key)).toEqual(["k4"]);
  });
});

describe("collector notices", () => {
  test("writes say mutated; remove and an orphaning abort name the backend snapshot", async () => {
    const r = await records.beginCreate("d", SN, { key: "a", kind: "active" });
    await records.abortCreate("d", SN, r, { orphan: true });
    const c = await records.beginCreate("d", SN, { key: "b", kind: "active" });
    await records.finishCreate("d", SN, c);
    await records.update("d", SN, { name: "b", labels: { x: "1" } });
    await records.remove("d", SN, "b");
    expect(notices).toEqual([
      "mutated",
      { snapshotter: SN, backendName: "d/1/a" },
      "mutated",
      "mutated",
      "mutated",
      { snapshotter: SN, backendName: "d/2/b" },
    ]);
  });
});

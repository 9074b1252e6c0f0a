import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { Kind, type Publisher, toBunkerError, unavailable } from "@bunkerd/plugin-api";
import {
  SnapshotCommitSchema,
  SnapshotPrepareSchema,
  SnapshotRemoveSchema,
} from "@bunkerd/proto/containerd/events/snapshot_pb.ts";
import { collect } from "../../plugins/gc/collect.ts";
import { type MetadataDb, openMetadata, read, write } from "../../plugins/metadata/db.ts";
import { createLease, listLeaseResources } from "../../plugins/metadata/leases.ts";
import { snapshots } from "../../plugins/metadata/schema.ts";
import { SnapshotRecords } from "../../plugins/metadata/snapshot-records.ts";
import { snapshotterBackends } from "./gc-backend.ts";
import { SnapshotsService } from "./snapshotters.ts";
import { NamespacedSnapshotter, type Records, type Scope } from "./store.ts";
import { MemorySnapshotter, overPort } from "./testkit.ts";

let dir: string;
let db: MetadataDb;
let records: Records;
let closePort: () => void;
let overlay: MemorySnapshotter;
let native: MemorySnapshotter;
let events: { namespace: string; topic: string; event: Record<string, unknown> }[];
let publisher: Publisher;
let service: SnapshotsService;

const d: Scope = { namespace: "default" };
const SCHEMAS = {
  "/snapshot/prepare": SnapshotPrepareSchema,
  "/snapshot/commit": SnapshotCommitSchema,
  "/snapshot/remove": SnapshotRemoveSchema,
} as const;

function build(recs: Records = records) {
  return new SnapshotsService([
    new NamespacedSnapshotter("overlayfs", overlay, recs, publisher),
    new NamespacedSnapshotter("native", native, recs, publisher),
  ]);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bunkerd-snapshots-"));
  db = openMetadata(join(dir, "meta.db"));
  // The records live in the metadata worker: reach them over a real port, as the service does.
  const port = overPort(new SnapshotRecords(db));
  records = port.proxy as unknown as Records;
  closePort = port.close;
  overlay = new MemorySnapshotter("/root/io.containerd.snapshotter.v1.overlayfs/snapshots");
  native = new MemorySnapshotter();
  events = [];
  publisher = {
    async publish(namespace, topic, ev) {
      const schema = SCHEMAS[topic as keyof typeof SCHEMAS];
      expect(ev.typeUrl).toBe(schema.typeName);
      const { $typeName: _, ...event } = fromBinary(schema, ev.value) as Record<string, unknown>;
      events.push({ namespace, topic, event });
    },
  };
  service = build();
});
afterEach(() => {
  closePort();
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const sn = (name = "overlayfs") => service.get(name);

async function failure(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = toBunkerError(e);
    return { kind: err.kind, message: err.message };
  }
  throw new Error("expected a failure");
}

/** A records proxy whose `method` fails as a dead metadata worker would. */
function failing(method: keyof Records): Records {
  return new Proxy(records, {
    get: (t, p) =>
      p === method
        ? async () => {
            throw unavailable("metadata worker gone");
          }
        : Reflect.get(t, p),
  });
}

const all = async (it: AsyncIterable<{ name: string }>) => {
  const out: string[] = [];
  for await (const i of it) out.push(i.name);
  return out;
};

describe("keys and backend names", () => {
  test("a layer chain: user keys above, <namespace>/<seq>/<key> below, mounts as the backend gives them", async () => {
    const m1 = await sn().prepare(d, "extract-1", "");
    expect(m1).toEqual([
      {
        type: "bind",
        source: "/root/io.containerd.snapshotter.v1.overlayfs/snapshots/1",
        options: ["rw", "rbind"],
      },
    ]);
    await sn().commit(d, "sha256:l1", "extract-1");
    await sn().prepare(d, "extract-2", "sha256:l1");
    await sn().commit(d, "sha256:l2", "extract-2");
    const view = await sn().view(d, "rootfs-view", "sha256:l2");
    expect(view[0]!.options).toEqual(["ro", "rbind"]);
    expect(overlay.keys()).toEqual(["default/2/sha256:l1", "default/4/sha256:l2", "default/5/rootfs-view"]);
    expect(overlay.snapshots.get("default/4/sha256:l2")!.info.parent).toBe("default/2/sha256:l1");
    expect(await sn().stat(d, "rootfs-view")).toMatchObject({
      name: "rootfs-view",
      parent: "sha256:l2",
      kind: "view",
    });
    expect(await sn().stat(d, "sha256:l1")).toMatchObject({ name: "sha256:l1", kind: "committed" });
    expect((await sn().stat(d, "sha256:l1")).parent).toBeUndefined();
    expect(await sn().mounts(d, "rootfs-view")).toEqual(view);
    expect(await sn().usage(d, "sha256:l2")).toEqual({ size: 4096, inodes: 1 });
    expect(native.keys()).toEqual([]);
  });

  test("namespaces share nothing: the same chain ID is two backend snapshots, one invisible to the other", async () => {
    const a: Scope = { namespace: "a" };
    const b: Scope = { namespace: "b" };
    await sn().prepare(a, "x", "");
    await sn().commit(a, "sha256:chain", "x");
    expect(await failure(sn().stat(b, "sha256:chain"))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot sha256:chain does not exist: not found",
    });
    expect(await failure(sn().mounts(b, "sha256:chain"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(sn().usage(b, "sha256:chain"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(sn().remove(b, "sha256:chain"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(sn().prepare(b, "y", "sha256:chain"))).toEqual({
      kind: Kind.NotFound,
      message: "parent snapshot sha256:chain does not exist: not found",
    });
    expect(await all(sn().walk(b))).toEqual([]);
    await sn().prepare(b, "x", "");
    await sn().commit(b, "sha256:chain", "x");
    expect(overlay.keys()).toEqual(["a/2/sha256:chain", "b/2/sha256:chain"]);
  });

  test("each snapshotter keeps its own records", async () => {
    await sn("native").prepare(d, "k", "");
    expect(await failure(sn("overlayfs").stat(d, "k"))).toMatchObject({ kind: Kind.NotFound });
    expect((await sn("native").stat(d, "k")).kind).toBe("active");
    expect(native.keys()).toEqual(["default/1/k"]);
  });
});

describe("containerd's errors", () => {
  test("metadata checks answer first; the backend's own errors pass through with its keys", async () => {
    await sn().prepare(d, "a", "");
    expect(await failure(sn().prepare(d, "a", ""))).toEqual({
      kind: Kind.AlreadyExists,
      message: 'snapshot "a": already exists',
    });
    expect(await failure(sn().prepare(d, "b", "a"))).toEqual({
      kind: Kind.InvalidArgument,
      message: 'failed to create snapshot: parent "default/1/a" is not committed snapshot: invalid argument',
    });
    expect(await failure(sn().view(d, "v1", "a"))).toEqual({
      kind: Kind.InvalidArgument,
      message: 'failed to create snapshot: parent "default/1/a" is not committed snapshot: invalid argument',
    });
    await sn().commit(d, "a1", "a");
    expect(await failure(sn().commit(d, "a1", "a"))).toEqual({
      kind: Kind.AlreadyExists,
      message: 'snapshot "a1": already exists',
    });
    expect(await failure(sn().commit(d, "a2", "nokey"))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot nokey does not exist: not found",
    });
    expect(await failure(sn().commit(d, "c1", "a1"))).toEqual({
      kind: Kind.FailedPrecondition,
      message: 'failed to commit snapshot: snapshot "default/4/a1" is not active: failed precondition',
    });
    await sn().prepare(d, "c", "a1"); // the failed commit gave its number back: 5
    expect(overlay.keys()).toContain("default/5/c");
    expect(await failure(sn().remove(d, "a1"))).toEqual({
      kind: Kind.FailedPrecondition,
      message: "cannot remove snapshot with child: failed precondition",
    });
    expect(await failure(sn().mounts(d, "a1"))).toEqual({
      kind: Kind.FailedPrecondition,
      message:
        "failed to get snapshot mount: requested snapshot default/4/a1 not active or view: failed precondition",
    });
    expect(await failure(sn().commit(d, "x", "y"))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot y does not exist: not found",
    });
    expect(await failure(sn().commit({ namespace: "fresh" }, "a", "b"))).toEqual({
      kind: Kind.NotFound,
      message: 'can not find snapshotter "overlayfs": not found',
    });
  });

  test("an unknown or missing snapshotter is InvalidArgument, as containerd words it", () => {
    expect(() => service.get("")).toThrow("snapshotter argument missing: invalid argument");
    expect(() => service.get("zfs")).toThrow("snapshotter not loaded: zfs: invalid argument");
    expect(service.names()).toEqual(["native", "overlayfs"]);
  });

  test("Cleanup is NotImplemented, even for a backend that has one (containerd 1.6); the collector's runs it", async () => {
    let cleaned = 0;
    const withCleanup = new MemorySnapshotter("/x", { cleanup: async () => void cleaned++ });
    const svc = new SnapshotsService([new NamespacedSnapshotter("overlayfs", withCleanup, records)]);
    expect(await failure(svc.get("overlayfs").cleanup())).toEqual({
      kind: Kind.NotImplemented,
      message: "snapshotter does not implement Cleanup method: not implemented",
    });
    expect(cleaned).toBe(0);
    await svc.cleanupBackend("overlayfs");
    await service.cleanupBackend("native"); // none: nothing to do
    expect(cleaned).toBe(1);
  });

  test("a backend that claims a brand-new backend name exists is an unexpected error", async () => {
    overlay.before("prepare", (key) => {
      overlay.snapshots.set(key, {
        id: 99,
        info: { name: key, kind: "active", labels: {}, created: new Date(), updated: new Date() },
      });
    });
    expect(await failure(sn().prepare(d, "a", ""))).toEqual({
      kind: Kind.Unknown,
      message:
        "unexpected error from snapshotter: failed to create snapshot: snapshot default/1/a: already exists: unknown",
    });
  });
});

describe("labels", () => {
  test("the backend keeps only the inherited labels; Stat shows both, the record's winning", async () => {
    const labels = {
      "containerd.io/gc.root": "now",
      "containerd.io/snapshot/remote": "yes",
      "containerd.io/snapshot.ref": "sha256:target",
    };
    await sn().prepare(d, "a", "", { labels });
    expect(overlay.snapshots.get("default/1/a")!.info.labels).toEqual({
      "containerd.io/snapshot/remote": "yes",
      "containerd.io/snapshot.ref": "sha256:target",
    });
    overlay.snapshots.get("default/1/a")!.info.labels["containerd.io/snapshot/backend-only"] = "b";
    expect((await sn().stat(d, "a")).labels).toEqual({
      ...labels,
      "containerd.io/snapshot/backend-only": "b",
    });
    await sn().commit(d, "a1", "a", { labels: { "containerd.io/snapshot/x": "1", plain: "2" } });
    expect(overlay.snapshots.get("default/2/a1")!.info.labels).toEqual({ "containerd.io/snapshot/x": "1" });
    expect((await sn().stat(d, "a1")).labels).toEqual({ "containerd.io/snapshot/x": "1", plain: "2" });
  });

  test("update: field paths reach both; the backend gets the inherited labels only", async () => {
    await sn().prepare(d, "a", "", { labels: { keep: "1", "containerd.io/snapshot/z": "0" } });
    const info = await sn().update(d, { name: "a", labels: { q: "1", "containerd.io/snapshot/z": "2" } }, [
      "labels.q",
      "labels.containerd.io/snapshot/z",
    ]);
    expect(info.labels).toEqual({ keep: "1", q: "1", "containerd.io/snapshot/z": "2" });
    expect(overlay.snapshots.get("default/1/a")!.info.labels).toEqual({ "containerd.io/snapshot/z": "2" });
    const replaced = await sn().update(d, { name: "a", labels: { w: "1" } });
    expect(replaced.labels).toEqual({ w: "1" });
    expect(overlay.snapshots.get("default/1/a")!.info.labels).toEqual({});
    expect(replaced.updated.getTime()).toBeGreaterThanOrEqual(replaced.created.getTime());
    expect(await failure(sn().update(d, { name: "a" }, ["kind"]))).toEqual({
      kind: Kind.InvalidArgument,
      message: 'cannot update "kind" field on snapshot "a": invalid argument',
    });
    expect(await failure(sn().update(d, { name: "" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "invalid argument",
    });
  });
});

describe("walk", () => {
  test("by key, kinds from the backend, with containerd's filters", async () => {
    await sn().prepare(d, "base-x", "", { labels: { tier: "base" } });
    await sn().commit(d, "base", "base-x", { labels: { tier: "base" } });
    await sn().prepare(d, "work", "base", { labels: { tier: "top" } });
    await sn().view(d, "look", "base");
    expect(await all(sn().walk(d))).toEqual(["base", "look", "work"]);
    expect(await all(sn().walk(d, ["kind==active"]))).toEqual(["work"]);
    expect(await all(sn().walk(d, ["kind==view", "kind==committed"]))).toEqual(["base", "look"]);
    expect(await all(sn().walk(d, ["parent==base,labels.tier==top"]))).toEqual(["work"]);
    expect(await all(sn().walk(d, ["labels.tier"]))).toEqual(["base", "work"]);
    expect(await all(sn().walk(d, ["name~=^l"]))).toEqual(["look"]);
    expect(await failure(all(sn().walk(d, ["name~="])))).toMatchObject({ kind: Kind.InvalidArgument });
  });

  test("past one batch, and skipping a record whose backend snapshot is gone", async () => {
    for (let i = 0; i < 230; i++) await sn("native").prepare(d, `k${String(i).padStart(3, "0")}`, "");
    native.snapshots.delete("default/8/k007");
    const names = await all(sn("native").walk(d));
    expect(names.length).toBe(229);
    expect(names[0]).toBe("k000");
    expect(names).not.toContain("k007");
    expect(names.at(-1)).toBe("k229");
  });
});

describe("leases (containerd-lease)", () => {
  test("prepare and commit lease the snapshot; a missing lease leaves the backend untouched", async () => {
    write(db, (tx) => createLease(tx, "default", "pull"));
    const leased: Scope = { namespace: "default", lease: "pull" };
    await sn().prepare(leased, "extract", "");
    await sn().commit(leased, "sha256:l1", "extract");
    expect(read(db, (tx) => listLeaseResources(tx, "default", "pull"))).toEqual([
      { type: "snapshots/overlayfs", id: "sha256:l1" },
    ]);
    expect(await failure(sn().prepare({ namespace: "default", lease: "nope" }, "x", ""))).toEqual({
      kind: Kind.NotFound,
      message: "lease does not exist: not found",
    });
    expect(overlay.keys()).toEqual(["default/2/sha256:l1"]);
    await sn().remove(leased, "sha256:l1");
    expect(read(db, (tx) => listLeaseResources(tx, "default", "pull"))).toEqual([]);
  });

  test("a snapshot.ref target the namespace has: leased, AlreadyExists, nothing prepared", async () => {
    write(db, (tx) => createLease(tx, "default", "pull"));
    await sn().prepare(d, "x", "");
    await sn().commit(d, "sha256:chain", "x");
    const calls = overlay.calls.length;
    expect(
      await failure(
        sn().prepare({ namespace: "default", lease: "pull" }, "extract-9", "", {
          labels: { "containerd.io/snapshot.ref": "sha256:chain" },
        }),
      ),
    ).toEqual({ kind: Kind.AlreadyExists, message: 'target snapshot "sha256:chain": already exists' });
    expect(overlay.calls.length).toBe(calls);
    expect(read(db, (tx) => listLeaseResources(tx, "default", "pull"))).toEqual([
      { type: "snapshots/overlayfs", id: "sha256:chain" },
    ]);
  });
});

describe("events", () => {
  test("prepare, commit and remove publish in the call's namespace; view and failures do not", async () => {
    const ns: Scope = { namespace: "team" };
    await sn().prepare(ns, "a", "");
    await sn().commit(ns, "a1", "a");
    await sn().view(ns, "v", "a1");
    await sn().remove(ns, "v");
    await failure(sn().prepare(ns, "a1", ""));
    await failure(sn().remove(ns, "nope"));
    expect(events).toEqual([
      {
        namespace: "team",
        topic: "/snapshot/prepare",
        event: { key: "a", parent: "", snapshotter: "overlayfs" },
      },
      {
        namespace: "team",
        topic: "/snapshot/commit",
        event: { key: "a", name: "a1", snapshotter: "overlayfs" },
      },
      { namespace: "team", topic: "/snapshot/remove", event: { key: "v", snapshotter: "overlayfs" } },
    ]);
  });
});

describe("a crash between the phases", () => {
  const pendingRows = () =>
    read(db, (tx) => tx.select().from(snapshots).all())
      .filter((r) => r.pending !== null)
      .map((r) => r.key);

  test("backend refused: the reservation goes, the number stays spent", async () => {
    overlay.before("prepare", () => {
      throw new Error("disk full");
    });
    expect(await failure(sn().prepare(d, "a", ""))).toEqual({ kind: Kind.Unknown, message: "disk full" });
    expect(pendingRows()).toEqual([]);
    await sn().prepare(d, "a", "");
    expect(overlay.keys()).toEqual(["default/2/a"]);
  });

  test("prepared but never confirmed: hidden, and rolled back when the service starts again", async () => {
    const broken = build(failing("finishCreate"));
    expect(await failure(broken.get("overlayfs").prepare(d, "a", ""))).toMatchObject({
      kind: Kind.Unavailable,
    });
    // The outcome was unknown: nothing was undone, nothing is visible.
    expect(overlay.keys()).toEqual(["default/1/a"]);
    expect(pendingRows()).toEqual(["a"]);
    expect(await failure(sn().stat(d, "a"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(sn().prepare(d, "a", ""))).toMatchObject({ kind: Kind.AlreadyExists });
    await build().recover();
    expect(overlay.keys()).toEqual([]);
    expect(pendingRows()).toEqual([]);
    await sn().prepare(d, "a", "");
    expect((await sn().stat(d, "a")).kind).toBe("active");
  });

  test("committed in the backend but never confirmed: rolled forward", async () => {
    await sn().prepare(d, "a", "");
    const broken = build(failing("finishCommit"));
    await failure(broken.get("overlayfs").commit(d, "a1", "a"));
    expect(overlay.keys()).toEqual(["default/2/a1"]);
    // Until then "a" names a consumed backend snapshot (Walk skips it) and "a1" is hidden.
    expect(await all(sn().walk(d))).toEqual([]);
    await build().recover();
    expect(await all(sn().walk(d))).toEqual(["a1"]);
    expect((await sn().stat(d, "a1")).kind).toBe("committed");
    expect(pendingRows()).toEqual([]);
  });

  test("reserved but the backend never committed: rolled back, the key still active", async () => {
    await sn().prepare(d, "a", "");
    overlay.before("commit", () => {
      throw unavailable("snapshotter worker gone");
    });
    const broken = build(failing("abortCommit"));
    await failure(broken.get("overlayfs").commit(d, "a1", "a"));
    expect(pendingRows()).toEqual(["a1"]);
    await build().recover();
    expect(pendingRows()).toEqual([]);
    expect(await all(sn().walk(d))).toEqual(["a"]);
    await sn().commit(d, "a1", "a");
    expect(overlay.keys()).toEqual(["default/2/a1"]);
  });

  test("the collector took an unleased reservation meanwhile: the backend snapshot is removed again", async () => {
    overlay.before("prepare", () => {
      write(db, (tx) => tx.delete(snapshots).run());
    });
    expect(await failure(sn().prepare(d, "a", ""))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot a does not exist: not found",
    });
    expect(overlay.keys()).toEqual([]);
  });
});

describe("with the collector", () => {
  async function gc() {
    const port = overPort(service);
    try {
      return await collect(
        db,
        { snapshotters: await snapshotterBackends(port.proxy) },
        // As the scheduler does after a restart: every backend is walked.
        { dirty: { all: true, snapshotters: new Map() } },
      );
    } finally {
      port.close();
    }
  }

  test("a removed snapshot's backend goes at the next collection; unreferenced ones too, children first", async () => {
    await sn().prepare(d, "a", "", { labels: { "containerd.io/gc.root": "x" } });
    await sn().commit(d, "a1", "a", { labels: { "containerd.io/gc.root": "x" } });
    await sn().prepare(d, "c", "a1", { labels: { "containerd.io/gc.root": "x" } });
    await sn().remove(d, "c");
    await gc();
    expect(overlay.keys()).toEqual(["default/2/a1"]);
    await sn().update(d, { name: "a1", labels: {} });
    await sn().prepare(d, "c2", "a1");
    const stats = await gc();
    expect(stats.snapshots).toBe(2);
    expect(overlay.keys()).toEqual([]);
  });

  test("a leased reservation's backend snapshot survives a collection in the middle of its prepare", async () => {
    write(db, (tx) => createLease(tx, "default", "pull"));
    overlay.before("prepare", async () => {
      await gc();
    });
    // The collection runs after the reservation, before the backend made anything; then another
    // runs after the backend, before the confirmation.
    let second: Promise<unknown> | undefined;
    const origFinish = records.finishCreate;
    const slow = new Proxy(records, {
      get: (t, p) =>
        p === "finishCreate"
          ? async (...args: Parameters<Records["finishCreate"]>) => {
              second = gc();
              await second;
              return origFinish(...args);
            }
          : Reflect.get(t, p),
    });
    const svc = build(slow);
    await svc.get("overlayfs").prepare({ namespace: "default", lease: "pull" }, "extract", "");
    expect(second).toBeDefined();
    expect(overlay.keys()).toEqual(["default/1/extract"]);
    expect((await sn().stat(d, "extract")).kind).toBe("active");
  });

  test("an orphan backend snapshot (no record at all) is found by the walk", async () => {
    await overlay.prepare("default/77/crashed");
    await sn().prepare(d, "kept", "", { labels: { "containerd.io/gc.root": "x" } });
    await gc();
    expect(overlay.keys()).toEqual(["default/1/kept"]);
  });
});

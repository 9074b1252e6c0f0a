import { describe, expect, test } from "bun:test";
import { GcLabel } from "../metadata/index.ts";
import { ORPHAN_GRACE_MS } from "./backends.ts";
import { collect } from "./collect.ts";
import { backendLock } from "./lock.ts";
import {
  digest as d,
  fakeContent,
  fakeSnapshotter,
  HOUR,
  left,
  memoryLog,
  rfc3339In,
  seed,
} from "./testkit.ts";

const ref = (name = "") => (name ? `${GcLabel.contentRef}.${name}` : GcLabel.contentRef);
const snapRef = (snapshotter: string, name = "") =>
  `${GcLabel.snapshotRef}${snapshotter}${name ? `/${name}` : ""}`;

type Case = {
  name: string;
  seed: (s: ReturnType<typeof seed>) => unknown;
  content?: string[];
  snapshots?: string[];
  ingests?: string[];
  leases?: string[];
};

// Each case: the records, and what is left after one collection (in the namespace "a" unless named).
const cases: Case[] = [
  {
    name: "an image keeps its index, manifest, config and layers through gc.ref.content labels",
    seed: (s) =>
      s
        .image("a", "docker.io/library/busybox:latest", d(1))
        .content("a", d(1), { [ref("m.0")]: d(2) })
        .content("a", d(2), { [ref("config")]: d(3), [ref("l.0")]: d(4), [ref("l.1")]: d(5) })
        .content("a", d(3))
        .content("a", d(4))
        .content("a", d(5))
        .content("a", d(6)),
    content: [d(1), d(2), d(3), d(4), d(5)],
  },
  {
    name: "label forms: the bare label, .name and /name refer; anything else after the prefix does not",
    seed: (s) =>
      s
        .image("a", "i", d(1))
        .content("a", d(1), {
          [GcLabel.contentRef]: d(2),
          [`${GcLabel.contentRef}/named`]: d(3),
          [`${GcLabel.contentRef}bad`]: d(4),
          "containerd.io/gc.ref.contents": d(5),
        })
        .content("a", d(2))
        .content("a", d(3))
        .content("a", d(4))
        .content("a", d(5)),
    content: [d(1), d(2), d(3)],
  },
  {
    name: "unreferenced content is removed; a reference to a missing record is a dead edge",
    seed: (s) =>
      s
        .image("a", "i", d(9), { [ref("x")]: d(8) })
        .content("a", d(1), { [ref()]: d(2) })
        .content("a", d(2)),
    content: [],
  },
  {
    name: "a live lease keeps its content and what it references; an expired one is removed with its hold",
    seed: (s) =>
      s
        .lease("a", "live", { [GcLabel.expire]: rfc3339In(HOUR) }, [["content", d(1)]])
        .lease("a", "forever", {}, [["content", d(3)]])
        .lease("a", "expired", { [GcLabel.expire]: rfc3339In(-HOUR) }, [["content", d(4)]])
        .content("a", d(1), { [ref()]: d(2) })
        .content("a", d(2))
        .content("a", d(3))
        .content("a", d(4)),
    content: [d(1), d(2), d(3)],
    leases: ["forever", "live"],
  },
  {
    name: "an unreadable expiry keeps the lease, as containerd does",
    seed: (s) =>
      s.lease("a", "odd", { [GcLabel.expire]: "tomorrow" }, [["content", d(1)]]).content("a", d(1)),
    content: [d(1)],
    leases: ["odd"],
  },
  {
    name: "a flat lease holds its own content, not what the content references",
    seed: (s) =>
      s
        .lease("a", "flat", { [GcLabel.flat]: "1" }, [["content", d(1)]])
        .content("a", d(1), { [ref()]: d(2) })
        .content("a", d(2)),
    content: [d(1)],
    leases: ["flat"],
  },
  {
    name: "content held flat and also reached plainly still has its references followed",
    seed: (s) =>
      s
        .lease("a", "flat", { [GcLabel.flat]: "" }, [["content", d(1)]])
        .image("a", "i", d(1))
        .content("a", d(1), { [ref()]: d(2) })
        .content("a", d(2)),
    content: [d(1), d(2)],
    leases: ["flat"],
  },
  {
    name: "a flat lease keeps a snapshot's parents but not its labelled references",
    seed: (s) =>
      s
        .lease("a", "flat", { [GcLabel.flat]: "1" }, [["snapshots/overlayfs", "s2"]])
        .snapshot("a", "overlayfs", "s1")
        .snapshot("a", "overlayfs", "s2", {
          parent: "s1",
          labels: { [ref()]: d(1), [snapRef("overlayfs")]: "x" },
        })
        .snapshot("a", "overlayfs", "x")
        .content("a", d(1)),
    snapshots: ["overlayfs/s1", "overlayfs/s2"],
    leases: ["flat"],
  },
  {
    name: "a lease holds snapshots and ingests",
    seed: (s) =>
      s
        .lease("a", "l", {}, [
          ["snapshots/overlayfs", "s1"],
          ["ingests", "pull-1"],
        ])
        .snapshot("a", "overlayfs", "s1")
        .snapshot("a", "native", "s1")
        .ingest("a", "pull-1")
        .ingest("a", "pull-2"),
    snapshots: ["overlayfs/s1"],
    ingests: ["pull-1"],
    leases: ["l"],
  },
  {
    name: "gc.root keeps content and snapshots, with what they reach",
    seed: (s) =>
      s
        .content("a", d(1), { [GcLabel.root]: "always", [ref()]: d(2) })
        .content("a", d(2))
        .content("a", d(3))
        .snapshot("a", "overlayfs", "base")
        .snapshot("a", "overlayfs", "top", { parent: "base", labels: { [GcLabel.root]: "" } })
        .snapshot("a", "overlayfs", "other"),
    content: [d(1), d(2)],
    snapshots: ["overlayfs/base", "overlayfs/top"],
  },
  {
    name: "snapshot chains: parents and gc.ref.snapshot labels (per snapshotter, with names) are followed",
    seed: (s) =>
      s
        .image("a", "i", d(1))
        .content("a", d(1), { [snapRef("overlayfs")]: "l3", [snapRef("native", "x")]: "n1" })
        .snapshot("a", "overlayfs", "l1")
        .snapshot("a", "overlayfs", "l2", { parent: "l1" })
        .snapshot("a", "overlayfs", "l3", { parent: "l2", labels: { [ref()]: d(2) } })
        .content("a", d(2))
        .snapshot("a", "native", "n1")
        .snapshot("a", "native", "l3")
        // An orphaned chain is removed children first (the parent key restricts the other order).
        .snapshot("a", "overlayfs", "o1")
        .snapshot("a", "overlayfs", "o2", { parent: "o1" })
        .snapshot("a", "overlayfs", "o3", { parent: "o2" }),
    content: [d(1), d(2)],
    snapshots: ["native/n1", "overlayfs/l1", "overlayfs/l2", "overlayfs/l3"],
  },
  {
    name: "a container holds its snapshot and what its labels reference",
    seed: (s) =>
      s
        .container("a", "c1", {
          snapshotter: "overlayfs",
          snapshotKey: "c1-rw",
          labels: { [ref("spec")]: d(1), [snapRef("native")]: "extra" },
        })
        .container("a", "c2") // no snapshotter: no snapshot
        .snapshot("a", "overlayfs", "base")
        .snapshot("a", "overlayfs", "c1-rw", { parent: "base" })
        .snapshot("a", "native", "extra")
        .snapshot("a", "overlayfs", "c2")
        .content("a", d(1))
        .content("a", d(2)),
    content: [d(1)],
    snapshots: ["native/extra", "overlayfs/base", "overlayfs/c1-rw"],
  },
  {
    name: "ingests: unexpired ones are roots (with their expected content); unleased or expired ones go",
    seed: (s) =>
      s
        .ingest("a", "future", { expiresAt: new Date(Date.now() + HOUR), expected: d(1) })
        .ingest("a", "past", { expiresAt: new Date(Date.now() - HOUR) })
        .ingest("a", "unleased")
        .ingest("a", "leased", { expected: d(2) })
        .lease("a", "l", {}, [["ingests", "leased"]])
        .content("a", d(1))
        .content("a", d(2))
        .content("a", d(3)),
    content: [d(1), d(2)],
    ingests: ["future", "leased"],
    leases: ["l"],
  },
];

describe("collect: what one collection keeps", () => {
  test.each(cases)("$name", async (c) => {
    const s = seed();
    c.seed(s);
    const before = left(s.db);
    const stats = await collect(s.db);
    const after = left(s.db);
    const inA = (xs: string[] | undefined) => (xs ?? []).map((x) => `a/${x}`).sort();
    expect(after.content).toEqual(inA(c.content));
    expect(after.snapshots).toEqual(inA(c.snapshots));
    expect(after.ingests).toEqual(inA(c.ingests));
    expect(after.leases).toEqual(inA(c.leases));
    expect(stats).toMatchObject({
      content: before.content.length - after.content.length,
      snapshots: before.snapshots.length - after.snapshots.length,
      ingests: before.ingests.length - after.ingests.length,
      leases: before.leases.length - after.leases.length,
      images: 0,
    });
    expect(stats.durationMs).toBeGreaterThanOrEqual(0);
    // A second collection finds nothing more: marking is a fixed point.
    expect(await collect(s.db)).toMatchObject({ content: 0, snapshots: 0, ingests: 0, leases: 0 });
  });

  test("an expired lease's resource rows go with it", async () => {
    const s = seed().lease("a", "old", { [GcLabel.expire]: rfc3339In(-HOUR) }, [
      ["content", d(1)],
      ["ingests", "x"],
    ]);
    expect(left(s.db).leaseResources).toBe(2);
    await collect(s.db);
    expect(left(s.db)).toMatchObject({ leases: [], leaseResources: 0 });
  });

  test("expiry is judged against the time given", async () => {
    const s = seed()
      .lease("a", "l", { [GcLabel.expire]: "2030-01-01T00:00:00Z" }, [["content", d(1)]])
      .content("a", d(1));
    await collect(s.db, {}, { now: new Date("2029-12-31T23:59:59Z") });
    expect(left(s.db).leases).toEqual(["a/l"]);
    await collect(s.db, {}, { now: new Date("2030-01-01T00:00:01Z") });
    expect(left(s.db)).toMatchObject({ leases: [], content: [] });
  });

  test("images are never collected (containerd 1.6)", async () => {
    const s = seed().image("a", "dangling", d(1));
    expect(await collect(s.db)).toMatchObject({ images: 0 });
    expect(s.db.$client.query("SELECT count(*) AS n FROM images").get()).toEqual({ n: 1 });
  });

  test("an invalid expiry is logged at info", async () => {
    const s = seed().lease("a", "odd", { [GcLabel.expire]: "2030-13-01T00:00:00Z" });
    const { log, lines } = memoryLog();
    await collect(s.db, {}, { log });
    expect(lines.find((l) => l.level === "info")).toMatchObject({
      msg: 'ignoring invalid expiration value "2030-13-01T00:00:00Z"',
      fields: { namespace: "a", lease: "odd" },
    });
  });

  test("each collection is logged at debug as `garbage collected` with its stats", async () => {
    const s = seed().content("a", d(1));
    const { log, lines } = memoryLog();
    await collect(s.db, {}, { log });
    const line = lines.find((l) => l.msg === "garbage collected");
    expect(line).toMatchObject({
      level: "debug",
      fields: { content: 1, snapshots: 0, ingests: 0, leases: 0 },
    });
    expect(String(line?.fields?.d)).toMatch(/^[\d.]+(µs|ms|s)$/);
  });
});

describe("collect: namespaces and the shared content store", () => {
  test("the same digest is removed from A and kept in B; its blob goes only when no namespace has it", async () => {
    const s = seed().content("a", d(1)).image("b", "i", d(1)).content("b", d(1));
    const store = fakeContent([d(1)]);
    await collect(s.db, { content: store.backend });
    expect(left(s.db).content).toEqual([`b/${d(1)}`]);
    expect(store.calls).toEqual([]);
    expect(store.blobs.has(d(1))).toBe(true);

    s.db.$client.run("DELETE FROM images");
    await collect(s.db, { content: store.backend });
    expect(left(s.db).content).toEqual([]);
    expect(store.calls).toEqual([["deleteBlob", d(1)]]);
    expect(store.blobs.size).toBe(0);
  });

  test("roots in one namespace do not reach records in another", async () => {
    const s = seed()
      .image("a", "i", d(1))
      .content("a", d(1), { [ref()]: d(2) })
      .content("b", d(2))
      .container("a", "c", { snapshotter: "overlayfs", snapshotKey: "k" })
      .snapshot("b", "overlayfs", "k");
    await collect(s.db);
    expect(left(s.db)).toMatchObject({ content: [`a/${d(1)}`], snapshots: [] });
  });
});

describe("collect: backend cleanup", () => {
  test("removed ingests are aborted by the ref the content store knows", async () => {
    const s = seed()
      .ingest("a", "gone", { backendRef: "b-gone" })
      .ingest("a", "kept", { backendRef: "b-kept", expiresAt: new Date(Date.now() + HOUR) });
    const store = fakeContent();
    expect(await collect(s.db, { content: store.backend })).toMatchObject({ ingests: 1 });
    expect(store.calls).toEqual([["abortIngest", "b-gone"]]);
  });

  test("a blob an ingest still expects is kept, even with no content record", async () => {
    const s = seed().ingest("a", "w", { expiresAt: new Date(Date.now() + HOUR), expected: d(2) });
    const store = fakeContent([d(1), d(2)]);
    await collect(s.db, { content: store.backend }, { dirty: { all: true, snapshotters: new Map() } });
    expect([...store.blobs]).toEqual([d(2)]);
  });

  test("a crash between the record transaction and the blob deletion is recovered by the blob walk", async () => {
    const s = seed().image("a", "i", d(1)).content("a", d(1)).content("a", d(2)).content("a", d(3));
    // The "crash": the records commit, the content store is never reached.
    expect(await collect(s.db, {})).toMatchObject({ content: 2 });
    const store = fakeContent([d(1), d(2), d(3), d(4)]);
    // After the restart nothing is dirty in memory: a plain collection leaves the blobs alone...
    await collect(s.db, { content: store.backend });
    expect(store.calls).toEqual([]);
    // ...and the first collection of a new scheduler walks every backend against the records.
    await collect(s.db, { content: store.backend }, { dirty: { all: true, snapshotters: new Map() } });
    expect(store.calls.sort()).toEqual([
      ["deleteBlob", d(2)],
      ["deleteBlob", d(3)],
      ["deleteBlob", d(4)],
    ]);
    expect([...store.blobs]).toEqual([d(1)]);
  });

  test("a blob no record ever named is left while it may be a commit whose record is on its way", async () => {
    const s = seed().content("a", d(1));
    const now = Date.now();
    const store = fakeContent([d(1), d(2), d(3)], {
      committedAt: {
        [d(1)]: new Date(now),
        [d(2)]: new Date(now),
        [d(3)]: new Date(now - ORPHAN_GRACE_MS - 1000),
      },
    });
    const { log, lines } = memoryLog();
    await collect(s.db, { content: store.backend }, { log });
    // d(1): its record was just swept, so it is garbage whatever its age; d(2): too young to
    // judge; d(3): an old orphan.
    expect(store.calls.sort()).toEqual([
      ["deleteBlob", d(1)],
      ["deleteBlob", d(3)],
    ]);
    expect(lines.find((l) => l.msg === "garbage collected")?.fields).toMatchObject({ blobs: 2, young: 1 });
  });

  test("a blob recorded while the walk runs is not removed (the records are asked again)", async () => {
    const s = seed().content("a", d(1));
    const store = fakeContent([d(1), d(2)], {
      // The content worker commits d(2) and records it in namespace b while the walk is under way.
      onWalk: (digest) => {
        if (digest === d(2)) seed(s.db).content("b", d(2));
      },
    });
    await collect(s.db, { content: store.backend }, { dirty: { all: true, snapshotters: new Map() } });
    expect(store.calls).toEqual([["deleteBlob", d(1)]]);
  });

  test("without a walk, the swept digests and those reported deleted are the candidates", async () => {
    const s = seed()
      .content("a", d(1))
      .content("b", d(1))
      .content("a", d(2))
      .image("b", "i", d(5))
      .content("b", d(5));
    const store = fakeContent([d(1), d(2), d(3), d(4), d(5)], { walk: false });
    await collect(
      s.db,
      { content: store.backend },
      { dirty: { all: false, content: new Set([d(3), d(5)]), snapshotters: new Map() } },
    );
    expect(store.calls.sort()).toEqual([
      ["deleteBlob", d(1)],
      ["deleteBlob", d(2)],
      ["deleteBlob", d(3)],
    ]);
    expect([...store.blobs].sort()).toEqual([d(4), d(5)]); // d(4): unknown without a walk; d(5): recorded
  });

  test("a content record deleted through the API marks the store dirty: the walk removes its blob", async () => {
    const s = seed().image("a", "i", d(1)).content("a", d(1));
    const store = fakeContent([d(1), d(2)]);
    await collect(
      s.db,
      { content: store.backend },
      { dirty: { all: false, content: new Set(), snapshotters: new Map() } },
    );
    expect([...store.blobs]).toEqual([d(1)]);
  });

  test("backend failures are logged and do not fail the collection", async () => {
    const s = seed().content("a", d(1)).content("a", d(2));
    const store = fakeContent([d(1), d(2)], { fail: new Set([d(1)]) });
    const { log, lines } = memoryLog();
    expect(await collect(s.db, { content: store.backend }, { log })).toMatchObject({ content: 2 });
    expect(store.blobs.has(d(2))).toBe(false);
    expect(lines.filter((l) => l.level === "warn")).toMatchObject([
      { msg: "failed to remove content", fields: { digest: d(1) } },
    ]);
  });

  test("snapshots no record names are removed from their snapshotter, children first", async () => {
    const s = seed()
      .snapshot("a", "overlayfs", "p", { backendName: "1" })
      .snapshot("a", "overlayfs", "c", { parent: "p", backendName: "2" })
      .snapshot("a", "overlayfs", "g", { parent: "c", backendName: "3" })
      .snapshot("a", "overlayfs", "kept", { backendName: "4", labels: { [GcLabel.root]: "1" } });
    const overlay = fakeSnapshotter({ "1": undefined, "2": "1", "3": "2", "4": undefined });
    expect(await collect(s.db, { snapshotters: { overlayfs: overlay.backend } })).toMatchObject({
      snapshots: 3,
    });
    expect(overlay.calls).toEqual([
      ["remove", "3"],
      ["remove", "2"],
      ["remove", "1"],
    ]);
    expect([...overlay.held.keys()]).toEqual(["4"]);
  });

  test("a backend name still recorded in another namespace is not removed", async () => {
    const s = seed()
      .snapshot("a", "overlayfs", "k", { backendName: "shared" })
      .snapshot("b", "overlayfs", "k", { backendName: "shared", labels: { [GcLabel.root]: "1" } });
    const overlay = fakeSnapshotter({ shared: undefined });
    expect(await collect(s.db, { snapshotters: { overlayfs: overlay.backend } })).toMatchObject({
      snapshots: 1,
    });
    expect(overlay.calls).toEqual([]);
  });

  test("snapshot records are collected with no snapshotter registered", async () => {
    const s = seed().snapshot("a", "overlayfs", "k");
    const { log, lines } = memoryLog();
    expect(await collect(s.db, {}, { log })).toMatchObject({ snapshots: 1 });
    expect(lines.find((l) => l.msg === "no snapshotter to clean up")?.fields).toEqual({
      snapshotter: "overlayfs",
    });
  });

  test("a snapshotter that can be walked is pruned whole, as containerd's walkTree/pruneBranch", async () => {
    const s = seed()
      .snapshot("a", "overlayfs", "base", { backendName: "1", labels: { [GcLabel.root]: "1" } })
      .snapshot("a", "overlayfs", "gone", { backendName: "2", parent: "base" });
    // 5 → 4 → 3 are orphans of an earlier crash; 3's parent is the kept 1.
    const overlay = fakeSnapshotter(
      { "1": undefined, "2": "1", "3": "1", "4": "3", "5": "4" },
      { walk: true },
    );
    await collect(s.db, { snapshotters: { overlayfs: overlay.backend } });
    expect([...overlay.held.keys()]).toEqual(["1"]);
    const order = overlay.calls.map(([, n]) => n);
    expect(order.indexOf("5")).toBeLessThan(order.indexOf("4"));
    expect(order.indexOf("4")).toBeLessThan(order.indexOf("3"));
  });

  test("a snapshot reported deleted is removed from its snapshotter by the next collection", async () => {
    const s = seed();
    const overlay = fakeSnapshotter({ gone: undefined });
    await collect(
      s.db,
      { snapshotters: { overlayfs: overlay.backend } },
      { dirty: { all: false, snapshotters: new Map([["overlayfs", new Set(["gone"])]]) } },
    );
    expect(overlay.calls).toEqual([["remove", "gone"]]);
  });

  test("backend cleanup waits for writers holding the backend lock shared", async () => {
    const s = seed().content("a", d(1));
    const store = fakeContent([d(1), d(2)]);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    // A writer has committed blob d(2) and is about to record it.
    const writer = backendLock(s.db).shared(async () => {
      await held;
      s.db.$client.run(
        "INSERT INTO content (namespace, digest, size, labels, created_at, updated_at) VALUES ('a', ?, 1, '{}', 0, 0)",
        [d(2)],
      );
      s.db.$client.run("UPDATE content SET labels = ? WHERE digest = ?", [
        JSON.stringify({ [GcLabel.root]: "1" }),
        d(2),
      ]);
    });
    const collection = collect(s.db, { content: store.backend });
    await Bun.sleep(5);
    expect(store.calls).toEqual([]); // records already swept, cleanup waiting
    release();
    await Promise.all([writer, collection]);
    expect(store.calls).toEqual([["deleteBlob", d(1)]]);
    expect(store.blobs.has(d(2))).toBe(true);
  });
});

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { BunkerError, Code } from "@bunkerd/plugin-api";
import { type MetadataDb, openMetadata, read } from "../../plugins/metadata/db.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";
import { listNamespaces } from "../../plugins/metadata/namespaces.ts";
import { LeasesLocal, randomLeaseId } from "./local.ts";

// Expectations marked "containerd 1.6.20" were read off the real daemon with raw gRPC calls.

let db: MetadataDb;
let gcCalls: string[];
let local: LeasesLocal;

const gc: GcNotifier = {
  mutated: () => void gcCalls.push("mutated"),
  deleted: () => void gcCalls.push("deleted"),
  collect: async () => void gcCalls.push("collect"),
};

beforeEach(() => {
  db = openMetadata(":memory:");
  gcCalls = [];
  local = new LeasesLocal(db, gc);
});
afterEach(() => db.$client.close());

async function failure(p: Promise<unknown>): Promise<BunkerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}
const wire = (e: BunkerError) => [e.code, e.message];
const D = `sha256:${"a".repeat(64)}`;

describe("create", () => {
  test("stores labels (empty values dropped), creates the namespace, reports a mutation", async () => {
    const lease = await local.create("fresh", "l1", {
      "containerd.io/gc.expire": "2030-01-01T00:00:00Z",
      e: "",
    });
    expect(lease.id).toBe("l1");
    expect(lease.labels).toEqual({ "containerd.io/gc.expire": "2030-01-01T00:00:00Z" });
    expect(Math.abs(lease.createdAt.getTime() - Date.now())).toBeLessThan(5000);
    expect(await local.list("fresh")).toEqual([lease]);
    expect(read(db, (tx) => listNamespaces(tx)).map((n) => n.name)).toEqual(["fresh"]);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("without an ID one is made up as leases.WithRandomID does", async () => {
    const lease = await local.create("default", "");
    expect(lease.id).toMatch(/^\d{1,9}-[A-Za-z0-9_-]{4}$/);
    expect(randomLeaseId()).not.toBe(randomLeaseId());
  });

  test("IDs are not validated, nor are labels size-checked (containerd 1.6.20)", async () => {
    for (const id of ["a b", "a/b", "123--x_"]) await local.create("default", id);
    await local.create("default", "big", { ["k".repeat(4100)]: "v" });
    expect((await local.list("default")).map((l) => l.id)).toEqual(["123--x_", "a b", "a/b", "big"]);
  });

  test("an existing ID is AlreadyExists; an empty label key is bolt's `key required`", async () => {
    await local.create("default", "l1");
    expect(wire(await failure(local.create("default", "l1")))).toEqual([
      Code.AlreadyExists,
      'lease "l1": already exists',
    ]);
    expect(wire(await failure(local.create("default", "l2", { "": "v" })))).toEqual([
      Code.Unknown,
      'failed to set label ""="v": key required',
    ]);
    expect((await local.list("default")).map((l) => l.id)).toEqual(["l1"]);
  });

  test("gc.expire is stored as given; reading it is the collector's business", async () => {
    const lease = await local.create("default", "exp", { "containerd.io/gc.expire": "not-a-time" });
    expect(lease.labels).toEqual({ "containerd.io/gc.expire": "not-a-time" });
  });
});

describe("list", () => {
  beforeEach(async () => {
    await local.create("default", "l1", { "containerd.io/gc.expire": "2030-01-01T00:00:00Z" });
    await local.create("default", "l2", { team: "x" });
    await local.create("other", "l3");
  });

  test.each([
    [[], ["l1", "l2"]],
    [["id==l1"], ["l1"]],
    [['labels."containerd.io/gc.expire"'], ["l1"]],
    [
      ["labels.team==x", "id==l1"],
      ["l1", "l2"],
    ],
    // containerd 1.6.20: created time is not a filter field.
    [["createdat"], []],
  ])("filters %j → %j; other namespaces' leases never show", async (filters, ids) => {
    expect((await local.list("default", filters)).map((l) => l.id)).toEqual(ids);
  });

  test("a namespace that does not exist has none", async () => {
    expect(await local.list("nowhere")).toEqual([]);
  });
});

describe("resources", () => {
  beforeEach(async () => {
    await local.create("default", "l1");
    gcCalls = [];
  });

  test("listed in containerd's order: content, ingests, snapshots by snapshotter; adding twice is fine", async () => {
    await local.addResource("default", "l1", { type: "snapshots/overlayfs", id: "k1" });
    await local.addResource("default", "l1", { type: "ingests", id: "ref1" });
    await local.addResource("default", "l1", { type: "snapshots/native", id: "k0" });
    await local.addResource("default", "l1", { type: "content", id: D });
    await local.addResource("default", "l1", { type: "content", id: D });
    expect(await local.listResources("default", "l1")).toEqual([
      { type: "content", id: D },
      { type: "ingests", id: "ref1" },
      { type: "snapshots/native", id: "k0" },
      { type: "snapshots/overlayfs", id: "k1" },
    ]);
    await local.deleteResource("default", "l1", { type: "snapshots/overlayfs", id: "k1" });
    // Deleting one the lease does not hold is no error.
    await local.deleteResource("default", "l1", { type: "snapshots/overlayfs", id: "k1" });
    expect((await local.listResources("default", "l1")).map((r) => r.id)).toEqual([D, "ref1", "k0"]);
    expect(gcCalls).toEqual(["mutated", "mutated", "mutated", "mutated", "mutated", "deleted", "deleted"]);
  });

  test.each([
    [
      { type: "content", id: "x" },
      [
        Code.InvalidArgument,
        "invalid content resource id x: invalid checksum digest format: invalid argument",
      ],
    ],
    [
      { type: "content", id: "" },
      [
        Code.InvalidArgument,
        "invalid content resource id : invalid checksum digest format: invalid argument",
      ],
    ],
    [
      { type: "content/x", id: "x" },
      [Code.InvalidArgument, "invalid resource type content/x: invalid argument"],
    ],
    [
      { type: "ingests/x", id: "x" },
      [Code.InvalidArgument, "invalid resource type ingests/x: invalid argument"],
    ],
    [
      { type: "snapshots", id: "k1" },
      [Code.InvalidArgument, "invalid snapshot resource type snapshots: invalid argument"],
    ],
    [
      { type: "snapshots/a/b", id: "k1" },
      [Code.InvalidArgument, "invalid snapshot resource type snapshots/a/b: invalid argument"],
    ],
    [
      { type: "containers", id: "k1" },
      [Code.Unimplemented, "resource type containers not supported yet: not implemented"],
    ],
    [{ type: "", id: "k1" }, [Code.Unimplemented, "resource type  not supported yet: not implemented"]],
    [{ type: "ingests", id: "" }, [Code.Unknown, "key required"]],
  ])("add %j is refused as containerd 1.6.20 refuses it", async (resource, want) => {
    expect(wire(await failure(local.addResource("default", "l1", resource)))).toEqual(want);
    expect(await local.listResources("default", "l1")).toEqual([]);
    expect(gcCalls).toEqual([]);
  });

  test("delete checks the type too", async () => {
    expect(wire(await failure(local.deleteResource("default", "l1", { type: "bogus", id: "k1" })))).toEqual([
      Code.Unimplemented,
      "resource type bogus not supported yet: not implemented",
    ]);
  });

  test("a missing lease is NotFound, before the resource is looked at", async () => {
    const want = [Code.NotFound, 'lease "nope": not found'];
    expect(wire(await failure(local.addResource("default", "nope", { type: "bogus", id: "x" })))).toEqual(
      want,
    );
    expect(wire(await failure(local.deleteResource("default", "nope", { type: "bogus", id: "x" })))).toEqual(
      want,
    );
    expect(wire(await failure(local.listResources("default", "nope")))).toEqual(want);
    // A lease is namespaced.
    expect(wire(await failure(local.listResources("other", "l1")))).toEqual([
      Code.NotFound,
      'lease "l1": not found',
    ]);
  });
});

describe("delete", () => {
  test("drops the lease and its resource list; sync waits for a collection", async () => {
    await local.create("default", "l1");
    await local.addResource("default", "l1", { type: "ingests", id: "r" });
    await local.create("default", "l2");
    gcCalls = [];
    await local.delete("default", "l1");
    await local.delete("default", "l2", { sync: true });
    expect(gcCalls).toEqual(["deleted", "deleted", "collect"]);
    expect(await local.list("default")).toEqual([]);
    // Re-created, it starts empty.
    await local.create("default", "l1");
    expect(await local.listResources("default", "l1")).toEqual([]);
  });

  test("a missing lease is NotFound, in a namespace that exists or not", async () => {
    await local.create("default", "l1");
    expect(wire(await failure(local.delete("default", "nope")))).toEqual([
      Code.NotFound,
      'lease "nope": not found',
    ]);
    expect(wire(await failure(local.delete("never", "l1", { sync: true })))).toEqual([
      Code.NotFound,
      'lease "l1": not found',
    ]);
    expect(gcCalls).toEqual(["mutated"]);
  });
});

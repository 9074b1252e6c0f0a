import { afterEach, beforeEach, expect, test } from "bun:test";
import { BunkerError, Code } from "@bunkerd/plugin-api";
import { type MetadataDb, openMetadata, read, write } from "./db.ts";
import {
  attachToLease,
  createLease,
  deleteLease,
  detachFromLease,
  listLeaseResources,
  snapshotResource,
} from "./leases.ts";
import { deleteNamespace } from "./namespaces.ts";
import { leaseResources } from "./schema.ts";

// The `containerd-lease` header's side: snapshot and content writers call these inside their
// own transaction, so the object and its lease entry commit, or fail, together.

let db: MetadataDb;
beforeEach(() => {
  db = openMetadata(":memory:");
  write(db, (tx) => createLease(tx, "a", "l1"));
});
afterEach(() => db.$client.close());

const caught = (fn: () => void): BunkerError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected an error");
};
const held = (ns = "a", lease = "l1") => read(db, (tx) => listLeaseResources(tx, ns, lease));

test("no lease on the call: nothing to do", () => {
  expect(write(db, (tx) => attachToLease(tx, "a", undefined, snapshotResource("overlayfs", "k")))).toBe(
    false,
  );
  expect(write(db, (tx) => attachToLease(tx, "a", "", snapshotResource("overlayfs", "k")))).toBe(false);
  write(db, (tx) => detachFromLease(tx, "a", undefined, snapshotResource("overlayfs", "k")));
  expect(held()).toEqual([]);
});

test("the call's lease gets the object; twice is once", () => {
  expect(write(db, (tx) => attachToLease(tx, "a", "l1", snapshotResource("overlayfs", "k")))).toBe(true);
  write(db, (tx) => attachToLease(tx, "a", "l1", snapshotResource("overlayfs", "k")));
  expect(held()).toEqual([{ type: "snapshots/overlayfs", id: "k" }]);
  write(db, (tx) => detachFromLease(tx, "a", "l1", snapshotResource("overlayfs", "k")));
  // Detaching what the lease does not hold, or from a lease that does not exist, is no error.
  write(db, (tx) => detachFromLease(tx, "a", "l1", snapshotResource("overlayfs", "k")));
  write(db, (tx) => detachFromLease(tx, "a", "nope", snapshotResource("overlayfs", "k")));
  expect(held()).toEqual([]);
});

test("a lease that does not exist (here: in this namespace) fails the change", () => {
  const e = caught(() =>
    write(db, (tx) => attachToLease(tx, "b", "l1", { type: "content", id: "sha256:x" })),
  );
  // containerd 1.6.20, for content and ingest writes alike.
  expect([e.code, e.message]).toEqual([Code.NotFound, "lease does not exist: not found"]);
});

test("a failure later in the same transaction takes the lease entry back", () => {
  expect(() =>
    write(db, (tx) => {
      attachToLease(tx, "a", "l1", snapshotResource("overlayfs", "k"));
      throw new Error("the snapshotter failed");
    }),
  ).toThrow("the snapshotter failed");
  expect(held()).toEqual([]);
});

test("deleting the lease, or its namespace, drops its entries", () => {
  write(db, (tx) => attachToLease(tx, "a", "l1", { type: "ingests", id: "r" }));
  write(db, (tx) => deleteLease(tx, "a", "l1"));
  expect(read(db, (tx) => tx.select().from(leaseResources).all())).toEqual([]);
  write(db, (tx) => createLease(tx, "a", "l1"));
  write(db, (tx) => attachToLease(tx, "a", "l1", { type: "ingests", id: "r" }));
  write(db, (tx) => deleteNamespace(tx, "a"));
  expect(read(db, (tx) => tx.select().from(leaseResources).all())).toEqual([]);
});

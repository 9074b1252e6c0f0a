import { expect, test } from "bun:test";
import { ContainersLocal } from "../../services/containers/local.ts";
import type { Container } from "../../services/containers/types.ts";
import { GcLabel, noGc } from "../metadata/index.ts";
import { collect } from "./collect.ts";
import { digest as d, fakeContent, fakeSnapshotter, left, seed } from "./testkit.ts";

// Containers as garbage-collection roots, written through the Containers service as a client
// writes them (collect.test.ts seeds rows directly): containerd 1.6's scanRoots sends a
// container's snapshotter/snapshot_key and its gc.ref labels, and nothing else keeps them.

const container = (id: string, more: Partial<Container> = {}): Container => ({
  id,
  labels: {},
  image: "docker.io/library/busybox:test",
  runtime: { name: "io.containerd.runc.v2" },
  spec: { typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", value: new Uint8Array() },
  snapshotter: "overlayfs",
  snapshotKey: id,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  extensions: {},
  sandbox: "",
  ...more,
});

test("a container keeps its snapshot (and the parent chain) alive; once deleted, all are collected", async () => {
  const s = seed()
    .snapshot("default", "overlayfs", "layer", { backendName: "1" })
    .snapshot("default", "overlayfs", "c1", { parent: "layer", backendName: "2" });
  const containers = new ContainersLocal(s.db, () => {}, noGc);
  await containers.create("default", container("c1"));
  const overlay = fakeSnapshotter({ "1": undefined, "2": "1" });

  expect(await collect(s.db, { snapshotters: { overlayfs: overlay.backend } })).toMatchObject({
    snapshots: 0,
  });
  expect(left(s.db).snapshots).toEqual(["default/overlayfs/c1", "default/overlayfs/layer"]);
  expect(overlay.calls).toEqual([]);

  await containers.delete("default", "c1");
  expect(await collect(s.db, { snapshotters: { overlayfs: overlay.backend } })).toMatchObject({
    snapshots: 2,
  });
  expect(left(s.db).snapshots).toEqual([]);
  expect(overlay.calls).toEqual([
    ["remove", "2"],
    ["remove", "1"],
  ]);
});

test("a container's gc.ref labels hold content and snapshots of other snapshotters until it goes", async () => {
  const s = seed()
    .content("default", d(1))
    .content("default", d(2))
    .snapshot("default", "native", "extra", { backendName: "n1" });
  const containers = new ContainersLocal(s.db, () => {}, noGc);
  await containers.create(
    "default",
    container("c1", {
      snapshotter: "",
      snapshotKey: "",
      labels: { [`${GcLabel.contentRef}.spec`]: d(1), [`${GcLabel.snapshotRef}native`]: "extra" },
    }),
  );
  const store = fakeContent([d(1), d(2)]);
  const native = fakeSnapshotter({ n1: undefined });
  const backends = { content: store.backend, snapshotters: { native: native.backend } };
  await collect(s.db, backends);
  expect(left(s.db)).toMatchObject({ content: [`default/${d(1)}`], snapshots: ["default/native/extra"] });
  expect([...store.blobs]).toEqual([d(1)]);

  // Relabelled without the references: they go at the next collection, with the container still there.
  await containers.update("default", container("c1", { snapshotter: "", labels: {} }), ["labels"]);
  await collect(s.db, backends);
  expect(left(s.db)).toMatchObject({ content: [], snapshots: [] });
  expect([store.blobs.size, native.held.size]).toEqual([0, 0]);
});

test("a container in one namespace does not hold the same snapshot key in another", async () => {
  const s = seed()
    .snapshot("a", "overlayfs", "k", { backendName: "a1" })
    .snapshot("b", "overlayfs", "k", { backendName: "b1" });
  await new ContainersLocal(s.db, () => {}, noGc).create("a", container("c", { snapshotKey: "k" }));
  await collect(s.db);
  expect(left(s.db).snapshots).toEqual(["a/overlayfs/k"]);
});

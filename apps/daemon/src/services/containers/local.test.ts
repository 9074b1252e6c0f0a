import { afterEach, beforeEach, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { BunkerError, Code } from "@bunkerd/plugin-api";
import {
  ContainerCreateSchema,
  ContainerDeleteSchema,
  ContainerUpdateSchema,
} from "@bunkerd/proto/containerd/events/container_pb.ts";
import { type MetadataDb, openMetadata } from "../../plugins/metadata/db.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";
import type { EncodedEvent } from "../namespaces/index.ts";
import { ContainersLocal } from "./local.ts";
import type { Container } from "./types.ts";

// The service around the store (whose rules plugins/metadata/containers.test.ts covers): events,
// collector notices, and what the tasks service gets through its proxy.

let db: MetadataDb;
let events: { topic: string; namespace: string; event: EncodedEvent }[];
let gcCalls: string[];
let local: ContainersLocal;

const gc: GcNotifier = {
  mutated: () => void gcCalls.push("mutated"),
  deleted: (what) => void gcCalls.push(what ? `deleted ${JSON.stringify(what)}` : "deleted"),
  collect: async () => void gcCalls.push("collect"),
};

beforeEach(() => {
  db = openMetadata(":memory:");
  events = [];
  gcCalls = [];
  local = new ContainersLocal(
    db,
    (topic, namespace, event) => void events.push({ topic, namespace, event }),
    gc,
  );
});
afterEach(() => db.$client.close());

const OPTIONS = { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x12, 0x01, 0x78]) };
const container = (id: string, more: Partial<Container> = {}): Container => ({
  id,
  labels: {},
  image: "docker.io/library/busybox:test",
  runtime: { name: "io.containerd.runc.v2", options: OPTIONS },
  spec: { typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", value: new Uint8Array([1]) },
  snapshotter: "overlayfs",
  snapshotKey: id,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  extensions: {},
  sandbox: "",
  ...more,
});

const decoded = () =>
  events.map(({ topic, namespace, event }) => {
    const schema = {
      "containerd.events.ContainerCreate": ContainerCreateSchema,
      "containerd.events.ContainerUpdate": ContainerUpdateSchema,
      "containerd.events.ContainerDelete": ContainerDeleteSchema,
    }[event.typeName]!;
    const { $typeName: _, ...body } = fromBinary(schema, event.bytes) as { $typeName: string };
    return [topic, namespace, event.typeName, body];
  });

async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return [e.code, e.message];
    throw e;
  }
  throw new Error("expected a failure");
}

test("create, update and delete publish containerd's events in the caller's namespace", async () => {
  const made = await local.create("ns1", container("c1", { labels: { a: "1" } }));
  // The store sets the times; the request's are ignored.
  expect(made.createdAt.getTime()).toBeGreaterThan(0);
  await local.update("ns1", container("c1", { labels: { b: "2" }, snapshotKey: "k2" }), [
    "labels.b",
    "snapshotkey",
  ]);
  await local.delete("ns1", "c1");
  expect(decoded()).toMatchObject([
    [
      "/containers/create",
      "ns1",
      "containerd.events.ContainerCreate",
      {
        id: "c1",
        image: "docker.io/library/busybox:test",
        runtime: { name: "io.containerd.runc.v2", options: OPTIONS },
      },
    ],
    [
      "/containers/update",
      "ns1",
      "containerd.events.ContainerUpdate",
      { id: "c1", image: "docker.io/library/busybox:test", labels: { a: "1", b: "2" }, snapshotKey: "k2" },
    ],
    ["/containers/delete", "ns1", "containerd.events.ContainerDelete", { id: "c1" }],
  ]);
  // A delete may leave the snapshot unreferenced: the collector hears it as a deletion.
  expect(gcCalls).toEqual(["mutated", "mutated", "deleted"]);
});

test("a refused change publishes nothing and tells the collector nothing", async () => {
  await local.create("default", container("c1"));
  events = [];
  gcCalls = [];
  expect(await failure(local.create("default", container("c1")))).toEqual([
    Code.AlreadyExists,
    'container "c1": already exists',
  ]);
  expect(await failure(local.update("default", container("c1"), ["runtime"]))).toEqual([
    Code.InvalidArgument,
    'cannot update "runtime" field on "c1": invalid argument',
  ]);
  expect(await failure(local.delete("default", "nope"))).toEqual([
    Code.NotFound,
    "container nope: not found",
  ]);
  expect([events, gcCalls]).toEqual([[], []]);
});

test("update without an ID is containerd's bare `Container.ID required`", async () => {
  expect(await failure(local.update("default", container("")))).toEqual([
    Code.InvalidArgument,
    "Container.ID required",
  ]);
});

test("get and list answer records that survive a worker port (structured clone)", async () => {
  await local.create("default", container("c2", { labels: { z: "1" } }));
  await local.create(
    "default",
    container("c1", { extensions: { e: { typeUrl: "x", value: new Uint8Array([5]) } } }),
  );
  const got = await local.get("default", "c1");
  expect(structuredClone(got)).toEqual(got);
  expect(got.runtime.options).toEqual(OPTIONS);
  expect((await local.list("default")).map((c) => c.id)).toEqual(["c1", "c2"]);
  expect((await local.list("default", ["labels.z==1"])).map((c) => c.id)).toEqual(["c2"]);
  expect((await failure(local.list("default", ["id==c1,"])))[0]).toBe(Code.InvalidArgument);
  expect(await failure(local.get("other", "c1"))).toEqual([
    Code.NotFound,
    'container "c1" in namespace "other": not found',
  ]);
});

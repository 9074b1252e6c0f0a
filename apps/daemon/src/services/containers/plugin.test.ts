import { afterEach, beforeEach, expect, test } from "bun:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { bootMetadataService, type ServiceKit } from "../testkit.ts";
import { containersGrpc, containersService } from "./plugin.ts";

// The adapter end to end, without a socket: the records' init, the handlers they register, and
// protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let kit: ServiceKit;
let gc: string[];

beforeEach(async () => {
  ({ db, kit, gc } = await bootMetadataService(
    Containers,
    containersService,
    containersGrpc,
    "containers-service",
  ));
});
afterEach(() => db.$client.close());

const call = (name: string, req: object, namespace?: string) => kit.call(name, req, namespace);
const stream = (name: string, req: object, namespace?: string) => kit.stream(name, req, namespace);

const SPEC = {
  typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec",
  value: new Uint8Array([123, 125]),
};
const container = (id: string, more: object = {}) => ({
  id,
  image: "docker.io/library/busybox:test",
  runtime: {
    name: "io.containerd.runc.v2",
    options: { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array() },
  },
  spec: SPEC,
  snapshotter: "overlayfs",
  snapshotKey: id,
  ...more,
});

test("every method is routed and needs a namespace", () => {
  expect(kit.routes.map((r) => [r.path.split("/").pop(), r.kind, r.namespaced])).toEqual([
    ["Get", "unary", true],
    ["List", "unary", true],
    ["ListStream", "server_streaming", true],
    ["Create", "unary", true],
    ["Update", "unary", true],
    ["Delete", "unary", true],
  ]);
});

test("create, get, update, list, list stream and delete over protobuf, in the call's namespace", async () => {
  const ext = { typeUrl: "x.Ext", value: new Uint8Array([7]) };
  const created = await call(
    "Create",
    { container: container("c1", { labels: { a: "1" }, extensions: { e: ext } }) },
    "ns1",
  );
  expect(created.container).toMatchObject({
    id: "c1",
    labels: { a: "1" },
    image: "docker.io/library/busybox:test",
    runtime: { name: "io.containerd.runc.v2", options: { typeUrl: "containerd.runc.v1.Options" } },
    spec: SPEC,
    snapshotter: "overlayfs",
    snapshotKey: "c1",
    extensions: { e: ext },
  });
  expect(Math.abs(timestampDate(created.container.createdAt).getTime() - Date.now())).toBeLessThan(5000);

  const got = await call("Get", { id: "c1" }, "ns1");
  expect(got.container).toEqual(created.container);

  const updated = await call(
    "Update",
    { container: { id: "c1", labels: { b: "2" } }, updateMask: { paths: ["labels.b"] } },
    "ns1",
  );
  expect(updated.container.labels).toEqual({ a: "1", b: "2" });

  await call("Create", { container: container("c0") }, "ns1");
  expect(
    (await call("List", { filters: ["labels.b==2"] }, "ns1")).containers.map((c: { id: string }) => c.id),
  ).toEqual(["c1"]);
  const streamed = await stream("ListStream", {}, "ns1");
  expect(streamed.map((m) => m.container.id)).toEqual(["c0", "c1"]);
  expect(streamed[1].container).toEqual(updated.container);
  expect(await stream("ListStream", {}, "other")).toEqual([]);
  expect((await call("List", {}, "other")).containers).toEqual([]);

  await call("Delete", { id: "c1" }, "ns1");
  await expect(call("Get", { id: "c1" }, "ns1")).rejects.toMatchObject({ kind: Kind.NotFound });
  expect(kit.published.map(([ns, topic, ev]) => [ns, topic, ev.typeUrl])).toEqual([
    ["ns1", "/containers/create", "containerd.events.ContainerCreate"],
    ["ns1", "/containers/update", "containerd.events.ContainerUpdate"],
    ["ns1", "/containers/create", "containerd.events.ContainerCreate"],
    ["ns1", "/containers/delete", "containerd.events.ContainerDelete"],
  ]);
  await Bun.sleep(0);
  expect(gc).toEqual(["mutated", "mutated", "mutated", "deleted"]);
});

test("a request without a container, spec or runtime gets containerd's errors", async () => {
  const e = await call("Create", {}).catch((x) => x);
  expect(e).toBeInstanceOf(BunkerError);
  expect([e.kind, e.message]).toEqual([
    Kind.InvalidArgument,
    "create container failed validation: container.ID: identifier must not be empty: invalid argument",
  ]);
  const noSpec = await call("Create", { container: { id: "x", runtime: { name: "r" } } }).catch((x) => x);
  expect(noSpec.message).toBe(
    "create container failed validation: container.Spec must be set: invalid argument",
  );
  const noId = await call("Update", {}).catch((x) => x);
  expect([noId.kind, noId.message]).toEqual([Kind.InvalidArgument, "Container.ID required"]);
  const bad = await stream("ListStream", { filters: ["id=="] }).catch((x) => x);
  expect(bad.kind).toBe(Kind.InvalidArgument);
});

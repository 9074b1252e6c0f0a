import { afterEach, beforeEach, expect, test } from "bun:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { bootMetadataService, type ServiceKit } from "../testkit.ts";
import { imagesGrpc, imagesService } from "./plugin.ts";

// The adapter end to end, without a socket: the records' init, the handlers they register, and
// protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let kit: ServiceKit;
let gc: string[];

/** The images service and its adapter over `db` (a new one unless given), with a GC scheduler
 *  or without one. */
const boot = (o: { db?: MetadataDb; gc?: boolean } = {}) =>
  bootMetadataService(Images, imagesService, imagesGrpc, "images-service", o);

beforeEach(async () => {
  ({ db, kit, gc } = await boot());
});
afterEach(() => db.$client.close());

const call = async (method: string, req: object, namespace?: string) =>
  (await kit.call(method, req, namespace)) as Record<string, unknown>;

const target = {
  mediaType: "application/vnd.oci.image.index.v1+json",
  digest: `sha256:${"c".repeat(64)}`,
  size: 123n,
};

test("every method is routed and needs a namespace", () => {
  expect(kit.routes.map((r) => [r.path.split("/").pop(), r.namespaced])).toEqual([
    ["Get", true],
    ["List", true],
    ["Create", true],
    ["Update", true],
    ["Delete", true],
  ]);
});

test("create, get, update, list and delete over protobuf, in the call's namespace", async () => {
  const created = (await call("Create", { image: { name: "img", labels: { a: "1" }, target } }, "ns1")) as {
    image: { name: string; target: { size: bigint }; createdAt: Parameters<typeof timestampDate>[0] };
  };
  expect(created.image.name).toBe("img");
  expect(created.image.target.size).toBe(123n);
  expect(Math.abs(timestampDate(created.image.createdAt).getTime() - Date.now())).toBeLessThan(5000);

  const got = (await call("Get", { name: "img" }, "ns1")) as { image: { labels: Record<string, string> } };
  expect(got.image.labels).toEqual({ a: "1" });

  const updated = (await call(
    "Update",
    { image: { name: "img", labels: { b: "2" } }, updateMask: { paths: ["labels.b"] } },
    "ns1",
  )) as { image: { labels: Record<string, string> } };
  expect(updated.image.labels).toEqual({ a: "1", b: "2" });

  const listed = (await call("List", { filters: ["labels.b==2"] }, "ns1")) as { images: { name: string }[] };
  expect(listed.images.map((i) => i.name)).toEqual(["img"]);
  expect(((await call("List", {}, "other")) as { images: unknown[] }).images).toEqual([]);

  await call("Delete", { name: "img", sync: true }, "ns1");
  expect(kit.published.map(([ns, topic, ev]) => [ns, topic, ev.typeUrl])).toEqual([
    ["ns1", "/images/create", "containerd.services.images.v1.ImageCreate"],
    ["ns1", "/images/update", "containerd.services.images.v1.ImageUpdate"],
    ["ns1", "/images/delete", "containerd.services.images.v1.ImageDelete"],
  ]);
  await Bun.sleep(0);
  expect(gc).toEqual(["mutated", "mutated", "deleted", "collect"]);
});

test("errors keep containerd's kinds and words", async () => {
  const e = await call("Get", { name: "nope" }).catch((x) => x);
  expect(e).toBeInstanceOf(BunkerError);
  expect([e.kind, e.message]).toEqual([Kind.NotFound, 'image "nope": not found']);
  const missing = await call("Create", { image: { name: "" } }).catch((x) => x);
  expect([missing.kind, missing.message]).toEqual([Kind.InvalidArgument, "Image.Name required"]);
  const noImage = await call("Update", {}).catch((x) => x);
  expect([noImage.kind, noImage.message]).toEqual([Kind.InvalidArgument, "Image.Name required"]);
});

test("without a GC plugin, a sync delete still succeeds", async () => {
  ({ kit } = await boot({ db, gc: false }));
  await call("Create", { image: { name: "img", target } });
  await call("Delete", { name: "img", sync: true });
  expect(((await call("List", {})) as { images: unknown[] }).images).toEqual([]);
});

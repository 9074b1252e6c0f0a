import { afterEach, beforeEach, expect, test } from "bun:test";
import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  BunkerError,
  type CallContext,
  type EventPayload,
  type InitContext,
  Kind,
  notFound,
  PluginType,
  type Route,
  serviceRoutes,
} from "@bunkerd/plugin-api";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { type MetadataDb, openMetadata } from "../../plugins/metadata/db.ts";
import { imagesGrpc, imagesService } from "./plugin.ts";

// The adapter end to end, without a socket: the records' init, the handlers they register, and
// protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let routes: Route[];
let published: [string, string, EventPayload][];
let gc: string[];

/** A minimal InitContext: plugins by "type.id", services captured as routes. */
function context(plugins: Record<string, unknown>): InitContext {
  return {
    events: {
      publish: async (ns: string, topic: string, ev: EventPayload) => void published.push([ns, topic, ev]),
    },
    async get(type: string, id?: string) {
      const key = `${type}.${id}`;
      if (!(key in plugins)) throw notFound(`plugin ${key}`);
      return plugins[key];
    },
    registerService<S extends DescService>(svc: S, handlers: never, opts: { namespaced?: boolean } = {}) {
      routes.push(...serviceRoutes(svc, handlers, opts.namespaced ?? true));
    },
  } as unknown as InitContext;
}

beforeEach(async () => {
  db = openMetadata(":memory:");
  routes = [];
  published = [];
  gc = [];
  const scheduler = {
    mutated: () => void gc.push("mutated"),
    deleted: () => void gc.push("deleted"),
    collect: async () => void gc.push("collect"),
  };
  const plugins: Record<string, unknown> = {
    [`${PluginType.Metadata}.sqlite`]: db,
    [`${PluginType.GC}.scheduler`]: scheduler,
  };
  const local = await imagesService.init(context(plugins));
  plugins[`${PluginType.Service}.images-service`] = local;
  await imagesGrpc.init(context(plugins));
});
afterEach(() => db.$client.close());

async function call(method: string, req: object, namespace = "default") {
  const m = Images.methods.find((x) => x.name === method)!;
  const route = routes.find((r) => r.path === `/containerd.services.images.v1.Images/${method}`)!;
  const ctx = {
    method: route.path,
    protocol: "grpc",
    namespace,
    metadata: {},
    signal: new AbortController().signal,
  };
  const out = await (route.invoke(
    toBinary(m.input, create(m.input, req as never)),
    ctx as CallContext,
  ) as Promise<Uint8Array>);
  return fromBinary(m.output, out) as Record<string, unknown>;
}

const target = {
  mediaType: "application/vnd.oci.image.index.v1+json",
  digest: `sha256:${"c".repeat(64)}`,
  size: 123n,
};

test("every method is routed and needs a namespace", () => {
  expect(routes.map((r) => [r.path.split("/").pop(), r.namespaced])).toEqual([
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
  expect(published.map(([ns, topic, ev]) => [ns, topic, ev.typeUrl])).toEqual([
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
  routes = [];
  const plugins: Record<string, unknown> = { [`${PluginType.Metadata}.sqlite`]: db };
  plugins[`${PluginType.Service}.images-service`] = await imagesService.init(context(plugins));
  await imagesGrpc.init(context(plugins));
  await call("Create", { image: { name: "img", target } });
  await call("Delete", { name: "img", sync: true });
  expect(((await call("List", {})) as { images: unknown[] }).images).toEqual([]);
});

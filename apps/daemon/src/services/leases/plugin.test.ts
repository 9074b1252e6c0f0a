import { afterEach, beforeEach, expect, test } from "bun:test";
import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type CallContext,
  type InitContext,
  Kind,
  notFound,
  PluginType,
  type Route,
  serviceRoutes,
} from "@bunkerd/plugin-api";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { type MetadataDb, openMetadata } from "../../plugins/metadata/db.ts";
import { leasesGrpc, leasesService } from "./plugin.ts";

// The adapter end to end, without a socket: the records' init, the handlers they register, and
// protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let routes: Route[];
let gc: string[];

function context(plugins: Record<string, unknown>): InitContext {
  return {
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
  gc = [];
  const plugins: Record<string, unknown> = {
    [`${PluginType.Metadata}.sqlite`]: db,
    [`${PluginType.GC}.scheduler`]: {
      mutated: () => void gc.push("mutated"),
      deleted: () => void gc.push("deleted"),
      collect: async () => void gc.push("collect"),
    },
  };
  plugins[`${PluginType.Service}.leases-service`] = await leasesService.init(context(plugins));
  await leasesGrpc.init(context(plugins));
});
afterEach(() => db.$client.close());

async function call(method: string, req: object, namespace = "default") {
  const m = Leases.methods.find((x) => x.name === method)!;
  const route = routes.find((r) => r.path === `/containerd.services.leases.v1.Leases/${method}`)!;
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
  const { $typeName: _, ...body } = fromBinary(m.output, out) as Record<string, unknown>;
  return body;
}

test("every method is routed and needs a namespace", () => {
  expect(routes.map((r) => [r.path.split("/").pop(), r.namespaced])).toEqual([
    ["Create", true],
    ["Delete", true],
    ["List", true],
    ["AddResource", true],
    ["DeleteResource", true],
    ["ListResources", true],
  ]);
});

test("a lease's life over protobuf, in the call's namespace", async () => {
  const { lease } = (await call("Create", { id: "l1", labels: { a: "1" } }, "ns1")) as {
    lease: { id: string; labels: Record<string, string>; createdAt?: object };
  };
  expect([lease.id, lease.labels, lease.createdAt !== undefined]).toEqual(["l1", { a: "1" }, true]);
  const made = (await call("Create", {}, "ns1")) as { lease: { id: string } };
  expect(made.lease.id).toMatch(/^\d+-[A-Za-z0-9_-]{4}$/);

  await call("AddResource", { id: "l1", resource: { id: "k", type: "snapshots/overlayfs" } }, "ns1");
  const listed = (await call("ListResources", { id: "l1" }, "ns1")) as { resources: object[] };
  expect(listed.resources).toEqual([
    { $typeName: "containerd.services.leases.v1.Resource", id: "k", type: "snapshots/overlayfs" },
  ]);
  await call("DeleteResource", { id: "l1", resource: { id: "k", type: "snapshots/overlayfs" } }, "ns1");

  const all = (await call("List", { filters: ["labels.a==1"] }, "ns1")) as { leases: { id: string }[] };
  expect(all.leases.map((l) => l.id)).toEqual(["l1"]);
  expect(((await call("List", {}, "other")) as { leases: unknown[] }).leases).toEqual([]);

  await call("Delete", { id: "l1", sync: true }, "ns1");
  await Bun.sleep(0);
  expect(gc).toEqual(["mutated", "mutated", "mutated", "deleted", "deleted", "collect"]);
});

test("an AddResource without a resource is containerd's empty-type error", async () => {
  await call("Create", { id: "l1" });
  const e = await call("AddResource", { id: "l1" }).catch((x) => x);
  expect([e.kind, e.message]).toEqual([
    Kind.NotImplemented,
    "resource type  not supported yet: not implemented",
  ]);
});

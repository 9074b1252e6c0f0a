import { afterEach, beforeEach, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { bootMetadataService, type ServiceKit } from "../testkit.ts";
import { leasesGrpc, leasesService } from "./plugin.ts";

// The adapter end to end, without a socket: the records' init, the handlers they register, and
// protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let kit: ServiceKit;
let gc: string[];

beforeEach(async () => {
  ({ db, kit, gc } = await bootMetadataService(Leases, leasesService, leasesGrpc, "leases-service"));
});
afterEach(() => db.$client.close());

async function call(method: string, req: object, namespace?: string) {
  const { $typeName: _, ...body } = (await kit.call(method, req, namespace)) as Record<string, unknown>;
  return body;
}

test("every method is routed and needs a namespace", () => {
  expect(kit.routes.map((r) => [r.path.split("/").pop(), r.namespaced])).toEqual([
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

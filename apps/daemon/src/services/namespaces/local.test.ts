import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { BunkerError, Code, Kind } from "@bunkerd/plugin-api";
import {
  NamespaceCreateSchema,
  NamespaceDeleteSchema,
  NamespaceUpdateSchema,
} from "@bunkerd/proto/containerd/events/namespace_pb.ts";
import { type MetadataDb, openMetadata, read, write } from "../../plugins/metadata/db.ts";
import {
  containers,
  content,
  images,
  ingests,
  leaseResources,
  leases,
  namespaces,
  snapshots,
} from "../../plugins/metadata/schema.ts";
import { type EncodedEvent, NamespacesLocal } from "./local.ts";

type Published = { topic: string; namespace: string; event: EncodedEvent };

let db: MetadataDb;
let events: Published[];
let local: NamespacesLocal;

const open = (path = ":memory:") => {
  db = openMetadata(path);
  events = [];
  local = new NamespacesLocal(db, (topic, namespace, event) => {
    events.push({ topic, namespace, event });
  });
};
const close = () => db.$client.close();

/** The error a call fails with; fails the test if it does not. */
async function failure(p: Promise<unknown>): Promise<BunkerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

const decoded = () =>
  events.map(({ topic, namespace, event }) => {
    const schema = {
      "containerd.events.NamespaceCreate": NamespaceCreateSchema,
      "containerd.events.NamespaceUpdate": NamespaceUpdateSchema,
      "containerd.events.NamespaceDelete": NamespaceDeleteSchema,
    }[event.typeName]!;
    const { $typeName: _, ...body } = fromBinary(schema, event.bytes) as { $typeName: string };
    return { topic, namespace, typeName: event.typeName, body };
  });

describe("on a file database", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bunkerd-namespaces-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("namespaces survive a re-open, and the file stays sound", async () => {
    const path = join(dir, "meta.db");
    open(path);
    await local.create("default", { a: "1" });
    await local.create("k8s.io");
    await local.delete("k8s.io");
    close();
    open(path);
    expect(await local.list()).toEqual([{ name: "default", labels: { a: "1" } }]);
    expect(db.$client.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
    close();
  });
});

describe("NamespacesLocal", () => {
  beforeEach(() => open());
  afterEach(() => close());

  describe("create", () => {
    test("stores the labels, answers with the request and publishes NamespaceCreate", async () => {
      expect(await local.create("foo", { a: "1", b: "2" })).toEqual({
        name: "foo",
        labels: { a: "1", b: "2" },
      });
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { a: "1", b: "2" } });
      expect(decoded()).toEqual([
        {
          topic: "/namespaces/create",
          namespace: "foo",
          typeName: "containerd.events.NamespaceCreate",
          body: { name: "foo", labels: { a: "1", b: "2" } },
        },
      ]);
    });

    test("a label with an empty value is echoed and published but not stored", async () => {
      expect(await local.create("e1", { a: "", b: "1" })).toEqual({ name: "e1", labels: { a: "", b: "1" } });
      expect(await local.get("e1")).toEqual({ name: "e1", labels: { b: "1" } });
      expect(decoded()[0]!.body).toEqual({ name: "e1", labels: { a: "", b: "1" } });
    });

    test("the event carries the caller's namespace when given", async () => {
      await local.create("ev2", {}, { namespace: "hdr" });
      expect(events.map((e) => [e.topic, e.namespace])).toEqual([["/namespaces/create", "hdr"]]);
    });

    test("an existing name is AlreadyExists", async () => {
      await local.create("foo");
      const e = await failure(local.create("foo", { x: "1" }));
      expect([e.kind, e.code, e.message]).toEqual([
        Kind.AlreadyExists,
        Code.AlreadyExists,
        'namespace "foo": already exists',
      ]);
      expect(await local.get("foo")).toEqual({ name: "foo", labels: {} });
      expect(events).toHaveLength(1);
    });

    test.each([
      ["", "identifier must not be empty: invalid argument"],
      ["bad_", 'identifier "bad_" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument'],
      ["x/y", 'identifier "x/y" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument'],
      [
        "a".repeat(77),
        `identifier "${"a".repeat(77)}" greater than maximum length (76 characters): invalid argument`,
      ],
    ])("name %p is InvalidArgument", async (name, message) => {
      const e = await failure(local.create(name));
      expect([e.kind, e.message]).toEqual([Kind.InvalidArgument, message]);
      expect(await local.list()).toEqual([]);
      expect(events).toEqual([]);
    });

    test("a 76-character name is fine", async () => {
      await local.create("a".repeat(76));
      expect((await local.list()).map((n) => n.name)).toEqual(["a".repeat(76)]);
    });

    test("labels are limited to 4096 bytes of key and value, checked before existence", async () => {
      await local.create("big3", { k: "v".repeat(4095) });
      const e = await failure(local.create("big", { [`${"k".repeat(100)}`]: "v".repeat(4000) }));
      expect([e.kind, e.message]).toEqual([
        Kind.InvalidArgument,
        "namespace.Labels: label key and value greater than maximum size (4096 bytes), key: kkkkkkkkkk: invalid argument",
      ]);
      // containerd validates labels before it looks for the name.
      const dup = await failure(local.create("big3", { a: "v".repeat(4100) }));
      expect(dup.kind).toBe(Kind.InvalidArgument);
      expect((await local.list()).map((n) => n.name)).toEqual(["big3"]);
    });

    test("an empty label key is refused as bolt refuses it (Unknown, `key required`)", async () => {
      const e = await failure(local.create("k0", { "": "" }));
      expect([e.kind, e.message]).toEqual([Kind.Unknown, "key required"]);
      expect(await local.list()).toEqual([]);
    });

    test('a label named "__proto__" is an ordinary label', async () => {
      const labels = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
      await local.create("p", labels);
      expect(Object.entries((await local.get("p")).labels)).toEqual([["__proto__", "x"]]);
      await local.update("p", labels, ["labels.__proto__"]);
      expect(Object.entries((await local.get("p")).labels)).toEqual([["__proto__", "x"]]);
    });
  });

  describe("get and list", () => {
    test("a namespace that does not exist is answered with no labels, as containerd does", async () => {
      expect(await local.get("nope")).toEqual({ name: "nope", labels: {} });
      expect(await local.list()).toEqual([]);
    });

    test("list is ordered by name, byte by byte", async () => {
      for (const name of ["foo", "B", "a", "default", "Z-1"]) await local.create(name);
      expect((await local.list()).map((n) => n.name)).toEqual(["B", "Z-1", "a", "default", "foo"]);
    });
  });

  describe("update", () => {
    beforeEach(async () => {
      await local.create("foo", { a: "1", b: "2" });
      events = [];
    });

    test("without a mask, the labels are replaced", async () => {
      expect(await local.update("foo", { y: "2" })).toEqual({ name: "foo", labels: { y: "2" } });
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { y: "2" } });
      await local.update("foo", {});
      expect(await local.get("foo")).toEqual({ name: "foo", labels: {} });
    });

    test("with labels.<key> paths, only those keys change; an empty value removes one", async () => {
      await local.update("foo", { x: "1", b: "", zz: "9" }, ["labels.x", "labels.b"]);
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { a: "1", x: "1" } });
      // A key the request leaves out is removed: its value is "".
      await local.update("foo", {}, ["labels.a"]);
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { x: "1" } });
      // Keys may hold dots and slashes.
      await local.update("foo", { "a.b/c": "1" }, ["labels.a.b/c"]);
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { x: "1", "a.b/c": "1" } });
    });

    test('any other path, "labels" included, is InvalidArgument and changes nothing', async () => {
      for (const path of ["labels", "name", "Labels.a"]) {
        const e = await failure(local.update("foo", { x: "1" }, [path]));
        expect([e.kind, e.code, e.message]).toEqual([
          Kind.InvalidArgument,
          Code.InvalidArgument,
          `cannot update "${path}" field`,
        ]);
      }
      // A good path before a bad one is rolled back with it.
      await failure(local.update("foo", { a: "changed" }, ["labels.a", "name"]));
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { a: "1", b: "2" } });
      expect(events).toEqual([]);
    });

    test("an oversized label fails the whole update", async () => {
      const e = await failure(local.update("foo", { ok: "1", [`${"k".repeat(20)}`]: "v".repeat(4090) }));
      expect([e.kind, e.message]).toEqual([
        Kind.InvalidArgument,
        "namespace.Labels: label key and value greater than maximum size (4096 bytes), key: kkkkkkkkkk: invalid argument",
      ]);
      expect(await local.get("foo")).toEqual({ name: "foo", labels: { a: "1", b: "2" } });
      expect(events).toEqual([]);
    });

    test("setting a label creates a namespace that did not exist; a no-op update does not", async () => {
      await local.update("ghost", { y: "2" }, ["labels.y"]);
      await local.update("ghost3", {}, ["labels.y"]);
      await local.update("ghost4", { a: "" });
      await local.update("ghost2", {});
      expect(await local.list()).toEqual([
        { name: "foo", labels: { a: "1", b: "2" } },
        { name: "ghost", labels: { y: "2" } },
        { name: "ghost3", labels: {} },
        { name: "ghost4", labels: {} },
      ]);
      // Unlike containerd, a name that create would refuse is not created this way.
      const e = await failure(local.update("bad_", { a: "1" }, ["labels.a"]));
      expect(e.kind).toBe(Kind.InvalidArgument);
    });

    test("publishes NamespaceUpdate with the request's labels", async () => {
      await local.update("foo", { b: "2", zz: "9" }, ["labels.b"], { namespace: "default" });
      await local.update("ev9", { b: "2" }, ["labels.b"]);
      expect(decoded()).toEqual([
        {
          topic: "/namespaces/update",
          namespace: "default",
          typeName: "containerd.events.NamespaceUpdate",
          body: { name: "foo", labels: { b: "2", zz: "9" } },
        },
        {
          topic: "/namespaces/update",
          namespace: "ev9",
          typeName: "containerd.events.NamespaceUpdate",
          body: { name: "ev9", labels: { b: "2" } },
        },
      ]);
    });
  });

  describe("delete", () => {
    test("removes the namespace and publishes NamespaceDelete in the deleted namespace", async () => {
      await local.create("ev1");
      await local.delete("ev1");
      expect(await local.list()).toEqual([]);
      expect(decoded()).toEqual([
        {
          topic: "/namespaces/create",
          namespace: "ev1",
          typeName: "containerd.events.NamespaceCreate",
          body: { name: "ev1", labels: {} },
        },
        {
          topic: "/namespaces/delete",
          namespace: "ev1",
          typeName: "containerd.events.NamespaceDelete",
          body: { name: "ev1" },
        },
      ]);
    });

    test("a namespace that does not exist is NotFound", async () => {
      const e = await failure(local.delete("nope"));
      expect([e.kind, e.code, e.message]).toEqual([
        Kind.NotFound,
        Code.NotFound,
        'namespace "nope": not found',
      ]);
      expect(events).toEqual([]);
    });

    const holders = {
      images: () =>
        db
          .insert(images)
          .values({
            namespace: "c1",
            name: "docker.io/library/tiny:1",
            targetDigest: "sha256:aa",
            targetMediaType: "m",
            targetSize: 1,
          })
          .run(),
      blobs: () => db.insert(content).values({ namespace: "c1", digest: "sha256:aa", size: 6 }).run(),
      containers: () =>
        db
          .insert(containers)
          .values({
            namespace: "c1",
            id: "ctr1",
            runtimeName: "io.containerd.runc.v2",
            spec: Buffer.from("{}"),
          })
          .run(),
      'snapshots on "native" snapshotter': () =>
        db
          .insert(snapshots)
          .values({ namespace: "c1", snapshotter: "native", key: "k1", backendName: "1", kind: "active" })
          .run(),
    };

    test.each(Object.keys(holders))("a namespace holding %s is FailedPrecondition", async (what) => {
      await local.create("c1");
      holders[what as keyof typeof holders]();
      events = [];
      const e = await failure(local.delete("c1"));
      expect([e.kind, e.code, e.message]).toEqual([
        Kind.FailedPrecondition,
        Code.FailedPrecondition,
        `namespace "c1" must be empty, but it still has ${what}: failed precondition`,
      ]);
      expect((await local.list()).map((n) => n.name)).toEqual(["c1"]);
      expect(events).toEqual([]);
    });

    test("the message lists everything held, in containerd's order", async () => {
      await local.create("c1");
      for (const add of Object.values(holders)) add();
      db.insert(snapshots)
        .values({ namespace: "c1", snapshotter: "overlayfs", key: "k2", backendName: "2", kind: "active" })
        .run();
      db.insert(snapshots)
        .values({ namespace: "c1", snapshotter: "native", key: "k3", backendName: "3", kind: "view" })
        .run();
      const e = await failure(local.delete("c1"));
      expect(e.message).toBe(
        'namespace "c1" must be empty, but it still has images, blobs, containers, snapshots on "native" snapshotter, snapshots on "overlayfs" snapshotter: failed precondition',
      );
    });

    test("leases and ingests do not hold a namespace: they are deleted with it, as in containerd", async () => {
      await local.create("lz");
      await local.create("other");
      write(db, (tx) => {
        for (const ns of ["lz", "other"]) {
          tx.insert(leases).values({ namespace: ns, id: "l1" }).run();
          tx.insert(leaseResources)
            .values({ namespace: ns, lease: "l1", type: "snapshots/overlayfs", id: "k" })
            .run();
          tx.insert(ingests)
            .values({ namespace: ns, ref: "r", backendRef: `${ns}-r` })
            .run();
        }
      });
      await local.delete("lz");
      expect(
        read(db, (tx) => ({
          leases: tx.select({ ns: leases.namespace }).from(leases).all(),
          resources: tx.select({ ns: leaseResources.namespace }).from(leaseResources).all(),
          ingests: tx.select({ ns: ingests.namespace }).from(ingests).all(),
        })),
      ).toEqual({ leases: [{ ns: "other" }], resources: [{ ns: "other" }], ingests: [{ ns: "other" }] });
    });

    test("another namespace's records do not hold this one", async () => {
      await local.create("a");
      await local.create("b");
      db.insert(content).values({ namespace: "b", digest: "sha256:aa", size: 1 }).run();
      await local.delete("a");
      expect((await local.list()).map((n) => n.name)).toEqual(["b"]);
    });
  });

  test("events come out in the order of the changes, after each commits", async () => {
    const seen: string[] = [];
    local = new NamespacesLocal(db, (topic, _ns, event) => {
      // The change is visible by the time its event is published.
      const names = read(db, (tx) => tx.select({ name: namespaces.name }).from(namespaces).all()).map(
        (r) => r.name,
      );
      seen.push(`${topic} ${fromBinary(NamespaceCreateSchema, event.bytes).name} [${names.join(",")}]`);
    });
    await local.create("one");
    await local.update("one", { a: "1" });
    await local.create("two");
    await local.delete("one");
    await failure(local.delete("one"));
    expect(seen).toEqual([
      "/namespaces/create one [one]",
      "/namespaces/update one [one]",
      "/namespaces/create two [one,two]",
      "/namespaces/delete one [two]",
    ]);
  });

  test("a publish failure reaches the caller; the change stays committed", async () => {
    local = new NamespacesLocal(db, async () => {
      throw new Error("exchange down");
    });
    await expect(local.create("x")).rejects.toThrow("exchange down");
    expect(await local.get("x")).toEqual({ name: "x", labels: {} });
    expect((await local.list()).map((n) => n.name)).toEqual(["x"]);
  });
});

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { BunkerError, Code, parseFilters } from "@bunkerd/plugin-api";
import {
  type ContainerInput,
  containerFields,
  createContainer,
  deleteContainer,
  getContainer,
  listContainers,
  updateContainer,
} from "./containers.ts";
import { type MetadataDb, openMetadata, read, write } from "./db.ts";
import { deleteNamespace, listNamespaces } from "./namespaces.ts";

// Messages marked "containerd 1.6.20" were read off the real daemon, over raw gRPC calls against a
// private containerd, not from its source.

let db: MetadataDb;
beforeEach(() => {
  db = openMetadata(":memory:");
});
afterEach(() => db.$client.close());

const enc = new TextEncoder();
const SPEC = { typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", value: enc.encode("{}") };
const OPTIONS = { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x12, 0x01, 0x78]) };
const RUNC = "io.containerd.runc.v2";

const input = (id: string, more: Partial<ContainerInput> = {}): ContainerInput => ({
  id,
  runtime: { name: RUNC },
  spec: SPEC,
  ...more,
});

const create = (c: ContainerInput, ns = "default") => write(db, (tx) => createContainer(tx, ns, c));
const update = (c: ContainerInput, paths: string[] = [], ns = "default") =>
  write(db, (tx) => updateContainer(tx, ns, c, paths));
const get = (id: string, ns = "default") => read(db, (tx) => getContainer(tx, ns, id));
const list = (filters: string[] = [], ns = "default") =>
  read(db, (tx) => listContainers(tx, ns, parseFilters(filters))).map((c) => c.id);
const remove = (id: string, ns = "default") => write(db, (tx) => deleteContainer(tx, ns, id));

function failure(fn: () => unknown): [number, string] {
  try {
    fn();
  } catch (e) {
    if (e instanceof BunkerError) return [e.code, e.message];
    throw e;
  }
  throw new Error("expected a failure");
}

describe("create", () => {
  test("stores every field, drops empty labels, creates the namespace, and reads back the same", () => {
    const made = create(
      input("c1", {
        labels: { a: "1", gone: "" },
        image: "docker.io/library/busybox:test",
        runtime: { name: RUNC, options: OPTIONS },
        snapshotter: "overlayfs",
        snapshotKey: "c1",
        extensions: { ext: { typeUrl: "x.Y", value: new Uint8Array([1, 2, 3]) } },
      }),
      "fresh",
    );
    expect(made).toMatchObject({
      id: "c1",
      labels: { a: "1" },
      image: "docker.io/library/busybox:test",
      runtime: { name: RUNC, options: OPTIONS },
      spec: SPEC,
      snapshotter: "overlayfs",
      snapshotKey: "c1",
      sandbox: "",
    });
    expect(made.createdAt).toEqual(made.updatedAt);
    expect(get("c1", "fresh")).toEqual(made);
    expect(get("c1", "fresh").extensions.ext!.value).toEqual(new Uint8Array([1, 2, 3]));
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([{ name: "fresh", labels: {} }]);
  });

  test("runtime options are optional and an empty spec is still a spec (containerd 1.6.20)", () => {
    const c = create(input("c", { spec: { typeUrl: "", value: new Uint8Array() } }));
    expect(c.runtime).toEqual({ name: RUNC });
    expect(get("c").spec).toEqual({ typeUrl: "", value: new Uint8Array() });
  });

  test.each([
    [
      "an empty ID",
      input(""),
      "create container failed validation: container.ID: identifier must not be empty: invalid argument",
    ],
    [
      "an ID that is not an identifier",
      input("a b"),
      'create container failed validation: container.ID: identifier "a b" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument',
    ],
    [
      "an ID over 76 characters",
      input("a".repeat(80)),
      `create container failed validation: container.ID: identifier "${"a".repeat(80)}" greater than maximum length (76 characters): invalid argument`,
    ],
    [
      "an empty extension name",
      input("x", { extensions: { "": SPEC } }),
      "create container failed validation: container.Extension keys must not be zero-length: invalid argument",
    ],
    [
      "an oversized label",
      input("x", { labels: { k: "v".repeat(5000) } }),
      "create container failed validation: containers.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
    ],
    [
      "no runtime name",
      { id: "x", spec: SPEC },
      "create container failed validation: container.Runtime.Name must be set: invalid argument",
    ],
    [
      "no spec",
      { id: "x", runtime: { name: "r" } },
      "create container failed validation: container.Spec must be set: invalid argument",
    ],
    [
      "a snapshot key without a snapshotter",
      input("x", { snapshotKey: "k" }),
      "create container failed validation: container.Snapshotter must be set if container.SnapshotKey is set: invalid argument",
    ],
  ])("%s is InvalidArgument in containerd 1.6.20's words, and nothing is written", (_, c, message) => {
    expect(failure(() => create(c, "ns1"))).toEqual([Code.InvalidArgument, message]);
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([]);
  });

  test("an empty label key with a value is Unknown, as bolt refuses it (containerd 1.6.20)", () => {
    expect(failure(() => create(input("x", { labels: { "": "v" } }), "ns1"))).toEqual([
      Code.Unknown,
      'failed to write container "x": failed to set label ""="v": key required',
    ]);
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([]);
  });

  test("an ID in use is AlreadyExists, after validation (containerd 1.6.20)", () => {
    create(input("c1"));
    expect(failure(() => create(input("c1")))).toEqual([
      Code.AlreadyExists,
      'container "c1": already exists',
    ]);
    expect(failure(() => create({ id: "c1" }))).toEqual([
      Code.InvalidArgument,
      "create container failed validation: container.Runtime.Name must be set: invalid argument",
    ]);
    // The same ID in another namespace is another container.
    create(input("c1", { image: "other" }), "ns2");
    expect(get("c1", "ns2").image).toBe("other");
    expect(get("c1").image).toBe("");
  });
});

describe("get, list and delete", () => {
  test("missing containers are NotFound in containerd 1.6.20's words", () => {
    expect(failure(() => get("nope"))).toEqual([
      Code.NotFound,
      'container "nope" in namespace "default": not found',
    ]);
    expect(failure(() => remove("nope"))).toEqual([
      Code.NotFound,
      'cannot delete container "nope" in namespace "default": not found',
    ]);
    create(input("c1"));
    // Once the namespace has containers, bolt's bucket exists and the message is the short one.
    expect(failure(() => remove("nope"))).toEqual([Code.NotFound, "container nope: not found"]);
    remove("c1");
    expect(list()).toEqual([]);
  });

  test("list orders by ID byte by byte; another namespace's containers are not there", () => {
    for (const id of ["b", "a-1", "Z", "a"]) create(input(id));
    create(input("elsewhere"), "other");
    expect(list()).toEqual(["Z", "a", "a-1", "b"]);
    expect(list([], "other")).toEqual(["elsewhere"]);
    expect(list([], "never-made")).toEqual([]);
    expect(failure(() => get("elsewhere"))[0]).toBe(Code.NotFound);
  });

  test.each([
    [["id==c1"], ["c1"]],
    [["image==img"], ["c1"]],
    [["image"], ["c1"]],
    // containerd 1.6.20: an empty image is an absent one, which != matches.
    [["image!=img"], ["c2", "c3"]],
    [["runtime.name==io.containerd.runc.v2"], ["c1", "c2"]],
    [["runtime.name~=^other"], ["c3"]],
    [["runtime"], []],
    [["labels.z==9"], ["c1"]],
    [["labels.z!=9"], ["c2", "c3"]],
    [['labels."a.b"==1'], ["c2"]],
    [
      ["labels.z==9", "id==c3"],
      ["c1", "c3"],
    ],
    [["labels.z==9,id==c3"], []],
    [["snapshotter==overlayfs"], []],
  ])("filters %j → %j", (filters, ids) => {
    create(input("c1", { image: "img", labels: { z: "9" } }));
    create(input("c2", { labels: { "a.b": "1" } }));
    create(input("c3", { runtime: { name: "other.v1" } }));
    expect(list(filters)).toEqual(ids);
  });

  test("filter fields are containerd's adaptContainer", () => {
    const fields = containerFields(get(create(input("c", { labels: { "x.y/z": "2" } })).id));
    expect(fields(["id"])).toBe("c");
    expect(fields(["runtime", "name"])).toBe(RUNC);
    expect(fields(["runtime", "options"])).toBeUndefined();
    expect(fields(["image"])).toBeUndefined();
    expect(fields(["labels", "x.y/z"])).toBe("2");
    expect(fields(["labels", "x", "y/z"])).toBe("2");
    expect(fields(["spec"])).toBeUndefined();
  });

  test("a namespace holding a container cannot be deleted, and can once it is gone", () => {
    create(input("c1"), "team");
    expect(failure(() => write(db, (tx) => deleteNamespace(tx, "team")))).toEqual([
      Code.FailedPrecondition,
      'namespace "team" must be empty, but it still has containers: failed precondition',
    ]);
    remove("c1", "team");
    write(db, (tx) => deleteNamespace(tx, "team"));
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([]);
  });
});

describe("update", () => {
  const EXT = { typeUrl: "x.E", value: new Uint8Array([9]) };
  beforeEach(() => {
    create(
      input("c1", {
        labels: { a: "1", b: "2" },
        image: "img",
        runtime: { name: RUNC, options: OPTIONS },
        snapshotter: "overlayfs",
        snapshotKey: "k1",
        extensions: { x: EXT },
      }),
    );
  });

  test("labels.<key> paths set or remove single labels; the rest is kept", async () => {
    const before = get("c1");
    await Bun.sleep(2);
    const after = update({ id: "c1", labels: { b: "20", c: "3", ignored: "x" } }, [
      "labels.b",
      "labels.c",
      "labels.a",
    ]);
    expect(after.labels).toEqual({ b: "20", c: "3" });
    expect({ ...after, labels: before.labels, updatedAt: before.updatedAt }).toEqual(before);
    expect(after.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
    expect(get("c1")).toEqual(after);
  });

  test("labels, image, spec and snapshotkey replace what they name", () => {
    const spec = { typeUrl: SPEC.typeUrl, value: enc.encode('{"ociVersion":"1.0.2"}') };
    const after = update({ id: "c1", labels: { n: "1" }, image: "img2", spec, snapshotKey: "k2" }, [
      "labels",
      "image",
      "spec",
      "snapshotkey",
    ]);
    expect(after).toMatchObject({ labels: { n: "1" }, image: "img2", spec, snapshotKey: "k2" });
    expect(get("c1")).toEqual(after);
  });

  test("extensions and extensions.<key>: set, and removed when the request lacks them", () => {
    const y = { typeUrl: "x.Y", value: new Uint8Array([7]) };
    expect(Object.keys(update({ id: "c1", extensions: { y } }, ["extensions.y"]).extensions)).toEqual([
      "x",
      "y",
    ]);
    expect(update({ id: "c1" }, ["extensions.x"]).extensions).toEqual({ y });
    expect(update({ id: "c1", extensions: { z: y } }, ["extensions"]).extensions).toEqual({ z: y });
    expect(get("c1").extensions).toEqual({ z: y });
  });

  test("without a mask, the mutable fields are replaced; snapshotter and runtime must not change", () => {
    expect(failure(() => update(input("c1", { snapshotter: "native" })))).toEqual([
      Code.InvalidArgument,
      "container.Snapshotter field is immutable: invalid argument",
    ]);
    expect(
      failure(() => update(input("c1", { snapshotter: "overlayfs", runtime: { name: "other" } }))),
    ).toEqual([Code.InvalidArgument, "container.Runtime.Name field is immutable: invalid argument"]);
    const after = update(input("c1", { snapshotter: "overlayfs", labels: { n: "1" } }));
    // containerd 1.6.20: runtime options are not replaced, image and snapshot key are (emptied here).
    expect(after).toMatchObject({
      labels: { n: "1" },
      image: "",
      snapshotKey: "",
      runtime: { name: RUNC, options: OPTIONS },
      extensions: {},
    });
  });

  test.each([
    ["runtime", 'cannot update "runtime" field on "c1": invalid argument'],
    ["snapshotter", 'cannot update "snapshotter" field on "c1": invalid argument'],
    ["id", 'cannot update "id" field on "c1": invalid argument'],
    ["bogus", 'cannot update "bogus" field on "c1": invalid argument'],
  ])("the path %s is refused in containerd 1.6.20's words, and nothing is applied", (path, message) => {
    expect(failure(() => update(input("c1", { labels: {} }), ["labels", path]))).toEqual([
      Code.InvalidArgument,
      message,
    ]);
    expect(get("c1").labels).toEqual({ a: "1", b: "2" });
  });

  test("the result must validate: a spec path without a spec, an oversized label, a keyless one", () => {
    expect(failure(() => update({ id: "c1" }, ["spec"]))).toEqual([
      Code.InvalidArgument,
      "update failed validation: container.Spec must be set: invalid argument",
    ]);
    expect(failure(() => update({ id: "c1", labels: { k: "v".repeat(5000) } }, ["labels.k"]))).toEqual([
      Code.InvalidArgument,
      "update failed validation: containers.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
    ]);
    expect(failure(() => update({ id: "c1", labels: { "": "v" } }, ["labels."]))).toEqual([
      Code.Unknown,
      'failed to write container "c1": failed to set label ""="v": key required',
    ]);
    expect(get("c1").labels).toEqual({ a: "1", b: "2" });
  });

  test("a missing container is NotFound, in the words containerd 1.6.20 uses", () => {
    expect(failure(() => update(input("nope")))).toEqual([Code.NotFound, 'container "nope": not found']);
    expect(failure(() => update(input("nope"), [], "empty"))).toEqual([
      Code.NotFound,
      'cannot update container "nope" in namespace "empty": not found',
    ]);
    expect(failure(() => update({ id: "" }))).toEqual([
      Code.InvalidArgument,
      "must specify a container id: invalid argument",
    ]);
  });

  test("the sandbox is kept through updates", () => {
    create(input("s1", { sandbox: "pod-1" }));
    expect(update({ id: "s1", labels: { a: "1" } }, ["labels"]).sandbox).toBe("pod-1");
    expect(get("s1").sandbox).toBe("pod-1");
  });
});

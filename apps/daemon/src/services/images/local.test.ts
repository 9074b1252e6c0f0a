import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { BunkerError, Code, Kind } from "@bunkerd/plugin-api";
import {
  ImageCreateSchema,
  ImageDeleteSchema,
  ImageUpdateSchema,
} from "@bunkerd/proto/containerd/events/image_pb.ts";
import { type MetadataDb, openMetadata, read } from "../../plugins/metadata/db.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";
import { listNamespaces } from "../../plugins/metadata/namespaces.ts";
import type { EncodedEvent } from "../namespaces/index.ts";
import { type ImageInput, ImagesLocal } from "./local.ts";

// Expectations marked "containerd 1.6.20" were read off the real daemon (raw gRPC calls and
// `ctr events` against a private containerd), not from its source.

type Published = { topic: string; namespace: string; event: EncodedEvent };

let db: MetadataDb;
let events: Published[];
let gcCalls: string[];
let local: ImagesLocal;

const gc: GcNotifier = {
  mutated: () => void gcCalls.push("mutated"),
  deleted: (what) => void gcCalls.push(what ? `deleted ${JSON.stringify(what)}` : "deleted"),
  collect: async () => {
    await Bun.sleep(1);
    gcCalls.push("collect");
  },
};

beforeEach(() => {
  db = openMetadata(":memory:");
  events = [];
  gcCalls = [];
  local = new ImagesLocal(db, (topic, namespace, event) => void events.push({ topic, namespace, event }), gc);
});
afterEach(() => db.$client.close());

async function failure(p: Promise<unknown>): Promise<BunkerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}
const wire = (e: BunkerError) => [e.code, e.message];

const decoded = () =>
  events.map(({ topic, namespace, event }) => {
    const schema = {
      "containerd.services.images.v1.ImageCreate": ImageCreateSchema,
      "containerd.services.images.v1.ImageUpdate": ImageUpdateSchema,
      "containerd.services.images.v1.ImageDelete": ImageDeleteSchema,
    }[event.typeName]!;
    const { $typeName: _, ...body } = fromBinary(schema, event.bytes) as { $typeName: string };
    return [topic, namespace, event.typeName, body];
  });

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const target = (digest = A, annotations: Record<string, string> = {}) => ({
  mediaType: MANIFEST,
  digest,
  size: 10,
  annotations,
});
const image = (name: string, more: Partial<ImageInput> = {}): ImageInput => ({
  name,
  target: target(),
  ...more,
});

describe("create", () => {
  test("stores the image with its annotations, creates the namespace, publishes ImageCreate", async () => {
    const made = await local.create(
      "fresh",
      image("docker.io/library/x:1", { labels: { a: "1", e: "" }, target: target(A, { an: "1", e: "" }) }),
    );
    // containerd 1.6.20: empty label and annotation values are not stored, nor echoed.
    expect(made).toMatchObject({
      name: "docker.io/library/x:1",
      labels: { a: "1" },
      target: target(A, { an: "1" }),
    });
    expect(made.createdAt).toEqual(made.updatedAt);
    expect(await local.get("fresh", "docker.io/library/x:1")).toEqual(made);
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([{ name: "fresh", labels: {} }]);
    expect(decoded()).toEqual([
      [
        "/images/create",
        "fresh",
        "containerd.services.images.v1.ImageCreate",
        { name: "docker.io/library/x:1", labels: { a: "1" } },
      ],
    ]);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("names are not parsed as references (containerd 1.6.20 accepts any non-empty name)", async () => {
    for (const name of ["a b", "UPPER", "x/../y", "😀"]) await local.create("default", image(name));
    expect((await local.list("default")).map((i) => i.name)).toEqual(["UPPER", "a b", "x/../y", "😀"]);
  });

  test.each([
    ["an empty name", image(""), [Code.InvalidArgument, "Image.Name required"]],
    [
      "no target",
      { name: "x" },
      [Code.InvalidArgument, 'Target.Digest "" invalid: invalid checksum digest format: invalid argument'],
    ],
    [
      "a short digest",
      image("x", { target: target("sha256:abc") }),
      [
        Code.InvalidArgument,
        'Target.Digest "sha256:abc" invalid: invalid checksum digest length: invalid argument',
      ],
    ],
    [
      "an upper-case digest",
      image("x", { target: target(`sha256:${"A".repeat(64)}`) }),
      [
        Code.InvalidArgument,
        `Target.Digest "sha256:${"A".repeat(64)}" invalid: invalid checksum digest format: invalid argument`,
      ],
    ],
    [
      "an unknown algorithm",
      image("x", { target: target("foo:bar") }),
      [
        Code.InvalidArgument,
        'Target.Digest "foo:bar" invalid: unsupported digest algorithm: invalid argument',
      ],
    ],
    [
      "a zero size",
      image("x", { target: { ...target(), size: 0 } }),
      [Code.InvalidArgument, "Target.Size must be greater than zero: invalid argument"],
    ],
    [
      "a negative size",
      image("x", { target: { ...target(), size: -1 } }),
      [Code.InvalidArgument, "Target.Size must be greater than zero: invalid argument"],
    ],
    [
      "no media type",
      image("x", { target: { ...target(), mediaType: "" } }),
      [Code.InvalidArgument, "Target.MediaType must be set: invalid argument"],
    ],
    [
      "an oversized label",
      image("x", { labels: { ["k".repeat(4000)]: "v".repeat(200) } }),
      [
        Code.InvalidArgument,
        "image.Labels: label key and value greater than maximum size (4096 bytes), key: kkkkkkkkkk: invalid argument",
      ],
    ],
    [
      "an empty label key",
      image("x", { labels: { "": "v" } }),
      [Code.Unknown, 'writing labels for image x: failed to set label ""="v": key required'],
    ],
    [
      "an empty annotation key",
      image("x", { target: target(A, { "": "v" }) }),
      [Code.Unknown, 'writing Annotations for image x: failed to set label ""="v": key required'],
    ],
  ])("%s is refused as containerd 1.6.20 refuses it, and nothing is written", async (_, input, want) => {
    expect(wire(await failure(local.create("ns1", input as ImageInput)))).toEqual(want);
    expect(read(db, (tx) => listNamespaces(tx))).toEqual([]);
    expect(events).toEqual([]);
    expect(gcCalls).toEqual([]);
  });

  test("an empty label key with an empty value is dropped, not refused", async () => {
    expect((await local.create("default", image("c", { labels: { "": "" } }))).labels).toEqual({});
  });

  test("an existing name is AlreadyExists, after validation", async () => {
    await local.create("default", image("x"));
    expect(wire(await failure(local.create("default", image("x"))))).toEqual([
      Code.AlreadyExists,
      'image "x": already exists',
    ]);
    // The image is validated first: a bad target on an existing name is InvalidArgument.
    const bad = await failure(local.create("default", image("x", { target: { ...target(), size: 0 } })));
    expect(bad.kind).toBe(Kind.InvalidArgument);
    expect(events).toHaveLength(1);
  });
});

describe("get and list", () => {
  beforeEach(async () => {
    await local.create("default", image("y", { labels: { z: "1" }, target: target(B, { an: "1" }) }));
    await local.create("default", image("docker.io/library/x:1", { labels: { d: "4" } }));
    await local.create("default", image("a b"));
  });

  test("get of a missing image, in any namespace, is NotFound", async () => {
    expect(wire(await failure(local.get("default", "nope")))).toEqual([
      Code.NotFound,
      'image "nope": not found',
    ]);
    expect(wire(await failure(local.get("never-made", "y")))).toEqual([
      Code.NotFound,
      'image "y": not found',
    ]);
  });

  test("list orders by name byte by byte; a namespace that does not exist has none", async () => {
    expect((await local.list("default")).map((i) => i.name)).toEqual(["a b", "docker.io/library/x:1", "y"]);
    expect(await local.list("other")).toEqual([]);
  });

  test.each([
    [["name==y"], ["y"]],
    [["name!=y"], ["a b", "docker.io/library/x:1"]],
    [[`target.digest~=^sha256:b`], ["y"]],
    [[`target.mediatype==${MANIFEST}`], ["a b", "docker.io/library/x:1", "y"]],
    [["labels.z"], ["y"]],
    [["labels.z==1"], ["y"]],
    [["annotations.an==1"], ["y"]],
    [["annotations.an"], ["y"]],
    // containerd 1.6.20: size is not a filter field; a missing field is "not equal" to anything.
    [["target.size==10"], []],
    [["labels.nope!=1"], ["a b", "docker.io/library/x:1", "y"]],
    [
      ["labels.d==4", "name==y"],
      ["docker.io/library/x:1", "y"],
    ],
    [["labels.d==4,name==y"], []],
    [["name~=^a"], ["a b"]],
  ])("filters %j → %j", async (filters, names) => {
    expect((await local.list("default", filters)).map((i) => i.name)).toEqual(names);
  });

  test("a filter that does not parse is InvalidArgument", async () => {
    const e = await failure(local.list("default", ["name==y,"]));
    expect(e.code).toBe(Code.InvalidArgument);
  });

  test("images in one namespace are invisible in another", async () => {
    await local.create("b", image("only-in-b"));
    expect((await local.list("b")).map((i) => i.name)).toEqual(["only-in-b"]);
    expect(await failure(local.get("default", "only-in-b"))).toMatchObject({ kind: Kind.NotFound });
    expect(await failure(local.delete("default", "only-in-b"))).toMatchObject({ kind: Kind.NotFound });
    // The same name can live in both.
    await local.create("b", image("y", { target: target(A) }));
    expect((await local.get("b", "y")).target.digest).toBe(A);
    expect((await local.get("default", "y")).target.digest).toBe(B);
  });
});

describe("update", () => {
  const NAME = "docker.io/library/x:1";
  beforeEach(async () => {
    await local.create(
      "default",
      image(NAME, { labels: { a: "1" }, target: target(A, { an: "1", b: "2" }) }),
    );
    events = [];
    gcCalls = [];
  });

  test("labels.<key> paths change only those keys; the event carries the stored labels", async () => {
    const before = await local.get("default", NAME);
    await Bun.sleep(2);
    const after = await local.update("default", { name: NAME, labels: { b: "2", x: "no" } }, ["labels.b"]);
    expect(after.labels).toEqual({ a: "1", b: "2" });
    expect(after.target).toEqual(before.target);
    expect(after.createdAt).toEqual(before.createdAt);
    expect(after.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
    expect(await local.get("default", NAME)).toEqual(after);
    expect(decoded()).toEqual([
      [
        "/images/update",
        "default",
        "containerd.services.images.v1.ImageUpdate",
        { name: NAME, labels: { a: "1", b: "2" } },
      ],
    ]);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("a labels.<key> path whose key the request lacks removes the label", async () => {
    expect((await local.update("default", { name: NAME, labels: {} }, ["labels.a"])).labels).toEqual({});
    // An empty key with no value is nothing to store (containerd 1.6.20: `labels.` is accepted).
    expect((await local.update("default", { name: NAME }, ["labels.", "labels.b.c"])).labels).toEqual({});
  });

  test("`labels` replaces them all; `annotations` and `annotations.<key>` reach the target's", async () => {
    expect((await local.update("default", { name: NAME, labels: { c: "3" } }, ["labels"])).labels).toEqual({
      c: "3",
    });
    const one = await local.update("default", { name: NAME, target: { annotations: { b: "3" } } }, [
      "annotations.b",
    ]);
    expect(one.target).toEqual(target(A, { an: "1", b: "3" }));
    const none = await local.update("default", { name: NAME }, ["annotations"]);
    expect(none.target).toEqual(target(A, {}));
  });

  test("`target` replaces the whole descriptor, annotations included, and must be valid", async () => {
    const t = await local.update("default", { name: NAME, target: target(B, { y: "2" }) }, ["target"]);
    expect(t.target).toEqual(target(B, { y: "2" }));
    expect(t.labels).toEqual({ a: "1" });
    expect(
      wire(await failure(local.update("default", { name: NAME, labels: { c: "3" } }, ["target"]))),
    ).toEqual([
      Code.InvalidArgument,
      'Target.Digest "" invalid: invalid checksum digest format: invalid argument',
    ]);
  });

  test("without a mask the request replaces the image, which must then be valid", async () => {
    expect(wire(await failure(local.update("default", { name: NAME, labels: { d: "4" } })))).toEqual([
      Code.InvalidArgument,
      'Target.Digest "" invalid: invalid checksum digest format: invalid argument',
    ]);
    const all = await local.update("default", { name: NAME, labels: { d: "4" }, target: target(B) });
    expect([all.labels, all.target]).toEqual([{ d: "4" }, target(B)]);
  });

  test("any other path is InvalidArgument, and nothing of the request is applied", async () => {
    expect(
      wire(await failure(local.update("default", { name: NAME, labels: { a: "9" } }, ["labels.a", "bogus"]))),
    ).toEqual([Code.InvalidArgument, `cannot update "bogus" field on image "${NAME}": invalid argument`]);
    expect(wire(await failure(local.update("default", { name: NAME }, ["name"])))).toEqual([
      Code.InvalidArgument,
      `cannot update "name" field on image "${NAME}": invalid argument`,
    ]);
    expect((await local.get("default", NAME)).labels).toEqual({ a: "1" });
    expect(events).toEqual([]);
    expect(gcCalls).toEqual([]);
  });

  test("a missing image is NotFound before the mask is looked at; an empty name first of all", async () => {
    expect(
      wire(await failure(local.update("default", { name: "nope", target: target() }, ["bogus"]))),
    ).toEqual([Code.NotFound, 'image "nope": not found']);
    expect(wire(await failure(local.update("default", { name: "" })))).toEqual([
      Code.InvalidArgument,
      "Image.Name required",
    ]);
  });

  test("an oversized or keyless label after the merge is refused, and rolled back", async () => {
    const big = await failure(
      local.update("default", { name: NAME, labels: { k: "v".repeat(5000) } }, ["labels.k"]),
    );
    expect(big.message).toBe(
      "image.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
    );
    expect(
      wire(await failure(local.update("default", { name: NAME, labels: { "": "v" } }, ["labels."]))),
    ).toEqual([Code.Unknown, `writing labels for image ${NAME}: failed to set label ""="v": key required`]);
    expect((await local.get("default", NAME)).labels).toEqual({ a: "1" });
  });
});

describe("delete", () => {
  test("removes the record, publishes ImageDelete, reports a deletion; sync waits for a collection", async () => {
    await local.create("default", image("y"));
    await local.create("default", image("z"));
    events = [];
    gcCalls = [];
    await local.delete("default", "y");
    expect(gcCalls).toEqual(["deleted"]);
    await local.delete("default", "z", { sync: true });
    expect(gcCalls).toEqual(["deleted", "deleted", "collect"]);
    expect(await local.list("default")).toEqual([]);
    expect(decoded()).toEqual([
      ["/images/delete", "default", "containerd.services.images.v1.ImageDelete", { name: "y" }],
      ["/images/delete", "default", "containerd.services.images.v1.ImageDelete", { name: "z" }],
    ]);
  });

  test("a missing image is NotFound, even with an empty name (containerd 1.6.20)", async () => {
    expect(wire(await failure(local.delete("default", "nope", { sync: true })))).toEqual([
      Code.NotFound,
      'image "nope": not found',
    ]);
    expect(wire(await failure(local.delete("default", "")))).toEqual([Code.NotFound, 'image "": not found']);
    expect(events).toEqual([]);
    expect(gcCalls).toEqual([]);
  });

  test("a failing collection fails a sync delete, which has committed already", async () => {
    await local.create("default", image("y"));
    const failing = new ImagesLocal(db, () => {}, {
      ...gc,
      collect: () => Promise.reject(new BunkerError(Kind.Unavailable, "gc scheduler stopped")),
    });
    expect(wire(await failure(failing.delete("default", "y", { sync: true })))).toEqual([
      Code.Unavailable,
      "gc scheduler stopped: unavailable",
    ]);
    expect(await local.list("default")).toEqual([]);
  });
});

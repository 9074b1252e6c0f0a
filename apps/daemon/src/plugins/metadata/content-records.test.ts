import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { BunkerError, Code } from "@bunkerd/plugin-api";
import { ContentRecords, INGEST_EXPIRY_MS } from "./content-records.ts";
import { type MetadataDb, openMetadata, read, write } from "./db.ts";
import type { GcNotifier } from "./gc-notify.ts";
import { createLease, listLeaseResources } from "./leases.ts";
import { deleteNamespace, listNamespaces } from "./namespaces.ts";

// Expectations marked "containerd 1.6.20" were read off the real daemon (Content and Leases
// calls over raw gRPC, and the `ingest/<hash>/ref` files it wrote), not from its source.

let db: MetadataDb;
let gcCalls: string[];
let records: ContentRecords;

const gc: GcNotifier = {
  mutated: () => void gcCalls.push("mutated"),
  deleted: (what) => void gcCalls.push(what ? `deleted ${JSON.stringify(what)}` : "deleted"),
  collect: async () => {},
};

beforeEach(() => {
  db = openMetadata(":memory:");
  gcCalls = [];
  records = new ContentRecords(db, gc);
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

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const lease = (ns: string, id: string) => write(db, (tx) => createLease(tx, ns, id));
const resources = (ns: string, id: string) => read(db, (tx) => listLeaseResources(tx, ns, id));
const namespaces = () => read(db, (tx) => listNamespaces(tx)).map((n) => n.name);

describe("commit, info, list", () => {
  test("a commit records the blob in the namespace (creating it) and nowhere else", async () => {
    const info = await records.commit("a", { digest: D1, size: 5, labels: { x: "1", e: "" } });
    expect(info).toMatchObject({ digest: D1, size: 5, labels: { x: "1" } });
    expect(info.createdAt).toEqual(info.updatedAt);
    expect(await records.info("a", D1)).toEqual(info);
    expect(namespaces()).toEqual(["a"]);
    expect(wire(await failure(records.info("b", D1)))).toEqual([
      Code.NotFound,
      `content digest ${D1}: not found`,
    ]);
    expect(await records.has("a", D1)).toBe(true);
    expect(await records.has("b", D1)).toBe(false);
    expect(await records.exists(D1)).toBe(true);
    expect(await records.exists(D2)).toBe(false);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("answers are plain data that survive a trip through a port", async () => {
    await records.startIngest("a", "r1");
    const info = await records.commit("a", { digest: D1, size: 5 });
    for (const v of [info, await records.list("a"), await records.ingest("a", "r1").catch(() => null)]) {
      expect(structuredClone(v)).toEqual(v);
    }
  });

  test("committing what the namespace has is AlreadyExists, yet the ingest ends and the lease holds it", async () => {
    lease("a", "l1");
    await records.commit("a", { digest: D1, size: 5, labels: { x: "1" } });
    await records.startIngest("a", "r1", { lease: "l1" });
    expect(resources("a", "l1")).toEqual([{ type: "ingests", id: "r1" }]);
    const e = await failure(
      records.commit("a", { digest: D1, size: 5, labels: { y: "2" }, lease: "l1", ref: "r1" }),
    );
    // containerd 1.6.20: `content sha256:…: already exists`, and the lease now holds the content.
    expect(wire(e)).toEqual([Code.AlreadyExists, `content ${D1}: already exists`]);
    expect(resources("a", "l1")).toEqual([{ type: "content", id: D1 }]);
    expect(await records.listIngests("a")).toEqual([]);
    expect((await records.info("a", D1)).labels).toEqual({ x: "1" });
  });

  test("the same blob committed in a second namespace is a second record", async () => {
    await records.commit("a", { digest: D1, size: 5 });
    const b = await records.commit("b", { digest: D1, size: 5, labels: { in: "b" } });
    expect(b.labels).toEqual({ in: "b" });
    expect((await records.info("a", D1)).labels).toEqual({});
  });

  test("a lease the call names must exist; otherwise nothing is recorded", async () => {
    await records.startIngest("a", "r1");
    const e = await failure(records.commit("a", { digest: D1, size: 5, lease: "nope", ref: "r1" }));
    expect(wire(e)).toEqual([Code.NotFound, "lease does not exist: not found"]);
    expect(await records.has("a", D1)).toBe(false);
    expect((await records.listIngests("a")).map((i) => i.ref)).toEqual(["r1"]);
  });

  test("labels are validated as containerd does (info.Labels), before anything is written", async () => {
    expect(
      wire(await failure(records.commit("a", { digest: D1, size: 5, labels: { k: "v".repeat(5000) } }))),
    ).toEqual([
      Code.InvalidArgument,
      "info.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
    ]);
    expect(wire(await failure(records.commit("a", { digest: D1, size: 5, labels: { "": "v" } })))).toEqual([
      Code.Unknown,
      'failed to set label ""="v": key required',
    ]);
    expect(namespaces()).toEqual([]);
    expect(gcCalls).toEqual([]);
  });

  test.each([
    [[], [D1, D2]],
    [[`digest==${D2}`], [D2]],
    [["labels.x==1"], [D1]],
    [["labels.x"], [D1]],
    // containerd 1.6.20: size is not a filter field.
    [["size==5"], []],
  ])("list filters %j", async (filters, digests) => {
    await records.commit("a", { digest: D2, size: 6 });
    await records.commit("a", { digest: D1, size: 5, labels: { x: "1" } });
    await records.commit("b", { digest: `sha256:${"3".repeat(64)}`, size: 5, labels: { x: "1" } });
    expect((await records.list("a", filters)).map((i) => i.digest)).toEqual(digests);
  });

  test("a filter that does not parse is InvalidArgument", async () => {
    expect((await failure(records.list("a", ["digest==x,"]))).code).toBe(Code.InvalidArgument);
  });
});

describe("update", () => {
  beforeEach(async () => {
    await records.commit("a", { digest: D1, size: 5, labels: { a: "1", b: "2" } });
    gcCalls = [];
  });

  test("without a mask the labels are replaced; empty values are not stored", async () => {
    await Bun.sleep(2);
    const info = await records.update("a", { digest: D1, labels: { x: "1", y: "" } });
    expect(info.labels).toEqual({ x: "1" });
    expect(info.updatedAt.getTime()).toBeGreaterThan(info.createdAt.getTime());
    expect(await records.info("a", D1)).toEqual(info);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("labels.<key> and labels paths", async () => {
    expect(
      (await records.update("a", { digest: D1, labels: { b: "3", c: "no" } }, ["labels.b", "labels.a"]))
        .labels,
    ).toEqual({
      b: "3",
    });
    expect((await records.update("a", { digest: D1, labels: { c: "4" } }, ["labels"])).labels).toEqual({
      c: "4",
    });
  });

  test("errors, in containerd's order and words; nothing is applied", async () => {
    expect(wire(await failure(records.update("a", { digest: D2, labels: {} }, ["bad"])))).toEqual([
      Code.NotFound,
      `content digest ${D2}: not found`,
    ]);
    expect(wire(await failure(records.update("b", { digest: D1 })))).toEqual([
      Code.NotFound,
      `content digest ${D1}: not found`,
    ]);
    expect(
      wire(await failure(records.update("a", { digest: D1, labels: { a: "9" } }, ["labels.a", "size"]))),
    ).toEqual([Code.InvalidArgument, `cannot update "size" field on content info "${D1}": invalid argument`]);
    expect(
      wire(await failure(records.update("a", { digest: D1, labels: { k: "v".repeat(5000) } }, ["labels"]))),
    ).toEqual([
      Code.InvalidArgument,
      "info.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
    ]);
    expect((await records.info("a", D1)).labels).toEqual({ a: "1", b: "2" });
    expect(gcCalls).toEqual([]);
  });
});

describe("delete", () => {
  test("removes the record only here, takes it out of the caller's lease, names the blob to the collector", async () => {
    lease("a", "l1");
    await records.commit("a", { digest: D1, size: 5, lease: "l1" });
    await records.commit("b", { digest: D1, size: 5 });
    gcCalls = [];
    await records.delete("a", D1, { lease: "l1" });
    expect(await records.has("a", D1)).toBe(false);
    expect(await records.has("b", D1)).toBe(true);
    expect(resources("a", "l1")).toEqual([]);
    expect(gcCalls).toEqual([`deleted {"content":"${D1}"}`]);
    expect(wire(await failure(records.delete("a", D1)))).toEqual([
      Code.NotFound,
      `content digest ${D1}: not found`,
    ]);
  });

  test("the namespace can go once its last blob has", async () => {
    await records.commit("a", { digest: D1, size: 5 });
    await records.startIngest("a", "r1");
    await records.delete("a", D1);
    write(db, (tx) => deleteNamespace(tx, "a"));
    expect(namespaces()).toEqual([]);
    // Its ingests went with it.
    expect(await records.listIngests("a")).toEqual([]);
  });
});

describe("ingests", () => {
  test("a new ingest gets `<namespace>/1/<ref>` as its content-store ref and expires in 24 hours", async () => {
    const before = Date.now();
    const ing = await records.startIngest("fresh", "part1");
    expect(ing).toMatchObject({ ref: "part1", backendRef: "fresh/1/part1", created: true });
    expect(ing.expected).toBeUndefined();
    expect(ing.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + INGEST_EXPIRY_MS);
    expect(namespaces()).toEqual(["fresh"]);
    const { created: _, ...record } = ing;
    expect(await records.ingest("fresh", "part1")).toEqual(record);
    expect(gcCalls).toEqual(["mutated"]);
  });

  test("resuming keeps the content-store ref; an explicit expiry is kept", async () => {
    await records.startIngest("a", "r");
    const at = new Date("2031-01-01T00:00:00Z");
    const again = await records.startIngest("a", "r", { expiresAt: at });
    expect(again).toMatchObject({ backendRef: "a/1/r", created: false, expiresAt: at });
  });

  test("in a lease an ingest joins it and does not expire; a missing lease refuses it", async () => {
    lease("a", "l1");
    const ing = await records.startIngest("a", "r", { lease: "l1" });
    expect(ing.expiresAt).toBeUndefined();
    expect(resources("a", "l1")).toEqual([{ type: "ingests", id: "r" }]);
    expect(wire(await failure(records.startIngest("a", "r2", { lease: "nope" })))).toEqual([
      Code.NotFound,
      "lease does not exist: not found",
    ]);
    expect((await records.listIngests("a")).map((i) => i.ref)).toEqual(["r"]);
  });

  test("expecting content the namespace has: it joins the lease, and the answer is AlreadyExists", async () => {
    lease("a", "l1");
    await records.commit("a", { digest: D1, size: 5 });
    const e = await failure(records.startIngest("a", "r", { expected: D1, lease: "l1" }));
    expect(wire(e)).toEqual([Code.AlreadyExists, `content ${D1}: already exists`]);
    expect(resources("a", "l1")).toEqual([{ type: "content", id: D1 }]);
    expect(await records.listIngests("a")).toEqual([]);
    expect(wire(await failure(records.startIngest("a", "r", { expected: D1, lease: "nope" })))).toEqual([
      Code.NotFound,
      "unable to lease content: lease does not exist: not found",
    ]);
    // Expecting content another namespace has is an ordinary ingest.
    expect((await records.startIngest("b", "r", { expected: D1 })).backendRef).toBe("b/1/r");
  });

  test("a shared ingest records the digest it will commit", async () => {
    const ing = await records.startIngest("a", "sh", { expected: D1, shared: true });
    expect(ing.expected).toBe(D1);
    expect((await records.ingest("a", "sh")).expected).toBe(D1);
  });

  test("an empty ref is InvalidArgument", async () => {
    expect(wire(await failure(records.startIngest("a", "")))).toEqual([
      Code.InvalidArgument,
      "ref must not be empty: invalid argument",
    ]);
  });

  test("listed by ref, per namespace; ending one answers its record and leaves the lease", async () => {
    lease("a", "l1");
    await records.startIngest("a", "r2");
    await records.startIngest("a", "r1", { lease: "l1" });
    await records.startIngest("b", "r0");
    expect((await records.listIngests("a")).map((i) => [i.ref, i.backendRef])).toEqual([
      ["r1", "a/1/r1"],
      ["r2", "a/1/r2"],
    ]);
    const ended = await records.endIngest("a", "r1", { lease: "l1" });
    expect(ended.backendRef).toBe("a/1/r1");
    expect(resources("a", "l1")).toEqual([]);
    expect(wire(await failure(records.endIngest("a", "r1")))).toEqual([
      Code.NotFound,
      "reference r1: not found",
    ]);
    expect(wire(await failure(records.ingest("b", "r2")))).toEqual([
      Code.NotFound,
      "reference r2: not found",
    ]);
    // A new write under the same ref starts over with the same content-store ref, as containerd's does.
    expect((await records.startIngest("a", "r1")).backendRef).toBe("a/1/r1");
  });

  test("a commit ends its ingest", async () => {
    await records.startIngest("a", "r1");
    await records.commit("a", { digest: D1, size: 5, ref: "r1" });
    expect(await records.listIngests("a")).toEqual([]);
  });
});

/** The Containers API, call by call, against bunkerd and containerd 1.6: the same requests in the
 *  same order must get the same answers — status codes, error messages (which ctr prints) and the
 *  records returned. Two known differences are left out, both documented in
 *  apps/daemon/src/plugins/metadata/containers.ts and the filters module: extensions are replaced
 *  here where bolt merges them, and a filter that does not parse is worded differently. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDaemonTransport } from "@bunkerd/client";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { type Client, createClient } from "@connectrpc/connect";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const SPEC = {
  typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec",
  value: new TextEncoder().encode("{}"),
};
const OPTIONS = { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x12, 0x01, 0x78]) };
const base = (id: string, more: object = {}) => ({
  id,
  runtime: { name: "io.containerd.runc.v2" },
  spec: SPEC,
  ...more,
});

type C = Client<typeof Containers>;

/** Each step: a name and a call. The answer is reduced to what both daemons must agree on. */
const steps: [string, (c: C) => Promise<unknown>][] = [
  ["delete in a namespace without containers", (c) => c.delete({ id: "nope" })],
  ["update in a namespace without containers", (c) => c.update({ container: base("nope") })],
  ["get a missing one", (c) => c.get({ id: "nope" })],
  ["create nothing", (c) => c.create({ container: {} })],
  ["create with a bad ID", (c) => c.create({ container: base("a b") })],
  ["create with a long ID", (c) => c.create({ container: base("a".repeat(80)) })],
  ["create without runtime", (c) => c.create({ container: { id: "x", spec: SPEC } })],
  ["create without spec", (c) => c.create({ container: { id: "x", runtime: { name: "r" } } })],
  [
    "create with an empty spec",
    (c) => c.create({ container: { id: "xs", runtime: { name: "r" }, spec: {} } }),
  ],
  ["create a snapshot key alone", (c) => c.create({ container: base("x", { snapshotKey: "k" }) })],
  ["create an unnamed extension", (c) => c.create({ container: base("x", { extensions: { "": SPEC } }) })],
  [
    "create an oversized label",
    (c) => c.create({ container: base("x", { labels: { k: "v".repeat(5000) } }) }),
  ],
  ["create a keyless label", (c) => c.create({ container: base("x", { labels: { "": "v" } }) })],
  [
    "create a full one",
    (c) =>
      c.create({
        container: base("c1", {
          labels: { a: "1", e: "" },
          image: "img",
          snapshotter: "overlayfs",
          snapshotKey: "k1",
          extensions: { x: SPEC },
          runtime: { name: "io.containerd.runc.v2", options: OPTIONS },
        }),
      }),
  ],
  ["create it again", (c) => c.create({ container: base("c1") })],
  ["create it again, invalid", (c) => c.create({ container: { id: "c1" } })],
  ["delete a missing one", (c) => c.delete({ id: "nope" })],
  ["update a missing one", (c) => c.update({ container: base("nope") })],
  ["update without an ID", (c) => c.update({ container: {} })],
  ["replace the snapshotter", (c) => c.update({ container: base("c1", { snapshotter: "native" }) })],
  [
    "replace the runtime",
    (c) => c.update({ container: base("c1", { snapshotter: "overlayfs", runtime: { name: "other" } }) }),
  ],
  [
    "replace the mutable fields",
    (c) =>
      c.update({
        container: base("c1", { snapshotter: "overlayfs", labels: { b: "2" }, extensions: { x: SPEC } }),
      }),
  ],
  ["the runtime path", (c) => c.update({ container: base("c1"), updateMask: { paths: ["runtime"] } })],
  [
    "the snapshotter path",
    (c) => c.update({ container: base("c1"), updateMask: { paths: ["snapshotter"] } }),
  ],
  [
    "label and image paths",
    (c) =>
      c.update({
        container: { id: "c1", labels: { z: "9" }, image: "img2" },
        updateMask: { paths: ["labels.z", "labels.b", "image"] },
      }),
  ],
  [
    "a spec path without a spec",
    (c) => c.update({ container: { id: "c1" }, updateMask: { paths: ["spec"] } }),
  ],
  [
    "an empty snapshot key",
    (c) => c.update({ container: { id: "c1" }, updateMask: { paths: ["snapshotkey"] } }),
  ],
  [
    "an oversized label path",
    (c) =>
      c.update({
        container: { id: "c1", labels: { k: "v".repeat(5000) } },
        updateMask: { paths: ["labels.k"] },
      }),
  ],
  [
    "a keyless label path",
    (c) => c.update({ container: { id: "c1", labels: { "": "v" } }, updateMask: { paths: ["labels."] } }),
  ],
  ["create another", (c) => c.create({ container: base("c2", { image: "img" }) })],
  ["list", (c) => c.list({})],
  ["list by image", (c) => c.list({ filters: ["image==img"] })],
  ["list with an image", (c) => c.list({ filters: ["image"] })],
  ["list not by image", (c) => c.list({ filters: ["image!=img"] })],
  ["list by runtime name", (c) => c.list({ filters: ["runtime.name==io.containerd.runc.v2"] })],
  ["list by runtime", (c) => c.list({ filters: ["runtime"] })],
  ["list not by label", (c) => c.list({ filters: ["labels.z!=9"] })],
  ["list either", (c) => c.list({ filters: ["labels.z==9", "id==xs"] })],
  ["delete c1", (c) => c.delete({ id: "c1" })],
  ["delete c1 again", (c) => c.delete({ id: "c1" })],
  ["update c1 after its delete", (c) => c.update({ container: base("c1") })],
  ["get c1 after its delete", (c) => c.get({ id: "c1" })],
];

/** What must match: the error's code and message, or the returned records without their times. */
async function answer(p: Promise<unknown>): Promise<unknown> {
  try {
    const r = (await p) as { container?: Record<string, unknown>; containers?: Record<string, unknown>[] };
    const strip = (c: Record<string, unknown>) => {
      const { createdAt: _, updatedAt: __, ...rest } = c;
      return rest;
    };
    if (r.container) return strip(r.container);
    if (r.containers) return r.containers.map(strip);
    return "ok";
  } catch (e) {
    const err = e as { code: number; rawMessage: string };
    return [err.code, err.rawMessage];
  }
}

describe.skipIf(!hasBinary("containerd"))("Containers API: bunkerd answers as containerd 1.6", () => {
  const answers: Record<string, unknown[]> = { bunkerd: [], containerd: [] };
  let daemons: DaemonHandle[] = [];
  beforeAll(async () => {
    daemons = await Promise.all([startDaemon("bunkerd"), startDaemon("containerd")]);
    await Promise.all(
      daemons.map(async (d) => {
        const c = createClient(Containers, createDaemonTransport(d.address, { namespace: "default" }));
        for (const [, step] of steps) answers[d.kind]!.push(await answer(step(c)));
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
  });

  test.each(steps.map(([name], i) => [name, i] as const))("%s", (_, i) => {
    expect(answers.bunkerd![i]).toEqual(answers.containerd![i]);
  });

  test("the answers are not trivially equal: errors and records both occur", () => {
    expect(
      answers.containerd!.filter((a) => Array.isArray(a) && typeof a[0] === "number").length,
    ).toBeGreaterThan(20);
    expect(
      answers.containerd!.filter((a) => typeof a === "object" && a !== null && "id" in a).length,
    ).toBeGreaterThan(3);
  });
});

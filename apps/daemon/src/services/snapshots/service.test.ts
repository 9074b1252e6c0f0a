import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { type InitContext, Kind, notFound, PluginType, toBunkerError, uriOf } from "@bunkerd/plugin-api";
import {
  Kind as SnapshotKind,
  Snapshots,
} from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { type MetadataDb, openMetadata, read, write } from "../../plugins/metadata/db.ts";
import { createLease, listLeaseResources } from "../../plugins/metadata/leases.ts";
import { SnapshotRecords } from "../../plugins/metadata/snapshot-records.ts";
import snapshotRecordsPlugin from "../../plugins/metadata/snapshot-records-plugin.ts";
import { METADATA_WORKER } from "../../plugins/metadata/plugin.ts";
import { ServiceKit } from "../testkit.ts";
import { SNAPSHOTTER_WORKER, snapshotsGrpc, snapshotsService } from "./plugin.ts";
import type { SnapshotsService } from "./snapshotters.ts";
import { MemorySnapshotter, overPort } from "./testkit.ts";

// The adapter end to end without a socket: the plugins' init over a records proxy, the handlers
// they register, protobuf in and out, the way the router calls a route.

let db: MetadataDb;
let closePort: () => void;
let overlay: MemorySnapshotter;
let kit: ServiceKit;

/** (Re)boots the service and its adapter over the plugins in the kit, as a daemon start does. */
async function start() {
  kit.routes.length = 0;
  await kit.init(snapshotsService, `${PluginType.Service}.snapshots-service`);
  await kit.init(snapshotsGrpc);
}

beforeEach(async () => {
  db = openMetadata(":memory:");
  const port = overPort(new SnapshotRecords(db));
  closePort = port.close;
  overlay = new MemorySnapshotter("/root/overlayfs/snapshots");
  // native is not loaded (skipped): the service leaves it out.
  kit = new ServiceKit(Snapshots, {
    [`${PluginType.Internal}.snapshot-records`]: port.proxy,
    [`${PluginType.Snapshotter}.overlayfs`]: overlay,
  });
  await start();
});
afterEach(() => {
  closePort();
  db.$client.close();
});

const events = () => kit.published.map(([namespace, topic]) => `${namespace} ${topic}`);

const call = async (method: string, req: object, namespace = "default", lease?: string) =>
  strip(await kit.call(method, req, namespace, lease));

async function list(req: object, namespace = "default") {
  const msgs = (await kit.stream("List", req, namespace)) as {
    info: { name: string; parent: string; kind: number }[];
  }[];
  return msgs.map((msg) => msg.info.map((i) => ({ name: i.name, parent: i.parent, kind: i.kind })));
}

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "$typeName") out[k] = strip(x);
    return out;
  }
  return v;
}

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    const err = toBunkerError(e);
    return { kind: err.kind, message: err.message };
  }
  throw new Error("expected a failure");
}

describe("plugins", () => {
  test("records: io.containerd.internal.v1.snapshot-records in the metadata worker", async () => {
    expect(uriOf(snapshotRecordsPlugin)).toBe("io.containerd.internal.v1.snapshot-records");
    expect([snapshotRecordsPlugin.worker, snapshotRecordsPlugin.requires]).toEqual([
      METADATA_WORKER,
      [PluginType.Metadata],
    ]);
    const records = await snapshotRecordsPlugin.init({
      async get(type: string, id?: string) {
        if (type === PluginType.Metadata && id === "sqlite") return db;
        throw notFound(`plugin ${type}.${id}`);
      },
    } as unknown as InitContext);
    expect(records).toBeInstanceOf(SnapshotRecords);
  });

  test("service and adapter: in the snapshotter worker, every method routed and namespaced", () => {
    expect([uriOf(snapshotsService), snapshotsService.worker]).toEqual([
      "io.containerd.service.v1.snapshots-service",
      SNAPSHOTTER_WORKER,
    ]);
    expect([uriOf(snapshotsGrpc), snapshotsGrpc.worker]).toEqual([
      "io.containerd.grpc.v1.snapshots",
      "io.containerd.snapshotter.v1",
    ]);
    expect(kit.routes.map((r) => [r.path.split("/").pop(), r.kind, r.namespaced])).toEqual([
      ["Prepare", "unary", true],
      ["View", "unary", true],
      ["Mounts", "unary", true],
      ["Commit", "unary", true],
      ["Remove", "unary", true],
      ["Stat", "unary", true],
      ["Update", "unary", true],
      ["List", "server_streaming", true],
      ["Usage", "unary", true],
      ["Cleanup", "unary", true],
    ]);
    expect((kit.plugins[`${PluginType.Service}.snapshots-service`] as SnapshotsService).names()).toEqual([
      "overlayfs",
    ]);
  });

  test("a reservation a crash left is settled before the service serves", async () => {
    const records = new SnapshotRecords(db);
    const r = await records.beginCreate("default", "overlayfs", { key: "a", kind: "active" });
    await overlay.prepare(r.backendName);
    await start();
    expect(overlay.keys()).toEqual([]);
    expect(await records.pending("overlayfs")).toEqual([]);
  });
});

describe("Snapshots", () => {
  test("prepare, commit, view, mounts, stat, usage, remove", async () => {
    expect(await call("Prepare", { snapshotter: "overlayfs", key: "a" })).toEqual({
      mounts: [{ type: "bind", source: "/root/overlayfs/snapshots/1", target: "", options: ["rw", "rbind"] }],
    });
    expect(
      await call("Commit", { snapshotter: "overlayfs", name: "a1", key: "a", labels: { l: "1" } }),
    ).toEqual({});
    const view = (await call("View", { snapshotter: "overlayfs", key: "v", parent: "a1" })) as {
      mounts: { options: string[] }[];
    };
    expect(view.mounts[0]!.options).toEqual(["ro", "rbind"]);
    expect(await call("Mounts", { snapshotter: "overlayfs", key: "v" })).toEqual(view);
    const stat = (await call("Stat", { snapshotter: "overlayfs", key: "v" })) as {
      info: { createdAt: { seconds: bigint } };
    };
    expect(stat).toMatchObject({ info: { name: "v", parent: "a1", kind: SnapshotKind.VIEW, labels: {} } });
    expect(stat.info.createdAt.seconds).toBeGreaterThan(0n);
    expect(await call("Stat", { snapshotter: "overlayfs", key: "a1" })).toMatchObject({
      info: { name: "a1", parent: "", kind: SnapshotKind.COMMITTED, labels: { l: "1" } },
    });
    expect(await call("Usage", { snapshotter: "overlayfs", key: "a1" })).toEqual({ size: 4096n, inodes: 1n });
    expect(await call("Remove", { snapshotter: "overlayfs", key: "v" })).toEqual({});
    expect(await failure(call("Stat", { snapshotter: "overlayfs", key: "v" }))).toEqual({
      kind: Kind.NotFound,
      message: "snapshot v does not exist: not found",
    });
    expect(events()).toEqual([
      "default /snapshot/prepare",
      "default /snapshot/commit",
      "default /snapshot/remove",
    ]);
  });

  test("update with a mask", async () => {
    await call("Prepare", { snapshotter: "overlayfs", key: "a", labels: { keep: "1", drop: "2" } });
    expect(
      await call("Update", {
        snapshotter: "overlayfs",
        info: { name: "a", labels: { add: "3" } },
        updateMask: { paths: ["labels.add", "labels.drop"] },
      }),
    ).toMatchObject({ info: { name: "a", kind: SnapshotKind.ACTIVE, labels: { keep: "1", add: "3" } } });
    expect(await failure(call("Update", { snapshotter: "overlayfs" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "invalid argument",
    });
  });

  test("the snapshotter must be named and loaded", async () => {
    expect(await failure(call("Stat", { snapshotter: "", key: "" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "snapshotter argument missing: invalid argument",
    });
    expect(await failure(call("Prepare", { snapshotter: "native", key: "a" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "snapshotter not loaded: native: invalid argument",
    });
    expect(await failure(list({ snapshotter: "zfs" }))).toEqual({
      kind: Kind.InvalidArgument,
      message: "snapshotter not loaded: zfs: invalid argument",
    });
  });

  test("List streams batches of 100, filtered; its failures are Unknown", async () => {
    for (let i = 0; i < 250; i++)
      await call("Prepare", { snapshotter: "overlayfs", key: `k${String(i).padStart(3, "0")}` });
    const batches = await list({ snapshotter: "overlayfs" });
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches[0]![0]).toEqual({ name: "k000", parent: "", kind: SnapshotKind.ACTIVE });
    expect(await list({ snapshotter: "overlayfs", filters: ["name==k042", "name==k249"] })).toEqual([
      [
        { name: "k042", parent: "", kind: SnapshotKind.ACTIVE },
        { name: "k249", parent: "", kind: SnapshotKind.ACTIVE },
      ],
    ]);
    expect(await list({ snapshotter: "overlayfs", filters: ["kind==committed"] })).toEqual([]);
    expect(await list({ snapshotter: "overlayfs" }, "elsewhere")).toEqual([]);
    const bad = await failure(list({ snapshotter: "overlayfs", filters: ["name~="] }));
    expect(bad.kind).toBe(Kind.Unknown);
    expect(bad.message).toStartWith("filters: ");
  });

  test("the lease header", async () => {
    write(db, (tx) => createLease(tx, "default", "l1"));
    await call("Prepare", { snapshotter: "overlayfs", key: "a" }, "default", "l1");
    expect(read(db, (tx) => listLeaseResources(tx, "default", "l1"))).toEqual([
      { type: "snapshots/overlayfs", id: "a" },
    ]);
    expect(await failure(call("Prepare", { snapshotter: "overlayfs", key: "b" }, "default", "nope"))).toEqual(
      {
        kind: Kind.NotFound,
        message: "lease does not exist: not found",
      },
    );
  });

  test("Cleanup is NotImplemented, as containerd 1.6 answers", async () => {
    expect(await failure(call("Cleanup", { snapshotter: "overlayfs" }))).toEqual({
      kind: Kind.NotImplemented,
      message: "snapshotter does not implement Cleanup method: not implemented",
    });
  });
});

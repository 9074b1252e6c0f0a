import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { BunkerError, Code, type EventPayload, type Logger } from "@bunkerd/plugin-api";
import { TaskDeleteSchema, TaskExitSchema } from "@bunkerd/proto/containerd/events/task_pb.ts";
import { type CreateOpts, TaskManager } from "./manager.ts";
import { type FakeShim, fakeShim } from "./testkit.ts";

// The manager end to end against a fake shim: a real binary it runs, a real ttrpc server it
// talks to, real bundles on disk. What containerd-shim-runc-v2 itself does is in test/runtime/.

let dir: string;
let shim: FakeShim;
let events: { namespace: string; topic: string; event: EventPayload }[];
let manager: TaskManager;
const logs: string[] = [];
const log: Logger = {
  trace: () => {},
  debug: () => {},
  info: (...a) => void logs.push(`info ${a[0]}`),
  warn: (...a) => void logs.push(`warn ${a[0]}`),
  error: (...a) => void logs.push(`error ${a[0]}`),
};

function newManager() {
  return new TaskManager({
    root: join(dir, "root"),
    state: join(dir, "state"),
    address: join(dir, "d.sock"),
    ttrpcAddress: join(dir, "d.sock.ttrpc"),
    publishBinary: "/usr/local/bin/bunkerd",
    events: { publish: async (namespace, topic, event) => void events.push({ namespace, topic, event }) },
    log,
    shimLogSink: () => {},
    deadShimDelayMs: 0,
  });
}

beforeEach(async () => {
  dir = mkdtempSync("/tmp/bk-runtime-");
  shim = await fakeShim(dir);
  events = [];
  logs.length = 0;
  manager = newManager();
});
afterEach(async () => {
  for (const t of manager.list()) t.release();
  await shim.kill();
  rmSync(dir, { recursive: true, force: true });
});

const spec = new TextEncoder().encode('{"ociVersion":"1.0.2"}');
const opts = (o: Partial<CreateOpts> = {}): CreateOpts => ({
  spec,
  rootfs: [{ type: "overlay", source: "overlay", target: "", options: ["lowerdir=/a"] }],
  io: { stdin: "", stdout: "/run/fifo/out", stderr: "/run/fifo/err", terminal: false },
  runtime: shim.binary,
  ...o,
});
const bundlePath = (ns: string, id: string) => join(dir, "state", ns, id);

async function failure(p: Promise<unknown>): Promise<BunkerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

describe("create", () => {
  test("lays out the bundle as containerd 1.6 does and runs `<shim> … start` in it", async () => {
    const { task, pid } = await manager.create("ns1", "c1", opts());
    expect(pid).toBe(1000);
    const b = bundlePath("ns1", "c1");
    expect(statSync(b).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "state", "ns1")).mode & 0o777).toBe(0o711);
    expect(statSync(join(b, "rootfs")).mode & 0o777).toBe(0o711);
    expect(readFileSync(join(b, "config.json"), "utf8")).toBe('{"ociVersion":"1.0.2"}');
    expect(readlinkSync(join(b, "work"))).toBe(join(dir, "root", "ns1", "c1"));
    expect(statSync(join(dir, "root", "ns1", "c1")).mode & 0o777).toBe(0o711);
    expect(lstatSync(join(b, "log")).isFIFO()).toBe(true);
    expect(readFileSync(join(b, "shim-binary-path"), "utf8")).toBe(shim.binary);

    const [run] = shim.runs();
    expect(run!.argv).toEqual([
      "-namespace",
      "ns1",
      "-address",
      join(dir, "d.sock"),
      "-publish-binary",
      "/usr/local/bin/bunkerd",
      "-id",
      "c1",
      "start",
    ]);
    expect(run!.cwd).toBe(b);
    expect(run!.env).toEqual({ GOMAXPROCS: "2", TTRPC_ADDRESS: join(dir, "d.sock.ttrpc"), SCHED_CORE: "" });
    expect(run!.stdin).toBe("");

    const [method, req] = shim.calls[0]!;
    expect(method).toBe("Create");
    expect(req).toMatchObject({
      id: "c1",
      bundle: b,
      terminal: false,
      stdout: "/run/fifo/out",
      stderr: "/run/fifo/err",
      rootfs: [{ type: "overlay", source: "overlay", options: ["lowerdir=/a"] }],
    });
    expect(manager.get("ns1", "c1")).toBe(task);
    expect(manager.get("ns2", "c1")).toBeUndefined();
    expect(manager.list("ns1").map((t) => t.id)).toEqual(["c1"]);
  });

  test("task options go to the shim's stdin, else the container's runtime options", async () => {
    const runtimeOptions = { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x12, 1, 0x61]) };
    const taskOptions = { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x12, 1, 0x62]) };
    await manager.create("default", "a", opts({ runtimeOptions }));
    await manager.create("default", "b", opts({ runtimeOptions, taskOptions }));
    const [a, b] = shim.runs().map((r) => Buffer.from(r.stdin, "hex"));
    expect(fromBinary(AnySchema, a!).value).toEqual(runtimeOptions.value);
    expect(fromBinary(AnySchema, b!).value).toEqual(taskOptions.value);
    expect(fromBinary(AnySchema, b!).typeUrl).toBe("containerd.runc.v1.Options");
    // The shim's Create gets the task's own options only.
    expect(
      shim.calls.filter((c) => c[0] === "Create").map((c) => (c[1].options as { value?: Uint8Array })?.value),
    ).toEqual([undefined, taskOptions.value]);
  });

  test("a second create of the same task is AlreadyExists, and the first is untouched", async () => {
    await manager.create("default", "c1", opts());
    const e = await failure(manager.create("default", "c1", opts()));
    expect([e.code, e.message]).toEqual([Code.AlreadyExists, "task c1: already exists"]);
    expect(shim.runs().length).toBe(1);
  });

  test("a shim Create failure passes the shim's error on and removes everything", async () => {
    shim.failNext("Create", Code.Unknown, 'OCI runtime create failed: exec: "nope": not found');
    const e = await failure(manager.create("default", "c1", opts()));
    expect([e.code, e.message]).toEqual([
      Code.Unknown,
      'failed to create shim task: OCI runtime create failed: exec: "nope": not found',
    ]);
    expect(shim.calls.map((c) => c[0])).toEqual(["Create", "Shutdown"]);
    expect(existsSync(bundlePath("default", "c1"))).toBe(false);
    expect(existsSync(join(dir, "root", "default", "c1"))).toBe(false);
    expect(manager.get("default", "c1")).toBeUndefined();
    expect(events).toEqual([]);
  });

  test("a bad id, a runtime name that maps to no binary: refused before anything is made", async () => {
    const bad = await failure(manager.create("default", "a/b", opts()));
    expect([bad.code, bad.message]).toMatchObject([
      Code.InvalidArgument,
      expect.stringContaining("invalid task id a/b"),
    ]);
    const missing = await failure(
      manager.create("default", "c2", opts({ runtime: "io.containerd.nosuch.v9" })),
    );
    expect([missing.code, missing.message]).toEqual([
      Code.Unknown,
      'failed to start shim: failed to resolve runtime path: runtime "io.containerd.nosuch.v9" binary not installed "containerd-shim-nosuch-v9": file does not exist',
    ]);
    expect(existsSync(bundlePath("default", "c2"))).toBe(false);
    expect(shim.runs()).toEqual([]);
  });
});

describe("delete", () => {
  test("deletes in the shim, shuts it down, removes bundle and work dir; publishes nothing itself", async () => {
    await manager.create("default", "c1", opts());
    const exit = await manager.delete("default", "c1");
    expect(exit.pid).toBe(1000);
    expect(shim.calls.map((c) => c[0])).toEqual(["Create", "Delete", "Shutdown"]);
    expect(existsSync(bundlePath("default", "c1"))).toBe(false);
    expect(existsSync(join(dir, "root", "default", "c1"))).toBe(false);
    expect(manager.get("default", "c1")).toBeUndefined();
    await Bun.sleep(50);
    expect(events).toEqual([]);
    expect(logs.filter((l) => l.includes("disconnected"))).toEqual([]);
  });

  test("a missing task is NotFound", async () => {
    const e = await failure(manager.delete("default", "nope"));
    expect([e.code, e.message]).toEqual([Code.NotFound, "task nope: not found"]);
  });
});

interface Decoded {
  topic: string;
  typeUrl: string;
  containerId: string;
  id?: string;
  pid: number;
  exitStatus: number;
  exitedAt: number;
}

function decoded(e: { topic: string; event: EventPayload }): Decoded {
  const m =
    e.topic === "/tasks/exit"
      ? fromBinary(TaskExitSchema, e.event.value)
      : { ...fromBinary(TaskDeleteSchema, e.event.value), id: "" };
  return {
    topic: e.topic,
    typeUrl: e.event.typeUrl,
    containerId: m.containerId,
    id: m.id,
    pid: m.pid,
    exitStatus: m.exitStatus,
    exitedAt: Number(m.exitedAt?.seconds ?? 0),
  };
}

describe("a shim that dies", () => {
  test("under a running daemon: `<shim> delete` runs, the bundle goes, exit and delete are published", async () => {
    await manager.create("default", "c1", opts());
    shim.setDeleteResponse({ pid: 1000, exitStatus: 137, exitedAt: new Date(1_700_000_000_000) });
    await shim.kill();
    await waitUntil(() => events.length === 2);
    expect(events.map(decoded)).toEqual([
      {
        topic: "/tasks/exit",
        typeUrl: "containerd.events.TaskExit",
        containerId: "c1",
        id: "c1",
        pid: 1000,
        exitStatus: 137,
        exitedAt: 1_700_000_000,
      },
      {
        topic: "/tasks/delete",
        typeUrl: "containerd.events.TaskDelete",
        containerId: "c1",
        pid: 1000,
        exitStatus: 137,
        exitedAt: 1_700_000_000,
        id: "",
      },
    ]);
    expect(events.every((e) => e.namespace === "default")).toBe(true);
    const deleteRun = shim.runs()[1]!;
    expect(deleteRun.argv.slice(-5)).toEqual(["-id", "c1", "-bundle", bundlePath("default", "c1"), "delete"]);
    expect(deleteRun.cwd).toBe(bundlePath("default", "c1"));
    expect(existsSync(bundlePath("default", "c1"))).toBe(false);
    expect(manager.get("default", "c1")).toBeUndefined();
  });

  test("and whose `delete` fails too: exit status 255", async () => {
    await manager.create("default", "c1", opts());
    writeFileSync(join(dir, "fake.delete.pb"), "not a protobuf \xff\xff");
    await shim.kill();
    await waitUntil(() => events.length === 2);
    expect(decoded(events[0]!).exitStatus).toBe(255);
  });
});

describe("loadExisting (daemon restart)", () => {
  test("reconnects live shims, cleans up dead ones and publishes their exits, removes leftovers", async () => {
    await manager.create("default", "live", opts());
    // A second shim for a task whose shim will be gone.
    const other = await fakeShim(dir, "other");
    await manager.create("default", "gone", opts({ runtime: other.binary }));
    other.setDeleteResponse({ pid: 77, exitStatus: 9, exitedAt: new Date() });
    // The daemon goes away without closing anything it owns (SIGKILL).
    for (const t of manager.list()) t.closing = true;
    await other.kill();
    mkdirSync(join(dir, "state", "default", ".half-deleted"));
    mkdirSync(join(dir, "root", "default", "orphan-work"), { recursive: true });

    manager = newManager();
    await manager.loadExisting();
    expect(manager.list().map((t) => t.id)).toEqual(["live"]);
    expect(await manager.get("default", "live")!.pid()).toBe(1000);
    await waitUntil(() => events.length === 2);
    expect(events.map((e) => [e.topic, decoded(e).exitStatus, decoded(e).pid])).toEqual([
      ["/tasks/exit", 9, 77],
      ["/tasks/delete", 9, 77],
    ]);
    expect(other.runs().at(-1)!.argv.at(-1)).toBe("delete");
    expect(existsSync(bundlePath("default", "gone"))).toBe(false);
    expect(existsSync(join(dir, "state", "default", ".half-deleted"))).toBe(false);
    expect(existsSync(join(dir, "root", "default", "orphan-work"))).toBe(false);
    expect(existsSync(join(dir, "root", "default", "live"))).toBe(true);
    // The reconnected task works as before.
    await manager.delete("default", "live");
    expect(existsSync(bundlePath("default", "live"))).toBe(false);
  });
});

async function waitUntil(cond: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(10);
  }
}

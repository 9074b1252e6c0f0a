import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { BunkerError, Code, type Logger, notFound } from "@bunkerd/plugin-api";
import {
  CheckpointTaskRequestSchema,
  CreateTaskRequestSchema,
  ExecProcessRequestSchema,
  KillRequestSchema,
} from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { TaskManager } from "../../plugins/runtime/manager.ts";
import { type FakeShim, fakeShim } from "../../plugins/runtime/testkit.ts";
import type { Container, ContainersLocal } from "../containers/types.ts";
import { TasksLocal } from "./local.ts";

// The service's rules over a real task manager and a fake shim; containers from a map standing
// in for the Containers service (its contract: apps/daemon/src/services/containers/types.ts).

let dir: string;
let shim: FakeShim;
let manager: TaskManager;
let local: TasksLocal;
const containers = new Map<string, Container>();
const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const fakeContainers = {
  async get(namespace: string, id: string) {
    const c = containers.get(`${namespace}/${id}`);
    if (!c) throw notFound(`container "${id}" in namespace "${namespace}"`);
    return c;
  },
} as unknown as ContainersLocal;

function addContainer(namespace: string, id: string, runtime = shim.binary) {
  containers.set(`${namespace}/${id}`, {
    id,
    labels: {},
    image: "",
    runtime: { name: runtime, options: { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array() } },
    spec: {
      typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec",
      value: new TextEncoder().encode("{}"),
    },
    snapshotter: "overlayfs",
    snapshotKey: id,
    createdAt: new Date(),
    updatedAt: new Date(),
    extensions: {},
    sandbox: "",
  });
}

beforeEach(async () => {
  dir = mkdtempSync("/tmp/bk-tasks-");
  shim = await fakeShim(dir);
  containers.clear();
  manager = new TaskManager({
    root: join(dir, "root"),
    state: join(dir, "state"),
    address: join(dir, "d.sock"),
    ttrpcAddress: join(dir, "d.sock.ttrpc"),
    publishBinary: "/usr/local/bin/bunkerd",
    events: { publish: async () => {} },
    log: quiet,
    shimLogSink: () => {},
  });
  local = new TasksLocal(manager, async () => fakeContainers, quiet);
});
afterEach(async () => {
  for (const t of manager.list()) t.release();
  await shim.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BunkerError) return [e.code, e.message];
    throw e;
  }
  throw new Error("expected the call to fail");
}

const createReq = (containerId: string, o: object = {}) =>
  create(CreateTaskRequestSchema, { containerId, ...o });

test("containerd's errors: missing container, container without a task, second create", async () => {
  expect(await failure(local.get("default", "nope", ""))).toEqual([
    Code.NotFound,
    'container "nope" in namespace "default": not found',
  ]);
  addContainer("default", "c1");
  for (const call of [
    local.get("default", "c1", ""),
    local.start("default", "c1", ""),
    local.delete("default", "c1"),
    local.pause("default", "c1"),
    local.kill("default", create(KillRequestSchema, { containerId: "c1", signal: 9 })),
    local.wait("default", "c1", ""),
  ]) {
    expect(await failure(call)).toEqual([Code.NotFound, "task c1 not found"]);
  }
  expect(await local.create("default", createReq("c1"))).toEqual({ containerId: "c1", pid: 1000 });
  expect(await failure(local.create("default", createReq("c1")))).toEqual([
    Code.AlreadyExists,
    "task c1: already exists",
  ]);
  // Namespaces are apart: the same id elsewhere has no task.
  addContainer("other", "c1");
  expect(await failure(local.get("other", "c1", ""))).toEqual([Code.NotFound, "task c1 not found"]);
});

test("a task's life: create, start, get, list, exec, kill, wait, delete", async () => {
  addContainer("default", "c1");
  await local.create("default", createReq("c1", { stdout: "/fifo/out", terminal: true }));
  expect((await local.get("default", "c1", "")).status).toBe(Status.CREATED);
  expect(await local.start("default", "c1", "")).toBe(1000);
  expect(await local.list("default")).toEqual([
    {
      id: "c1",
      pid: 1000,
      status: Status.RUNNING,
      stdin: "",
      stdout: "",
      stderr: "",
      terminal: false,
      exitStatus: 0,
      exitedAt: undefined,
    },
  ]);
  expect(await local.list("other")).toEqual([]);

  await local.exec("default", create(ExecProcessRequestSchema, { containerId: "c1", execId: "e1" }));
  expect(await local.start("default", "c1", "e1")).toBe(1001);
  expect((await local.get("default", "c1", "e1")).id).toBe("e1");
  expect(await failure(local.get("default", "c1", "e2"))).toEqual([
    Code.NotFound,
    "process e2 does not exist",
  ]);
  expect(await local.deleteProcess("default", { containerId: "c1", execId: "e1" } as never)).toMatchObject({
    id: "e1",
    pid: 1001,
  });

  await local.kill("default", create(KillRequestSchema, { containerId: "c1", signal: 9 }));
  expect(await local.wait("default", "c1", "")).toMatchObject({ exitStatus: 137 });
  expect(await local.delete("default", "c1")).toMatchObject({ pid: 1000, exitStatus: 137 });
  expect(await local.list("default")).toEqual([]);
  expect(shim.calls.find((c) => c[0] === "Create")![1]).toMatchObject({
    stdout: "/fifo/out",
    terminal: true,
  });
});

test("exec ids: empty and malformed are refused before the shim is asked", async () => {
  addContainer("default", "c1");
  await local.create("default", createReq("c1"));
  const calls = shim.calls.length;
  expect(
    await failure(local.exec("default", create(ExecProcessRequestSchema, { containerId: "c1" }))),
  ).toEqual([Code.InvalidArgument, "exec id cannot be empty"]);
  const [code, message] = await failure(
    local.exec("default", create(ExecProcessRequestSchema, { containerId: "c1", execId: "a b" })),
  );
  expect([code, message.startsWith("invalid exec id a b: ")]).toEqual([Code.InvalidArgument, true]);
  expect(shim.calls.length).toBe(calls);
});

test("a runtime path in the request wins over the container's runtime", async () => {
  addContainer("default", "c1", "io.containerd.nosuch.v1");
  expect(await failure(local.create("default", createReq("c1")))).toEqual([
    Code.Unknown,
    expect.stringContaining("failed to start shim: failed to resolve runtime path"),
  ]);
  await local.create("default", createReq("c1", { runtimePath: shim.binary }));
  expect(manager.get("default", "c1")).toBeDefined();
});

test("checkpoint restore and checkpoints to the content store are not implemented", async () => {
  addContainer("default", "c1");
  expect(
    (await failure(local.create("default", createReq("c1", { checkpoint: { digest: "sha256:x" } }))))[0],
  ).toBe(Code.Unimplemented);
  await local.create("default", createReq("c1"));
  expect(
    (
      await failure(local.checkpoint("default", create(CheckpointTaskRequestSchema, { containerId: "c1" })))
    )[0],
  ).toBe(Code.Unimplemented);
});

test("metrics: the shim's Stats Any as is, for tasks matching the filters", async () => {
  addContainer("default", "c1");
  addContainer("default", "c2");
  await local.create("default", createReq("c1"));
  await local.create("default", createReq("c2"));
  const all = await local.metrics("default", []);
  expect(all.map((m) => m.id)).toEqual(["c1", "c2"]);
  expect(all[0]!.data).toMatchObject({
    typeUrl: "io.containerd.cgroups.v1.Metrics",
    value: new Uint8Array([8, 1]),
  });
  expect((await local.metrics("default", ["id==c2"])).map((m) => m.id)).toEqual(["c2"]);
  expect(await local.metrics("other", [])).toEqual([]);
});

test("pids, pause, resume, update, resize and close-io reach the shim", async () => {
  addContainer("default", "c1");
  await local.create("default", createReq("c1"));
  expect(await local.listPids("default", "c1")).toEqual({ processes: [{ pid: 1000, info: undefined }] });
  await local.pause("default", "c1");
  await local.resume("default", "c1");
  await local.update("default", { containerId: "c1", annotations: { a: "b" } } as never);
  await local.resizePty("default", { containerId: "c1", execId: "", width: 80, height: 24 } as never);
  await local.closeIO("default", { containerId: "c1", execId: "", stdin: true } as never);
  await local.closeIO("default", { containerId: "c1", execId: "", stdin: false } as never);
  expect(shim.calls.map((c) => c[0]).slice(1)).toEqual([
    "Pids",
    "Pause",
    "Resume",
    "Update",
    "ResizePty",
    "CloseIO",
  ]);
});

/** The shim binary driven directly, as the daemon drives it: `start` in a bundle, the task API
 *  over ttrpc, events to a stand-in Events server, `delete` after a dead shim. Real runc, a real
 *  busybox rootfs bind-mounted by the shim, real FIFOs. Needs root, runc and busybox-static. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, EmptySchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@bunkerd/plugin-api";
import {
  DeleteResponseSchema,
  ResizePtyRequestSchema,
} from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { OptionsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { mountPointsUnder } from "@bunkerd/snapshotters/mount";
import { makeBundle, makeRootfs, mkfifos, type SpecOptions, tempDir } from "./testing/bundle.ts";
import { canRun, cleanup, EventSink, readFifo, runShim, shimPidOf, TaskClient } from "./testing/harness.ts";

const NS = "shimtest";
let dir = "";
let rootfsSrc = "";
let runcRoot = "";
let sink: EventSink;
let env: Record<string, string> = {};
const shims = new Set<number>();

const runcOptions = () =>
  create(AnySchema, {
    typeUrl: OptionsSchema.typeName,
    value: toBinary(OptionsSchema, create(OptionsSchema, { root: runcRoot })),
  });

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir("shimtest-");
  rootfsSrc = makeRootfs(join(dir, "rootfs-src"));
  runcRoot = join(dir, "runc");
  sink = await EventSink.listen(join(dir, "events.ttrpc"));
  env = { BUNKERD_SHIM_SOCKET_DIR: join(dir, "s"), TTRPC_ADDRESS: sink.address };
});

afterAll(async () => {
  if (!canRun) return;
  await sink.close();
  for (const pid of shims) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Exited by itself.
    }
  }
  await cleanup({ dir, runcRoot: join(runcRoot, NS) });
});

const shimArgs = (id: string) => [
  "-namespace",
  NS,
  "-address",
  join(dir, "daemon.sock"),
  "-publish-binary",
  "/bin/true",
  "-id",
  id,
];

/** `start` in a new bundle, as the daemon does; returns the address and a connected client. */
async function startShim(id: string, spec: SpecOptions) {
  const bundle = makeBundle(dir, id, spec);
  const r = await runShim([...shimArgs(id), "start"], { cwd: bundle, env });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const address = new TextDecoder().decode(r.stdout);
  const pid = shimPidOf(address.replace(/^unix:\/\//, ""));
  if (pid) shims.add(pid);
  return { bundle, address, pid, task: await TaskClient.connect(address) };
}

const rootfsMount = () => [{ type: "bind", source: rootfsSrc, options: ["rbind", "rw"] }];

describe.skipIf(!canRun)("containerd-shim-bunker-v2 over ttrpc", () => {
  test("start prints a unix:// address, writes it in the bundle, and serves the task API", async () => {
    const { bundle, address, pid, task } = await startShim("addr", { args: ["true"] });
    expect(address).toMatch(new RegExp(`^unix://${join(dir, "s")}/[0-9a-f]{64}$`));
    expect(readFileSync(join(bundle, "address"), "utf8")).toBe(address);
    const c = await task.connect("addr");
    expect(c.shimPid).toBe(pid!);
    // Nothing created: Shutdown makes it exit and remove its socket.
    await task.shutdown("addr");
    await waitGone(pid!);
    expect(existsSync(address.replace("unix://", ""))).toBe(false);
    task.close();
  });

  test("create, start, wait: output through the FIFOs, exit status, events in order, delete unmounts", async () => {
    const id = "run1";
    const {
      bundle,
      pid: shimPid,
      task,
    } = await startShim(id, { args: ["sh", "-c", "echo out; echo err >&2; exit 3"] });
    const fifos = mkfifos(dir, id);
    const out = readFifo(fifos.stdout);
    const err = readFifo(fifos.stderr);
    const created = await task.create({
      id,
      bundle,
      rootfs: rootfsMount(),
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      options: runcOptions(),
    });
    expect(created.pid).toBeGreaterThan(0);
    expect(mountPointsUnder(join(bundle, "rootfs"))).toHaveLength(1);
    expect((await task.state(id)).status).toBe(Status.CREATED);
    const waited = task.wait(id);
    expect((await task.start(id)).pid).toBe(created.pid);
    const w = await waited;
    expect(w.exitStatus).toBe(3);
    expect(w.exitedAt).toBeDefined();
    expect(await out).toBe("out\n");
    expect(await err).toBe("err\n");
    const st = await task.state(id);
    expect([st.status, st.exitStatus, st.pid, st.bundle]).toEqual([Status.STOPPED, 3, created.pid, bundle]);
    await task.closeIO(id);
    const del = await task.delete(id);
    expect([del.pid, del.exitStatus]).toEqual([created.pid, 3]);
    expect(mountPointsUnder(join(bundle, "rootfs"))).toHaveLength(0);
    await sink.waitFor((e) => e.topic === "/tasks/delete" && e.event.containerId === id);
    const mine = sink.events.filter((e) => e.event.containerId === id);
    expect(mine.map((e) => e.topic)).toEqual([
      "/tasks/create",
      "/tasks/start",
      "/tasks/exit",
      "/tasks/delete",
    ]);
    expect(mine.every((e) => e.namespace === NS)).toBe(true);
    const exit = mine[2]!.event;
    expect([exit.$typeName, exit.id, exit.pid, exit.exitStatus]).toEqual([
      "containerd.events.TaskExit",
      id,
      created.pid,
      3,
    ]);
    await expect(task.state(id)).rejects.toMatchObject({ code: Code.NotFound });
    await task.shutdown(id);
    await waitGone(shimPid!);
    task.close();
  });

  test("refusals: start twice, delete while running, unknown ids, duplicate exec, checkpoint", async () => {
    const id = "errs";
    const { bundle, task } = await startShim(id, { args: ["sleep", "1000"] });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() }).then(
      () => expect.unreachable(),
      (e) => expect(e.code).toBe(Code.AlreadyExists),
    );
    await task.start(id);
    await expect(task.start(id)).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(task.delete(id)).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(task.state("nope")).rejects.toMatchObject({ code: Code.NotFound });
    await expect(task.state(id, "nope")).rejects.toMatchObject({ code: Code.NotFound });
    await expect(task.checkpoint(id)).rejects.toMatchObject({ code: Code.Unimplemented });
    const spec = processSpec(["true"]);
    await task.exec({ id, execId: "e1", spec });
    await expect(task.exec({ id, execId: "e1", spec })).rejects.toMatchObject({ code: Code.AlreadyExists });
    await expect(task.call("Nope", AnySchema, AnySchema, {})).rejects.toMatchObject({
      code: Code.Unimplemented,
    });
    // Shutdown with a task left does not stop the shim.
    await task.shutdown(id);
    expect((await task.state(id)).status).toBe(Status.RUNNING);
    await task.kill(id, 9);
    expect((await task.wait(id)).exitStatus).toBe(137);
    await expect(task.kill(id, 9)).rejects.toMatchObject({ code: Code.NotFound });
    await task.delete(id, "e1");
    await task.delete(id);
    await task.shutdown(id);
    task.close();
  });

  test("exec: output, exit codes, pids with exec ids, stdin through CloseIO, events", async () => {
    const id = "ex";
    const { bundle, task } = await startShim(id, { args: ["sleep", "1000"] });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    const { pid: initPid } = await task.start(id);

    const f1 = mkfifos(dir, "ex-e1");
    const out = readFifo(f1.stdout);
    await task.exec({
      id,
      execId: "e1",
      stdout: f1.stdout,
      spec: processSpec(["sh", "-c", "echo hello; exit 7"]),
    });
    expect((await task.state(id, "e1")).status).toBe(Status.CREATED);
    const w = task.wait(id, "e1");
    const { pid: e1 } = await task.start(id, "e1");
    expect(e1).toBeGreaterThan(0);
    expect((await w).exitStatus).toBe(7);
    expect(await out).toBe("hello\n");
    await task.delete(id, "e1");

    // stdin: cat echoes what the client writes, and ends at CloseIO once the client closed.
    const f2 = mkfifos(dir, "ex-e2");
    const catOut = readFifo(f2.stdout);
    await task.exec({ id, execId: "e2", stdin: f2.stdin, stdout: f2.stdout, spec: processSpec(["cat"]) });
    await task.start(id, "e2");
    const writer = Bun.spawn(["sh", "-c", `printf 'line one\\n' > ${f2.stdin}`]);
    await writer.exited;
    const pids = await task.pids(id);
    const e2 = pids.processes.find((p) => p.info);
    expect(pids.processes.map((p) => p.pid)).toContain(initPid);
    expect(e2?.info?.typeUrl).toBe("containerd.runc.v1.ProcessDetails");
    await task.closeIO(id, "e2");
    expect((await task.wait(id, "e2")).exitStatus).toBe(0);
    expect(await catOut).toBe("line one\n");
    await task.delete(id, "e2");

    // A signal to an exec'd process.
    await task.exec({ id, execId: "e3", spec: processSpec(["sleep", "1000"]) });
    await task.start(id, "e3");
    await task.kill(id, 15, { execId: "e3" });
    expect((await task.wait(id, "e3")).exitStatus).toBe(128 + 15);
    await task.delete(id, "e3");

    await task.kill(id, 9);
    await task.wait(id);
    await task.delete(id);
    const topics = sink.topics(
      (e) => (e.event.containerId === id && e.event.execId === "e1") || e.event.id === "e1",
    );
    expect(topics).toEqual(["/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"]);
    await task.shutdown(id);
    task.close();
  });

  test("stats, update and kill --all on a running task", async () => {
    const id = "st";
    const { bundle, task } = await startShim(id, {
      args: ["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
      hostPid: true,
    });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    const { pid } = await task.start(id);
    const stats = await task.stats(id);
    expect(stats.stats?.typeUrl).toMatch(/^io\.containerd\.cgroups\.v[12]\.Metrics$/);
    expect(stats.stats?.value.length).toBeGreaterThan(0);
    // runc update sets the memory limit of the task's cgroup.
    const limit = 96 << 20;
    const resources = { memory: { limit, swap: limit } };
    await task.update({
      id,
      resources: {
        typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        value: new TextEncoder().encode(JSON.stringify(resources)),
      },
    });
    expect(memoryLimitOf(pid)).toBe(limit);
    await expect(
      task.update({ id, resources: { typeUrl: "x", value: new TextEncoder().encode("{nope") } }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    // sh and its two sleeps, once sh has forked them.
    let pids: number[] = [];
    for (let i = 0; i < 100 && pids.length !== 3; i++) {
      pids = (await task.pids(id)).processes.map((p) => p.pid);
      if (pids.length !== 3) await Bun.sleep(20);
    }
    expect(pids.length).toBe(3);
    await task.kill(id, 9, { all: true });
    expect((await task.wait(id)).exitStatus).toBe(137);
    // Without a pid namespace of its own, only --all reaches the init's children.
    await Bun.sleep(200);
    expect(
      pids.filter(
        (p) => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z "),
      ),
    ).toEqual([]);
    await task.delete(id);
    await task.shutdown(id);
    task.close();
  });

  test("pause and resume change the state and publish events", async () => {
    const id = "pz";
    const { bundle, task } = await startShim(id, { args: ["sleep", "1000"] });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    await task.start(id);
    await task.pause(id);
    expect((await task.state(id)).status).toBe(Status.PAUSED);
    await task.resume(id);
    expect((await task.state(id)).status).toBe(Status.RUNNING);
    await task.kill(id, 9);
    await task.wait(id);
    await task.delete(id);
    expect(sink.topics((e) => e.event.containerId === id)).toContain("/tasks/paused");
    expect(sink.topics((e) => e.event.containerId === id)).toContain("/tasks/resumed");
    await task.shutdown(id);
    task.close();
  });

  test("a terminal: runc's pty master is copied to the stdout FIFO", async () => {
    const id = "tty";
    const { bundle, task } = await startShim(id, {
      args: ["sh", "-c", "tty; sleep 0.5; stty size; echo done"],
      terminal: true,
    });
    const fifos = mkfifos(dir, id);
    const out = readFifo(fifos.stdout);
    await task.create({
      id,
      bundle,
      rootfs: rootfsMount(),
      terminal: true,
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      options: runcOptions(),
    });
    await task.start(id);
    await task.call("ResizePty", ResizePtyRequestSchema, EmptySchema, { id, width: 100, height: 40 });
    expect((await task.wait(id)).exitStatus).toBe(0);
    const text = await out;
    expect(text).toContain("/dev/pts/0");
    expect(text).toContain("40 100");
    expect(text).toContain("done");
    await task.delete(id);
    await task.shutdown(id);
    task.close();
  });

  test("file:// and binary:// log URIs take the process's stdout and stderr", async () => {
    const id = "logs";
    const { bundle, task } = await startShim(id, { args: ["sh", "-c", "echo to-out; echo to-err >&2"] });
    const file = join(dir, "logs", "c.log");
    await task.create({
      id,
      bundle,
      rootfs: rootfsMount(),
      stdout: `file://${file}`,
      stderr: `file://${file}`,
      options: runcOptions(),
    });
    await task.start(id);
    await task.wait(id);
    await task.delete(id);
    expect(readFileSync(file, "utf8").split("\n").sort()).toEqual(["", "to-err", "to-out"]);

    const logger = join(dir, "logger.sh");
    writeFileSync(
      logger,
      `#!/bin/sh\ncat <&3 5>&- > "$2/bin.out" &\ncat <&4 5>&- > "$2/bin.err" &\necho "$CONTAINER_ID $CONTAINER_NAMESPACE" > "$2/bin.env"\nexec 5>&-\nwait\n`,
    );
    chmodSync(logger, 0o755);
    const uri = `binary://${logger}?dir=${encodeURIComponent(dir)}`;
    const id2 = "logs2";
    const b2 = makeBundle(dir, id2, { args: ["sh", "-c", "echo bin-out; echo bin-err >&2"] });
    await task.create({
      id: id2,
      bundle: b2,
      rootfs: rootfsMount(),
      stdout: uri,
      stderr: uri,
      options: runcOptions(),
    });
    await task.start(id2);
    await task.wait(id2);
    await task.delete(id2);
    expect(readFileSync(join(dir, "bin.out"), "utf8")).toBe("bin-out\n");
    expect(readFileSync(join(dir, "bin.err"), "utf8")).toBe("bin-err\n");
    expect(readFileSync(join(dir, "bin.env"), "utf8")).toBe(`${id2} ${NS}\n`);
    await task.shutdown(id);
    task.close();
  });

  test("a process killed by the OOM killer: /tasks/oom, then exit 137", async () => {
    const id = "oom";
    const hog = "a=$(head -c 200000000 /dev/zero | tr '\\0' a); echo got";
    const { bundle, task } = await startShim(id, { args: ["sh", "-c", hog], memoryLimit: 16 << 20 });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    await task.start(id);
    expect((await task.wait(id)).exitStatus).toBe(137);
    await sink.waitFor((e) => e.topic === "/tasks/oom" && e.event.containerId === id);
    await task.delete(id);
    await task.shutdown(id);
    task.close();
  });

  test("containers with the same group annotation share one shim", async () => {
    const annotations = { "io.containerd.runc.v2.group": "g1" };
    const a = await startShim("ga", { args: ["sleep", "1000"], annotations });
    const b = await startShim("gb", { args: ["sleep", "1000"], annotations });
    expect(b.address).toBe(a.address);
    expect(b.pid).toBe(a.pid);
    for (const [id, s] of [
      ["ga", a],
      ["gb", b],
    ] as const) {
      await s.task.create({ id, bundle: s.bundle, rootfs: rootfsMount(), options: runcOptions() });
      await s.task.start(id);
    }
    await a.task.kill("ga", 9);
    await a.task.wait("ga");
    await a.task.delete("ga");
    // gb is still there: the shim stays.
    await a.task.shutdown("ga");
    expect((await b.task.state("gb")).status).toBe(Status.RUNNING);
    await b.task.kill("gb", 9);
    await b.task.wait("gb");
    await b.task.delete("gb");
    await b.task.shutdown("gb");
    await waitGone(a.pid!);
    a.task.close();
    b.task.close();
  });

  test("two starts of one group at the same time end with one shim", async () => {
    const annotations = { "io.containerd.runc.v2.group": "race" };
    const bundles = ["ra", "rb", "rc"].map(
      (id) => [id, makeBundle(dir, id, { args: ["true"], annotations })] as const,
    );
    const results = await Promise.all(
      bundles.map(([id, bundle]) => runShim([...shimArgs(id), "start"], { cwd: bundle, env })),
    );
    const addresses = new Set(results.map((r) => new TextDecoder().decode(r.stdout)));
    expect(results.map((r) => [r.code, r.stderr])).toEqual([
      [0, ""],
      [0, ""],
      [0, ""],
    ]);
    expect(addresses.size).toBe(1);
    const address = [...addresses][0]!;
    const pid = shimPidOf(address.replace("unix://", ""))!;
    shims.add(pid);
    // Only that one shim was left running: every other one gave way.
    await Bun.sleep(200);
    const others = Bun.spawnSync(["pgrep", "-f", "--", `-id r[abc] -address ${join(dir, "daemon.sock")}`], {
      stdout: "pipe",
    });
    expect(others.stdout.toString().trim().split("\n").filter(Boolean).map(Number)).toEqual([pid]);
    const task = await TaskClient.connect(address);
    await task.shutdown("ra");
    await waitGone(pid);
    task.close();
  });

  test("a failed Create says why and leaves no mount, runc container or process behind", async () => {
    const id = "bad";
    const { bundle, task } = await startShim(id, { args: ["/no/such/binary"] });
    const fifos = mkfifos(dir, id);
    const err = await task
      .create({
        id,
        bundle,
        rootfs: rootfsMount(),
        stdout: fifos.stdout,
        stderr: fifos.stderr,
        options: runcOptions(),
      })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).toContain("/no/such/binary");
    expect(mountPointsUnder(join(bundle, "rootfs"))).toEqual([]);
    const list = Bun.spawnSync(["runc", "--root", join(runcRoot, NS), "list", "-q"], { stdout: "pipe" });
    expect(list.stdout.toString().split("\n")).not.toContain(id);
    await expect(task.state(id)).rejects.toMatchObject({ code: Code.NotFound });
    // Unknown stdio schemes are refused before anything runs.
    const e2 = await task
      .create({ id, bundle, rootfs: rootfsMount(), stdout: "tcp://x", options: runcOptions() })
      .then(
        () => undefined,
        (e: { code: number; message: string }) => e,
      );
    expect([e2?.code, e2?.message]).toEqual([
      Code.InvalidArgument,
      "unknown STDIO scheme tcp: invalid argument",
    ]);
    expect(mountPointsUnder(join(bundle, "rootfs"))).toEqual([]);
    await task.shutdown(id);
    task.close();
  });

  test("delete after the shim died: runc container removed, rootfs unmounted, 137 on stdout", async () => {
    const id = "dead";
    const { bundle, pid, task } = await startShim(id, { args: ["sleep", "1000"] });
    await task.create({ id, bundle, rootfs: rootfsMount(), options: runcOptions() });
    await task.start(id);
    task.close();
    process.kill(pid!, "SIGKILL");
    await waitGone(pid!);
    const r = await runShim([...shimArgs(id), "-bundle", bundle, "delete"], { cwd: bundle, env });
    expect(r.code).toBe(0);
    const res = fromBinary(DeleteResponseSchema, r.stdout);
    expect(res.exitStatus).toBe(137);
    expect(res.exitedAt).toBeDefined();
    expect(mountPointsUnder(join(bundle, "rootfs"))).toHaveLength(0);
    const list = Bun.spawnSync(["runc", "--root", join(runcRoot, NS), "list", "-q"], { stdout: "pipe" });
    expect(list.stdout.toString()).not.toContain(id);
  });
});

/** The memory limit of pid's cgroup (v1 memory controller, or v2). */
function memoryLimitOf(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1) {
    const path = v1.split(":")[2];
    return Number(readFileSync(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`, "utf8"));
  }
  const path = lines.find((l) => l.startsWith("0::"))!.slice(3);
  return Number(readFileSync(`/sys/fs/cgroup${path}/memory.max`, "utf8"));
}

function processSpec(args: string[]) {
  const spec = { terminal: false, user: { uid: 0, gid: 0 }, args, env: ["PATH=/bin"], cwd: "/" };
  return create(AnySchema, {
    typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
    value: new TextEncoder().encode(JSON.stringify(spec)),
  });
}

async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      process.kill(pid, 0);
    } catch {
      shims.delete(pid);
      return;
    }
    // A zombie of ours? The shim is detached: its parent is init, so kill(0) fails once reaped.
    await Bun.sleep(50);
  }
  throw new Error(`shim ${pid} still running`);
}

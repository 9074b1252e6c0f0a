/** `ctr tasks …` against bunkerd on a detached container: ls, ps, exec, pause/resume, metrics,
 *  kill, rm; the /tasks/* events the shim publishes reach `ctr events` once each; and the errors
 *  ctr prints for missing tasks match containerd's, word for word. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX_REF, importBusybox, startWithBusybox } from "../harness/busybox.ts";
import { canRunTasks, type DaemonHandle, hasBinary } from "../harness/daemon.ts";
import { expectClean, isAlive, tasksLs, uniqueId, waitFor } from "./helpers.ts";

describe.skipIf(!canRunTasks)("ctr tasks on bunkerd", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startWithBusybox("bunkerd");
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
  });

  async function ok(args: string[]) {
    const r = await d.ctr(args);
    if (r.code !== 0) throw new Error(`ctr ${args.join(" ")} → ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  test("ctr plugins ls lists the runtime and the tasks services as containerd does", async () => {
    const rows = (await ok(["plugins", "ls"])).split("\n").map((l) => l.trim().split(/\s+/));
    const row = (type: string, id: string) => rows.find((r) => r[0] === type && r[1] === id);
    expect(row("io.containerd.runtime.v2", "task")).toEqual([
      "io.containerd.runtime.v2",
      "task",
      "linux/amd64",
      "ok",
    ]);
    expect(row("io.containerd.service.v1", "tasks-service")).toEqual([
      "io.containerd.service.v1",
      "tasks-service",
      "-",
      "ok",
    ]);
    expect(row("io.containerd.grpc.v1", "tasks")).toEqual(["io.containerd.grpc.v1", "tasks", "-", "ok"]);
  });

  test("the shim's log (the bundle's log fifo) is copied into the daemon's log", async () => {
    const id = uniqueId("log");
    expect((await d.ctr(["run", "--rm", BUSYBOX_REF, id, "true"])).code).toBe(0);
    expect(d.log()).toMatch(
      new RegExp(`msg="starting signal loop".*path=\\S+/default/${id} .*runtime=io.containerd.runc.v2`),
    );
  });

  test("a detached task through its life: ls, ps, exec, pause, resume, metrics, kill, rm", async () => {
    const id = uniqueId("life");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const [row] = (await tasksLs(d)).filter((t) => t.task === id);
    expect(row?.status).toBe("RUNNING");
    expect(isAlive(row!.pid)).toBe(true);

    const ps = await ok(["tasks", "ps", id]);
    expect(ps.split("\n")[0]).toMatch(/^PID\s+INFO/);
    expect(ps).toContain(String(row!.pid));

    expect(await ok(["tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "echo from exec; exit 0"])).toBe(
      "from exec\n",
    );
    const failed = await d.ctr(["tasks", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 4"]);
    expect(failed.code).toBe(4);

    await ok(["tasks", "pause", id]);
    expect((await tasksLs(d)).find((t) => t.task === id)?.status).toBe("PAUSED");
    await ok(["tasks", "resume", id]);
    expect((await tasksLs(d)).find((t) => t.task === id)?.status).toBe("RUNNING");

    const metrics = await ok(["tasks", "metrics", id]);
    expect(metrics).toContain(id);
    expect(metrics).toMatch(/memory|METRIC/i);

    await ok(["tasks", "kill", "-s", "KILL", id]);
    await waitFor(
      "STOPPED",
      async () => (await tasksLs(d)).find((t) => t.task === id)?.status === "STOPPED" || undefined,
    );
    expect(isAlive(row!.pid)).toBe(false);
    await ok(["tasks", "rm", id]);
    expect((await tasksLs(d)).find((t) => t.task === id)).toBeUndefined();
    await ok(["containers", "rm", id]);
    await expectClean(d);
  });

  test("kill --all stops the task; its exit is 137 and rm reports it", async () => {
    const id = uniqueId("killall");
    await ok(["run", "-d", BUSYBOX_REF, id, "sh", "-c", "sleep 600 & sleep 600"]);
    await ok(["tasks", "kill", "--all", "-s", "KILL", id]);
    await waitFor(
      "STOPPED",
      async () => (await tasksLs(d)).find((t) => t.task === id)?.status === "STOPPED" || undefined,
    );
    // ctr tasks rm prints nothing in 1.6; the API's Delete answers with the exit status.
    const { createDaemonTransport } = await import("@bunkerd/client");
    const { createClient } = await import("@connectrpc/connect");
    const { Tasks } = await import("@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts");
    const tasks = createClient(Tasks, createDaemonTransport(d.address, { namespace: "default" }));
    const got = await tasks.get({ containerId: id });
    expect([got.process?.status, got.process?.exitStatus]).toEqual([3, 137]); // 3 = STOPPED
    const del = await tasks.delete({ containerId: id });
    expect([del.id, del.exitStatus, del.exitedAt !== undefined]).toEqual([id, 137, true]);
    await ok(["containers", "rm", id]);
    await expectClean(d);
  });

  test("ctr events sees the shim's /tasks/* events once each, in order", async () => {
    const events = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "pipe" });
    try {
      await Bun.sleep(300); // let the subscription start
      const id = uniqueId("ev");
      const r = await d.ctr(["run", "--rm", BUSYBOX_REF, id, "sh", "-c", "exit 2"]);
      expect(r.code).toBe(2);
      await Bun.sleep(300);
      events.kill();
      const out = await new Response(events.stdout).text();
      const topics = out
        .split("\n")
        .filter((l) => l.includes(id) && l.includes("/tasks/"))
        .map((l) => l.split(/\s+/).find((w) => w.startsWith("/tasks/")));
      expect(topics).toEqual(["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]);
      expect(out).toMatch(new RegExp(`default /tasks/exit .*"container_id":"${id}".*"exit_status":2`));
    } finally {
      events.kill();
    }
  });

  test("exec events: /tasks/exec-added and /tasks/exec-started", async () => {
    const id = uniqueId("exev");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const events = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "pipe" });
    try {
      await Bun.sleep(300);
      await ok(["tasks", "exec", "--exec-id", "x1", id, "true"]);
      await Bun.sleep(300);
      events.kill();
      const out = await new Response(events.stdout).text();
      const topics = out
        .split("\n")
        .filter((l) => l.includes(id))
        .map((l) => l.split(/\s+/).find((w) => w.startsWith("/tasks/")));
      expect(topics.slice(0, 2)).toEqual(["/tasks/exec-added", "/tasks/exec-started"]);
      expect(topics).toContain("/tasks/exit");
    } finally {
      events.kill();
      await d.ctr(["tasks", "kill", "-s", "KILL", id]);
      await waitFor("rm", async () => (await d.ctr(["tasks", "rm", id])).code === 0 || undefined);
      await d.ctr(["containers", "rm", id]);
    }
  });

  test("a second task for a running container is AlreadyExists", async () => {
    const id = uniqueId("twice");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    try {
      const r = await d.ctr(["tasks", "start", id]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`task ${id}: already exists`);
    } finally {
      await d.ctr(["tasks", "kill", "-s", "KILL", id]);
      await waitFor("rm", async () => (await d.ctr(["tasks", "rm", id])).code === 0 || undefined);
      await d.ctr(["containers", "rm", id]);
    }
    await expectClean(d);
  });
});

const besideContainerd = canRunTasks && hasBinary("containerd");

describe.skipIf(!besideContainerd)("ctr tasks errors, bunkerd beside containerd", () => {
  let b: DaemonHandle;
  let c: DaemonHandle;
  // A shim binary that fails to start, on both daemons' PATH.
  const shimDir = mkdtempSync("/tmp/bk-boom-");
  beforeAll(async () => {
    writeFileSync(
      join(shimDir, "containerd-shim-boom-v2"),
      '#!/bin/sh\necho "boom on stdout"\necho "boom on stderr" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const env = { PATH: `${shimDir}:${process.env.PATH}` };
    [b, c] = await Promise.all([
      startWithBusybox("bunkerd", { env }),
      startWithBusybox("containerd", { env }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([b?.stop(), c?.stop()]);
    rmSync(shimDir, { recursive: true, force: true });
  });

  test("a shim that fails to start, a runtime with no binary, a bad runtime name: the same errors", async () => {
    for (const runtime of ["io.containerd.boom.v2", "io.containerd.nosuch.v2", "runc"]) {
      const id = uniqueId("rt");
      const args = ["run", "--rm", "--runtime", runtime, BUSYBOX_REF, id, "true"];
      const [rb, rc] = await Promise.all([b.ctr(args), c.ctr(args)]);
      expect({ runtime, code: rb.code, stderr: rb.stderr }).toEqual({
        runtime,
        code: rc.code,
        stderr: rc.stderr,
      });
      expect(rb.stderr).toStartWith("ctr: failed to start shim: ");
      for (const dh of [b, c]) await dh.ctr(["containers", "rm", id]);
    }
    await expectClean(b);
  });

  test("runc refusing the process: the same error, and nothing left", async () => {
    const id = uniqueId("runc");
    // runc keeps its state per namespace for every daemon on the machine: a namespace each.
    const nsOf = (dh: DaemonHandle) => `${dh.kind}-${process.pid}`;
    for (const dh of [b, c]) await importBusybox(dh, BUSYBOX_REF, { namespace: nsOf(dh) });
    const args = (dh: DaemonHandle) => ["-n", nsOf(dh), "run", "--rm", BUSYBOX_REF, id, "/no/such/binary"];
    const [rb, rc] = await Promise.all([b.ctr(args(b)), c.ctr(args(c))]);
    expect({ code: rb.code, stderr: rb.stderr }).toEqual({ code: rc.code, stderr: rc.stderr });
    expect(rb.stderr).toContain("OCI runtime create failed");
    for (const dh of [b, c]) await dh.ctr(["-n", nsOf(dh), "containers", "rm", id]);
    await expectClean(b);
  });

  test("missing task, missing container, missing exec: the same messages and exit codes", async () => {
    const id = uniqueId("noTask").toLowerCase();
    for (const dh of [b, c]) {
      const r = await dh.ctr(["containers", "create", BUSYBOX_REF, id, "sleep", "600"]);
      expect(r.code).toBe(0);
    }
    const cases = [
      ["tasks", "kill", id],
      ["tasks", "pause", id],
      ["tasks", "rm", id],
      ["tasks", "ps", id],
      ["tasks", "metrics", id],
      ["tasks", "exec", "--exec-id", "e1", id, "true"],
      ["tasks", "kill", "nosuch"],
      ["tasks", "rm", "nosuch"],
    ];
    const kill = await b.ctr(cases[0]!);
    // The Go client appends the kind to containerd's bare "task <id> not found" status.
    expect([kill.code, kill.stderr]).toEqual([
      1,
      `ctr: no running task found: task ${id} not found: not found\n`,
    ]);
    for (const args of cases) {
      const [rb, rc] = await Promise.all([b.ctr(args), c.ctr(args)]);
      expect({ args, code: rb.code, stderr: rb.stderr }).toEqual({
        args,
        code: rc.code,
        stderr: rc.stderr,
      });
    }
    for (const dh of [b, c]) await dh.ctr(["containers", "rm", id]);
    // A running task and an exec id it does not have. runc keeps its state per namespace for
    // every daemon on the machine, so each daemon gets a namespace of its own here.
    const nsOf = (dh: DaemonHandle) => `${dh.kind}-${process.pid}`;
    for (const dh of [b, c]) {
      await importBusybox(dh, BUSYBOX_REF, { namespace: nsOf(dh) });
      const r = await dh.ctr(["-n", nsOf(dh), "run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    }
    try {
      for (const args of [
        ["tasks", "kill", "--exec-id", "nope", id],
        ["tasks", "start", id],
        ["tasks", "exec", "--exec-id", "bad id", id, "true"],
        ["tasks", "exec", "--exec-id", "e9", id, "/no/such/binary"],
        ["tasks", "resume", id],
        ["tasks", "rm", id],
      ]) {
        const [rb, rc] = await Promise.all([
          b.ctr(["-n", nsOf(b), ...args]),
          c.ctr(["-n", nsOf(c), ...args]),
        ]);
        expect({ args, code: rb.code, stderr: rb.stderr }).toEqual({
          args,
          code: rc.code,
          stderr: rc.stderr,
        });
      }
    } finally {
      for (const dh of [b, c]) {
        const ns = ["-n", nsOf(dh)];
        await dh.ctr([...ns, "tasks", "kill", "-s", "KILL", id]);
        await waitFor("rm", async () => (await dh.ctr([...ns, "tasks", "rm", id])).code === 0 || undefined);
        await dh.ctr([...ns, "containers", "rm", id]);
      }
    }
  });
});

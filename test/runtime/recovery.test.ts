/** bunkerd killed with SIGKILL while tasks run, then started again on the same state: live shims
 *  are reconnected (ls, exec, kill, rm work), an exit that happened while the daemon was down is
 *  reported (STOPPED, its status, a /tasks/exit event), and a shim that died meanwhile is
 *  cleaned up (`shim delete`, rootfs unmounted, bundle removed) with its exit published. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDaemonTransport } from "@bunkerd/client";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { createClient } from "@connectrpc/connect";
import { BUSYBOX_REF, startWithBusybox } from "../harness/busybox.ts";
import { canRunTasks, type DaemonHandle, shimPids } from "../harness/daemon.ts";
import { bundles, expectClean, isAlive, mountsUnder, tasksLs, uniqueId, waitFor } from "./helpers.ts";

/** `ctr events` from now on, or from when the daemon serves again (it is retried until it
 *  connects); `lines()` is what it printed so far. */
function watchEvents(d: DaemonHandle) {
  let text = "";
  let stopped = false;
  let current: ReturnType<typeof Bun.spawn> | undefined;
  (async () => {
    while (!stopped) {
      const p = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "ignore" });
      current = p;
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read())
        text += new TextDecoder().decode(r.value);
      await p.exited;
      if (!stopped) await Bun.sleep(100);
    }
  })();
  return {
    lines: () => text.split("\n").filter((l) => l !== ""),
    stop: () => {
      stopped = true;
      current?.kill();
    },
  };
}

type Events = ReturnType<typeof watchEvents>;

/** Waits until `events` saw task `id` exit killed (`containerd-shim-runc-v2 delete` kills what is
 *  left and reports 128 + SIGKILL) and then deleted. */
async function expectKilledThenDeleted(events: Events, id: string) {
  const seen = (topic: string) => () => events.lines().find((l) => l.includes(topic) && l.includes(id));
  const exit = await waitFor("/tasks/exit", seen("/tasks/exit"), 10_000);
  expect(exit).toContain('"exit_status":137');
  await waitFor("/tasks/delete", seen("/tasks/delete"));
}

describe.skipIf(!canRunTasks)("bunkerd restart with tasks", () => {
  let d: DaemonHandle;
  let dataDir: string;
  beforeEach(async () => {
    d = await startWithBusybox("bunkerd");
    dataDir = mkdtempSync("/tmp/bk-recovery-");
  }, 60_000);
  afterEach(async () => {
    await d?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const tasksApi = () => createClient(Tasks, createDaemonTransport(d.address, { namespace: "default" }));

  async function ok(args: string[]) {
    const r = await d.ctr(args);
    if (r.code !== 0) throw new Error(`ctr ${args.join(" ")} → ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async function stopDaemon() {
    d.proc.kill("SIGKILL");
    await d.proc.exited;
  }

  test("a graceful stop (SIGTERM) leaves running tasks alone", async () => {
    const id = uniqueId("term");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const before = (await tasksLs(d)).find((t) => t.task === id)!;
    await d.restart("SIGTERM");
    expect((await tasksLs(d)).find((t) => t.task === id)).toEqual({
      task: id,
      pid: before.pid,
      status: "RUNNING",
    });
    expect(d.log()).not.toContain("shim disconnected");
    await ok(["tasks", "kill", "-s", "KILL", id]);
    await tasksApi().wait({ containerId: id });
    await ok(["tasks", "rm", id]);
    await ok(["containers", "rm", id]);
    await expectClean(d);
  });

  test("a running task survives: after the restart it is RUNNING, and exec, kill, rm work", async () => {
    const id = uniqueId("survivor");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const before = (await tasksLs(d)).find((t) => t.task === id)!;
    const shims = shimPids(d.dir);
    expect(shims.length).toBe(1);

    await d.restart("SIGKILL");
    expect(shimPids(d.dir)).toEqual(shims);
    expect((await tasksLs(d)).find((t) => t.task === id)).toEqual({
      task: id,
      pid: before.pid,
      status: "RUNNING",
    });
    expect(await ok(["tasks", "exec", "--exec-id", "after", id, "sh", "-c", "echo still here"])).toBe(
      "still here\n",
    );
    expect(d.log()).toContain("reconnected to shim");

    await ok(["tasks", "kill", "-s", "KILL", id]);
    const exit = await tasksApi().wait({ containerId: id });
    expect(exit.exitStatus).toBe(137);
    await ok(["tasks", "rm", id]);
    await ok(["containers", "rm", id]);
    expect(isAlive(before.pid)).toBe(false);
    await expectClean(d);
  });

  test("a task that exits while bunkerd is down is STOPPED with its status, and its /tasks/exit arrives", async () => {
    const id = uniqueId("exited");
    await ok([
      "run",
      "-d",
      "--mount",
      `type=bind,src=${dataDir},dst=/data,options=rbind:rw`,
      BUSYBOX_REF,
      id,
      "sh",
      "-c",
      "while [ ! -e /data/go ]; do sleep 0.05; done; exit 7",
    ]);
    await stopDaemon();
    writeFileSync(join(dataDir, "go"), "");
    const pid = Number(
      await Bun.file(join(d.state, "io.containerd.runtime.v2.task/default", id, "init.pid")).text(),
    );
    await waitFor("the task to exit", () => !isAlive(pid) || undefined, 10_000);
    const exitedAt = Date.now();

    // The shim retries the /tasks/exit it could not deliver 1, 3, 6, 10 and 15 s after the exit;
    // while the dead daemon's socket is still there each retry fails at once. Once the restarted
    // daemon has removed it, the shim's dialer waits for the socket and delivers the moment it
    // appears, before any client could subscribe. So come back after the 10 s retry: the 15 s one
    // finds the daemon serving and our subscription in place.
    await Bun.sleep(Math.max(0, exitedAt + 10_500 - Date.now()));
    const events = watchEvents(d);
    await d.restart();
    try {
      expect((await tasksLs(d)).find((t) => t.task === id)?.status).toBe("STOPPED");
      const got = await tasksApi().get({ containerId: id });
      expect([got.process?.status, got.process?.exitStatus]).toEqual([Status.STOPPED, 7]);
      // The shim retries the event it could not deliver while we were down.
      const line = await waitFor(
        "/tasks/exit",
        () => events.lines().find((l) => l.includes("/tasks/exit") && l.includes(id)),
        20_000,
      );
      expect(line).toContain('"exit_status":7');
      await ok(["tasks", "rm", id]);
      await ok(["containers", "rm", id]);
      expect(events.lines().filter((l) => l.includes("/tasks/exit") && l.includes(id)).length).toBe(1);
    } finally {
      events.stop();
    }
    await expectClean(d);
  }, 60_000);

  test("a shim that dies while bunkerd is down is cleaned up after the restart, its exit published", async () => {
    const id = uniqueId("orphan");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const pid = (await tasksLs(d)).find((t) => t.task === id)!.pid;
    const [shim] = shimPids(d.dir);
    await stopDaemon();
    process.kill(shim!, "SIGKILL");
    await waitFor("the shim to die", () => !isAlive(shim!) || undefined);
    expect(mountsUnder(d.dir).length).toBe(1); // the container's rootfs is still mounted

    const events = watchEvents(d);
    await d.restart();
    try {
      await expectKilledThenDeleted(events, id);
    } finally {
      events.stop();
    }
    expect(isAlive(pid)).toBe(false);
    expect((await tasksLs(d)).find((t) => t.task === id)).toBeUndefined();
    expect(bundles(d)).toEqual([]);
    await ok(["containers", "rm", id]);
    await expectClean(d);
  }, 60_000);

  test("a shim that dies under a running bunkerd: its task's exit and delete are published, the task is gone", async () => {
    const id = uniqueId("dead");
    await ok(["run", "-d", BUSYBOX_REF, id, "sleep", "600"]);
    const pid = (await tasksLs(d)).find((t) => t.task === id)!.pid;
    const events = watchEvents(d);
    try {
      await Bun.sleep(300);
      const [shim] = shimPids(d.dir);
      process.kill(shim!, "SIGKILL");
      await expectKilledThenDeleted(events, id);
    } finally {
      events.stop();
    }
    expect(isAlive(pid)).toBe(false);
    expect((await tasksLs(d)).find((t) => t.task === id)).toBeUndefined();
    expect(d.log()).toContain("shim disconnected");
    await ok(["containers", "rm", id]);
    await expectClean(d);
  }, 60_000);
});

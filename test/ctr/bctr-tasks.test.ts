/** `bctr tasks …` end to end against a real containerd 1.6 and against bunkerd (each suite says
 *  which): a detached task listed (`ls`, `ps` print what Go ctr prints on the same state, plus
 *  `-q` and `--format json`), exec with its own exit code, user, cwd and env, exec -d then kill
 *  --exec-id, pause/resume, kill → exit 137 seen by `rm`, `rm -f` of a running task, create +
 *  start, attach; no FIFOs left. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX_REF as IMG, importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, run, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, KINDS, ok } from "./harness.ts";

const ready =
  isRoot && hasBinary("ctr") && hasBinary("containerd") && hasBinary("runc") && hasBinary("script");
const FIFO_ROOT = "/run/containerd/fifo";
const uid = Math.random().toString(36).slice(2, 8);
let n = 0;
const newId = (p: string) => `${p}-${uid}-${n++}`;

function fifosOf(id: string): string[] {
  if (!existsSync(FIFO_ROOT)) return [];
  const out: string[] = [];
  for (const dir of readdirSync(FIFO_ROOT)) {
    try {
      for (const f of readdirSync(join(FIFO_ROOT, dir))) if (f.startsWith(`${id}-`)) out.push(join(dir, f));
    } catch {
      // another client's directory vanished meanwhile
    }
  }
  return out;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr tasks against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    const made: string[] = [];
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      await importBusybox(d);
    }, 60_000);
    afterAll(async () => {
      for (const id of made) {
        await d.ctr(["tasks", "kill", "-s", "KILL", id]);
        await d.ctr(["tasks", "rm", "-f", id]);
        await d.ctr(["containers", "rm", id]);
      }
      await d?.stop();
    }, 60_000);

    const state = async (id: string) => {
      const line = ok(await d.ctr(["tasks", "ls"]))
        .split("\n")
        .find((l) => l.startsWith(`${id} `));
      return line?.trim().split(/\s+/)[2];
    };

    test("run -d, then ls/ps (as Go ctr prints them), exec, pause/resume, kill, rm", async () => {
      const id = newId("task");
      made.push(id);
      const r = await bctr(["run", "-d", IMG, id, "sleep", "600"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "", ""]);
      expect(await state(id)).toBe("RUNNING");

      expect(ok(await bctr(["tasks", "ls"]))).toBe(ok(await d.ctr(["tasks", "ls"])));
      expect(ok(await bctr(["t", "ls", "-q"])).split("\n")).toContain(id);
      const json = JSON.parse(ok(await bctr(["tasks", "list", "--format", "json"])));
      expect(json.find((t: { id: string }) => t.id === id)).toMatchObject({ id, status: "RUNNING" });
      expect(ok(await bctr(["tasks", "ps", id]))).toBe(ok(await d.ctr(["tasks", "ps", id])));

      const e1 = await bctr(["tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "echo in; exit 5"]);
      expect([e1.code, e1.stdout]).toEqual([5, "in\n"]);
      const e2 = await bctr([
        "task",
        "exec",
        "--exec-id",
        "e2",
        "--user",
        "app",
        "--cwd",
        "/tmp",
        "--env",
        "X=1",
        id,
        "sh",
        "-c",
        "id -u; pwd; echo $X",
      ]);
      expect([e2.code, e2.stdout]).toEqual([0, "1000\n/tmp\n1\n"]);
      const noExecId = await bctr(["tasks", "exec", id, "true"]);
      expect([noExecId.code, noExecId.stderr]).toEqual([1, 'bctr: Required flag "exec-id" not set\n']);

      ok(await bctr(["tasks", "exec", "-d", "--exec-id", `e3-${uid}`, id, "sleep", "600"]));
      const ps = ok(await bctr(["tasks", "ps", id]));
      expect(ps).toContain(`&ProcessDetails{ExecID:e3-${uid},XXX_unrecognized:[],}`);
      expect(ps).toBe(ok(await d.ctr(["tasks", "ps", id])));
      ok(await bctr(["tasks", "kill", "-s", "KILL", "--exec-id", `e3-${uid}`, id]));
      await waitFor("exec e3 to die", async () => !ok(await bctr(["tasks", "ps", id])).includes(`e3-${uid}`));

      // metrics: the same table and JSON shape as Go ctr's (the numbers move between calls).
      const mask = (t: string) =>
        t
          .replace(/\d{4}-\d\d-\d\d \S+ \+0000 UTC/, "TIME")
          .replace(/\d+/g, "N")
          .replace(/ +/g, " ");
      expect(mask(ok(await bctr(["tasks", "metrics", id])))).toBe(
        mask(ok(await d.ctr(["tasks", "metrics", id]))),
      );
      const shape = (j: string) => JSON.stringify(JSON.parse(j.replace(/\d+/g, "0")));
      expect(shape(ok(await bctr(["tasks", "metric", "--format", "json", id])))).toBe(
        shape(ok(await d.ctr(["tasks", "metrics", "--format", "json", id]))),
      );

      ok(await bctr(["tasks", "pause", id]));
      expect(await state(id)).toBe("PAUSED");
      ok(await bctr(["tasks", "resume", id]));
      expect(await state(id)).toBe("RUNNING");

      const busy = await bctr(["tasks", "rm", id]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain("task must be stopped before deletion: running: failed precondition");

      ok(await bctr(["tasks", "kill", "-s", "KILL", id]));
      await waitFor("the task to stop", async () => (await state(id)) === "STOPPED");
      const rm = await bctr(["tasks", "rm", id]);
      expect([rm.code, rm.stderr]).toEqual([0, `bctr: task ${id} exit with non-zero exit code 137\n`]);
      expect(await state(id)).toBeUndefined();
      expect(fifosOf(id)).toEqual([]);
      expect(fifosOf(`e3-${uid}`)).toEqual([]);
    }, 90_000);

    test("kill sends the stop signal by default; bad signals and --all with --exec-id are refused", async () => {
      const id = newId("kill");
      made.push(id);
      ok(await bctr(["run", "-d", IMG, id, "sh", "-c", "trap 'exit 7' TERM; sleep 600 & wait"]));
      await waitFor("running", async () => (await state(id)) === "RUNNING");
      await Bun.sleep(300);
      const bad = await bctr(["tasks", "kill", "-s", "NOPE", id]);
      expect([bad.code, bad.stderr]).toEqual([1, "bctr: Invalid signal: NOPE\n"]);
      const both = await bctr(["tasks", "kill", "--all", "--exec-id", "x", id]);
      expect(both.stderr).toBe("bctr: specify an exec-id or all; not both\n");
      ok(await bctr(["tasks", "kill", id]));
      await waitFor("the task to stop", async () => (await state(id)) === "STOPPED");
      const rm = await bctr(["tasks", "delete", id]);
      expect(rm.stderr).toBe(`bctr: task ${id} exit with non-zero exit code 7\n`);
    }, 60_000);

    test("kill --all reaches the task's other processes too", async () => {
      const id = newId("killall");
      made.push(id);
      // sh ignores TERM's default action (trap) and then waits on its child: only a signal that
      // also reaches `sleep` lets it end.
      ok(await bctr(["run", "-d", IMG, id, "sh", "-c", "trap 'echo' TERM; sleep 600 & wait; wait"]));
      await waitFor("running", async () => (await state(id)) === "RUNNING");
      await Bun.sleep(300);
      ok(await bctr(["tasks", "kill", "-s", "TERM", id]));
      await Bun.sleep(500);
      expect(await state(id)).toBe("RUNNING");
      ok(await bctr(["tasks", "kill", "--all", "-s", "TERM", id]));
      await waitFor("the task to stop", async () => (await state(id)) === "STOPPED");
      ok(await bctr(["tasks", "rm", id]));
    }, 60_000);

    test("rm -f kills and deletes a running task", async () => {
      const id = newId("force");
      made.push(id);
      ok(await bctr(["run", "-d", IMG, id, "sleep", "600"]));
      await waitFor("running", async () => (await state(id)) === "RUNNING");
      const r = await bctr(["tasks", "rm", "-f", id]);
      expect(r.code).toBe(0);
      expect(await state(id)).toBeUndefined();
      expect(fifosOf(id)).toEqual([]);
    }, 60_000);

    test("containers create + tasks start runs the task and exits with its code", async () => {
      const id = newId("start");
      made.push(id);
      ok(await bctr(["containers", "create", IMG, id, "sh", "-c", "echo started; exit 2"]));
      const r = await bctr(["tasks", "start", id]);
      expect([r.code, r.stdout]).toEqual([2, "started\n"]);
      expect(await state(id)).toBeUndefined();
      expect(fifosOf(id)).toEqual([]);
      const again = await bctr(["tasks", "start", "-d", id]);
      expect(again.code).toBe(0);
      await waitFor("the task to stop", async () => (await state(id)) === "STOPPED");
      ok(await bctr(["tasks", "rm", id]));
      expect(fifosOf(id)).toEqual([]);
    }, 60_000);

    test("attach joins a detached task's output and exits with its code", async () => {
      const id = newId("attach");
      made.push(id);
      ok(await bctr(["run", "-d", IMG, id, "sh", "-c", "sleep 1; echo late; exit 4"]));
      const p = Bun.spawn([BCTR, "--address", d.address, "tasks", "attach", id], {
        stdout: "pipe",
        stdin: "ignore",
      });
      const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
      expect([code, out]).toEqual([4, "late\n"]);
      ok(await bctr(["tasks", "rm", id]));
      expect(fifosOf(id)).toEqual([]);
    }, 60_000);

    test("exec -t gives the process a terminal of its own (under a pty)", async () => {
      const id = newId("exectty");
      made.push(id);
      ok(await bctr(["run", "-d", IMG, id, "sleep", "600"]));
      const cmd = `${BCTR} --address ${d.address} tasks exec -t --exec-id t1 ${id} sh -c 'tty; exit 3'`;
      const r = await run(["script", "-qec", cmd, "/dev/null"], { timeoutMs: 30_000 });
      expect(r.code).toBe(3);
      // Raw mode as Go ctr sets it: the task's "\r\n" reaches us unchanged. (`script` may first
      // echo "^@": a NUL it writes to the pty when its own stdin ends, before raw mode is set.)
      expect(r.stdout).toMatch(/^(\^@)?\/dev\/pts\/\d+\r\n/);
      expect(fifosOf("t1").filter((f) => f.includes(id))).toEqual([]);
    }, 60_000);

    test("a missing container is named in the error", async () => {
      const r = await bctr(["tasks", "kill", "nope"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('container "nope"');
      expect(r.stderr).toContain("not found");
    }, 30_000);
  });
}

/** containerd 1.6 runs containers through containerd-shim-bunker-v2 (`--runtime
 *  io.containerd.bunker.v2`), driven by the Go ctr: output and exit codes, detached tasks with
 *  ps/exec/kill/rm, a terminal, the task events containerd relays, shims shared by a group, and
 *  nothing left behind (processes, mounts, FIFOs). Also the socket address scheme, checked
 *  against containerd's own runc shim. Needs root, containerd, ctr, runc and busybox-static. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { mountPointsUnder } from "@bunkerd/snapshotters/mount";
import { BUSYBOX_REF, startWithBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, REPO, run, shimPids } from "../harness/daemon.ts";

const RUNTIME = "io.containerd.bunker.v2";
const canRun =
  isRoot && hasBinary("containerd") && hasBinary("ctr") && hasBinary("runc") && existsSync("/bin/busybox");

let d: DaemonHandle;
let fifoDir = "";
const NS = "default";
/** Every shim socket the tests saw, to check that none is left at the end. */
const sockets = new Set<string>();

beforeAll(async () => {
  if (!canRun) return;
  // SHIM_DIR runs the suite against another build, e.g. one compiled with `bun build --compile`.
  const shimDir = process.env.SHIM_DIR || `${REPO}/bin`;
  d = await startWithBusybox("containerd", { env: { PATH: `${shimDir}:${process.env.PATH}` } });
  fifoDir = join(d.dir, "fifo");
  mkdirSync(fifoDir);
}, 60_000);

afterAll(async () => {
  if (!canRun) return;
  // The harness kills shims a failed test left; their sockets are ours to remove.
  const tasks = join(d.state, "io.containerd.runtime.v2.task", NS);
  for (const id of existsSync(tasks) ? readdirSync(tasks) : []) {
    try {
      sockets.add(readFileSync(join(tasks, id, "address"), "utf8").replace("unix://", ""));
    } catch {
      // No shim was started for it.
    }
  }
  await d.stop();
  for (const s of sockets) if (s.startsWith("/run/bunkerd/s/")) rmSync(s, { force: true });
});

const ctr = (args: string[], timeoutMs = 30_000) => d.ctr(args, { timeoutMs });
/** ctr run with our runtime and a FIFO dir of the test's own, so leftovers can be counted. */
const runArgs = (...rest: string[]) => ["run", "--runtime", RUNTIME, "--fifo-dir", fifoDir, ...rest];
const bundleOf = (id: string) => join(d.state, "io.containerd.runtime.v2.task", NS, id);

function shimPidFor(id: string): number | undefined {
  const address = readFileSync(join(bundleOf(id), "address"), "utf8").replace("unix://", "");
  sockets.add(address);
  const out = Bun.spawnSync(["ss", "-xlpn"], { stdout: "pipe" }).stdout.toString();
  const line = out.split("\n").find((l) => l.includes(address));
  const m = line ? /pid=(\d+)/.exec(line) : null;
  return m ? Number(m[1]) : undefined;
}

/** Reads a stream until `done(text)` holds or the time is up; one read in flight at a time. */
async function readUntil(
  stream: ReadableStream<Uint8Array>,
  done: (text: string) => boolean,
  timeoutMs: number,
) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Bun.sleep(timeoutMs).then(() => "timeout" as const);
  try {
    while (!done(text)) {
      const r = await Promise.race([reader.read(), deadline]);
      if (r === "timeout" || r.done) break;
      text += decoder.decode(r.value, { stream: true });
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return text;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe.skipIf(!canRun)("containerd 1.6 with containerd-shim-bunker-v2", () => {
  test("ctr run --rm: stdout, stderr and the exit code come back", async () => {
    const r = await ctr([...runArgs("--rm", BUSYBOX_REF, "c1", "echo", "hi")]);
    expect(r).toMatchObject({ code: 0, stdout: "hi\n", stderr: "" });
    const r2 = await ctr([...runArgs("--rm", BUSYBOX_REF, "c2", "sh", "-c", "echo oops >&2; exit 5")]);
    expect([r2.code, r2.stdout, r2.stderr]).toEqual([5, "", "oops\n"]);
    // stdin reaches the container. (Its EOF depends on ctr winning a race to send CloseIO; with
    // containerd's own runc shim the same `cat` waits for ever too, so it is not checked here.)
    const r3 = await d.ctr([...runArgs("--rm", BUSYBOX_REF, "c3", "sh", "-c", "head -n 1; echo end")], {
      stdin: new TextEncoder().encode("from stdin\n"),
    });
    expect([r3.code, r3.stdout]).toEqual([0, "from stdin\nend\n"]);
    // A binary that is not there: runc's reason, in containerd's wording.
    const r4 = await ctr([...runArgs("--rm", BUSYBOX_REF, "c4", "/nope")]);
    expect(r4.code).not.toBe(0);
    expect(r4.stderr).toContain("OCI runtime create failed");
    expect(r4.stderr).toContain("/nope");
    // Killed from outside: ctr run reports 128 + SIGKILL.
    const running = ctr([...runArgs("--rm", BUSYBOX_REF, "k1", "sleep", "1000")]);
    await waitFor(async () => /k1\s+\d+\s+RUNNING/.test((await ctr(["tasks", "ls"])).stdout), "k1 running");
    expect((await ctr(["tasks", "kill", "-s", "KILL", "k1"])).code).toBe(0);
    expect((await running).code).toBe(137);
  });

  test("ctr run -d, then tasks ls / ps / exec / kill -s KILL / rm: 137", async () => {
    const id = "det";
    const r = await ctr([
      ...runArgs("-d", BUSYBOX_REF, id, "sh", "-c", "while true; do echo tick; sleep 0.2; done"),
    ]);
    expect(r.code).toBe(0);
    // The container outlives the detached ctr and the FIFO reader it had.
    await Bun.sleep(600);
    const ls = await ctr(["tasks", "ls"]);
    expect(ls.stdout).toMatch(new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
    const initPid = Number(new RegExp(`${id}\\s+(\\d+)`).exec(ls.stdout)![1]);
    const ps = await ctr(["tasks", "ps", id]);
    expect(ps.stdout).toContain(String(initPid));
    const ex = await ctr([
      "tasks",
      "exec",
      "--exec-id",
      "e1",
      "--fifo-dir",
      fifoDir,
      id,
      "sh",
      "-c",
      "echo from-exec; exit 4",
    ]);
    expect([ex.code, ex.stdout]).toEqual([4, "from-exec\n"]);
    // An exec with a terminal.
    const tty = [
      "ctr",
      "--address",
      d.address,
      "tasks",
      "exec",
      "-t",
      "--exec-id",
      "t1",
      "--fifo-dir",
      fifoDir,
    ];
    const rt = await run([
      "script",
      "-qec",
      [...tty, id, "sh", "-c", "'tty; exit 2'"].join(" "),
      "/dev/null",
    ]);
    expect(rt.stdout).toContain("/dev/pts/");
    expect(rt.code).toBe(2);
    // Pause and resume, and cgroup metrics decoded by ctr.
    expect((await ctr(["tasks", "pause", id])).code).toBe(0);
    expect((await ctr(["tasks", "ls"])).stdout).toMatch(new RegExp(`${id}\\s+\\d+\\s+PAUSED`));
    expect((await ctr(["tasks", "resume", id])).code).toBe(0);
    expect((await ctr(["tasks", "ls"])).stdout).toMatch(new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
    const metrics = await ctr(["tasks", "metrics", id]);
    expect(metrics.code).toBe(0);
    expect(metrics.stdout).toMatch(/memory\.(usage_in_bytes|usage)\s+[1-9]/);
    const kill = await ctr(["tasks", "kill", "-s", "KILL", id]);
    expect(kill.code).toBe(0);
    await waitFor(async () => (await ctr(["tasks", "ls"])).stdout.includes("STOPPED"), "STOPPED");
    const rm = await ctr(["tasks", "rm", id]);
    expect(rm.stderr).toContain("exit with non-zero exit code 137");
    expect((await ctr(["containers", "rm", id])).code).toBe(0);
    expect((await ctr(["tasks", "ls"])).stdout).not.toContain(id);
  });

  test("ctr run -t under script: output through the pty", async () => {
    const cmd = [
      "ctr",
      "--address",
      d.address,
      ...runArgs("-t", "--rm", BUSYBOX_REF, "tty1", "sh", "-c", "tty; echo ok-tty"),
    ];
    const r = await run(["script", "-qec", cmd.join(" "), "/dev/null"], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("/dev/pts/0");
    expect(r.stdout).toContain("ok-tty");
  });

  test("ctr events relays the shim's task events", async () => {
    const events = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "ignore" });
    try {
      await Bun.sleep(300);
      const r = await ctr([...runArgs("--rm", BUSYBOX_REF, "ev1", "true")]);
      expect(r.code).toBe(0);
      const text = await readUntil(events.stdout, (t) => t.includes("/tasks/delete"), 10_000);
      const mine = text.split("\n").filter((l) => l.includes("ev1"));
      const topics = mine.map((l) => /\s(\/tasks\/[a-z-]+)\s/.exec(l)?.[1]).filter(Boolean);
      expect(topics).toEqual(["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]);
    } finally {
      events.kill();
      await events.exited;
    }
  });

  test("two containers with the same io.containerd.runc.v2.group label share one shim", async () => {
    const label = ["--label", "io.containerd.runc.v2.group=team"];
    for (const id of ["ga", "gb"]) {
      const r = await ctr([...runArgs("-d", ...label, BUSYBOX_REF, id, "sleep", "1000")]);
      expect(r.code).toBe(0);
    }
    const a = shimPidFor("ga");
    expect(a).toBeGreaterThan(0);
    expect(shimPidFor("gb")).toBe(a!);
    expect(readFileSync(join(bundleOf("ga"), "address"), "utf8")).toBe(
      readFileSync(join(bundleOf("gb"), "address"), "utf8"),
    );
    for (const id of ["ga", "gb"]) {
      await ctr(["tasks", "kill", "-s", "KILL", id]);
      await waitFor(
        async () =>
          (await ctr(["tasks", "ls"])).stdout.match(new RegExp(`${id}\\s+\\d+\\s+STOPPED`)) !== null,
        `${id} stopped`,
      );
      expect((await ctr(["tasks", "rm", id])).stderr).toContain("exit code 137");
      expect((await ctr(["containers", "rm", id])).code).toBe(0);
    }
    // The last task gone, containerd's Shutdown ends the shared shim.
    await waitFor(() => {
      try {
        process.kill(a!, 0);
        return false;
      } catch {
        return true;
      }
    }, "the shared shim to exit");
  });

  test("the socket address follows containerd's scheme: sha256(address/namespace/group)", async () => {
    // containerd's own runc shim, for the reference: unix:///run/containerd/s/<hash>.
    const r = await ctr(["run", "-d", "--fifo-dir", fifoDir, BUSYBOX_REF, "ref1", "sleep", "1000"]);
    expect(r.code).toBe(0);
    const theirs = readFileSync(join(bundleOf("ref1"), "address"), "utf8");
    const hash = createHash("sha256").update(`${d.address}/${NS}/ref1`).digest("hex");
    expect(theirs).toBe(`unix:///run/containerd/s/${hash}`);
    await ctr(["tasks", "kill", "-s", "KILL", "ref1"]);
    await waitFor(async () => (await ctr(["tasks", "ls"])).stdout.includes("STOPPED"), "ref1 stopped");
    await ctr(["tasks", "rm", "ref1"]);
    await ctr(["containers", "rm", "ref1"]);
    // Ours: the same hash of the same key, in our socket directory.
    const ours = await ctr([...runArgs("-d", BUSYBOX_REF, "ref2", "sleep", "1000")]);
    expect(ours.code).toBe(0);
    const addr = readFileSync(join(bundleOf("ref2"), "address"), "utf8");
    const hash2 = createHash("sha256").update(`${d.address}/${NS}/ref2`).digest("hex");
    expect(addr).toBe(`unix:///run/bunkerd/s/${hash2}`);
    const pid = shimPidFor("ref2")!;
    const pss = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))![1]);
    console.log(
      `shim PSS, idle with one container: ${pss} kB (${process.env.SHIM_DIR ? "compiled" : "from source"})`,
    );
    expect(pss).toBeGreaterThan(0);
    await ctr(["tasks", "kill", "-s", "KILL", "ref2"]);
    await waitFor(async () => (await ctr(["tasks", "ls"])).stdout.includes("STOPPED"), "ref2 stopped");
    expect((await ctr(["tasks", "rm", "ref2"])).stderr).toContain("exit code 137");
    await ctr(["containers", "rm", "ref2"]);
  });

  test("containerd killed and restarted: the shim keeps the task, queues its exit, and is found again", async () => {
    const id = "rs1";
    expect((await ctr([...runArgs("-d", BUSYBOX_REF, id, "sleep", "1000")])).code).toBe(0);
    const shim = shimPidFor(id)!;
    const init = Number(readFileSync(join(bundleOf(id), "init.pid"), "utf8"));
    await d.restart("SIGKILL");
    expect(/rs1\s+\d+\s+RUNNING/.test((await ctr(["tasks", "ls"])).stdout)).toBe(true);
    // The exit happens while containerd is down: the shim retries the event until it is back.
    d.proc.kill("SIGKILL");
    await d.proc.exited;
    process.kill(init, "SIGKILL");
    // The first sends fail (at once, then 1 s later); subscribe as soon as containerd is back,
    // well before the next retry (3 s after the exit).
    const subscribe = `until ctr --address ${d.address} events; do sleep 0.05; done`;
    const watch = Bun.spawn(["sh", "-c", subscribe], { stdout: "pipe", stderr: "ignore", detached: true });
    await Bun.sleep(1300);
    await d.restart();
    try {
      const text = await readUntil(watch.stdout, (t) => /\/tasks\/exit.*rs1/.test(t), 20_000);
      expect(text).toMatch(/\/tasks\/exit.*rs1/);
    } finally {
      process.kill(-watch.pid, "SIGKILL"); // the loop and its ctr: their own process group
      await watch.exited;
    }
    process.kill(shim, 0); // still the same shim
    expect((await ctr(["tasks", "rm", id])).stderr).toContain("exit code 137");
    expect((await ctr(["containers", "rm", id])).code).toBe(0);
  });

  test("nothing is left behind: no shims, no rootfs mounts, no FIFOs, no sockets", async () => {
    await waitFor(() => shimPids(d.dir).length === 0, "every shim to exit");
    expect(mountPointsUnder(join(d.state, "io.containerd.runtime.v2.task"))).toEqual([]);
    expect(readdirSync(fifoDir)).toEqual([]);
    expect(sockets.size).toBeGreaterThan(0);
    expect([...sockets].filter((s) => existsSync(s))).toEqual([]);
    const tasks = join(d.state, "io.containerd.runtime.v2.task", NS);
    expect(existsSync(tasks) ? readdirSync(tasks) : []).toEqual([]);
  });
});

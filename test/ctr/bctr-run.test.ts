/** `bctr run` end to end, against a real containerd 1.6 and against bunkerd (each suite says
 *  which): output and exit codes pass through, env/cwd/user apply, stdin reaches the task, bind
 *  mounts and host networking work, --null-io and --log-uri, a TTY under `script` gets the
 *  terminal's size and follows a resize, signals are forwarded and a killed task gives 137;
 *  nothing is left behind (containers, snapshots, FIFOs, temp mounts). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX_REF as IMG, importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, REPO, run, startDaemon } from "../harness/daemon.ts";
import { makeRootfs } from "./bctr-run-helpers.ts";
import { BCTR, bctrAt, KINDS, ok } from "./harness.ts";

const ready =
  isRoot && hasBinary("ctr") && hasBinary("containerd") && hasBinary("runc") && hasBinary("script");
const FIFO_ROOT = "/run/containerd/fifo";
const uid = Math.random().toString(36).slice(2, 8);
let n = 0;
/** Unique ids: runc's state dir is shared by every daemon on the machine. */
const newId = (p: string) => `${p}-${uid}-${n++}`;

/** Our FIFOs for `id` anywhere under the FIFO root. */
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
/** Processes whose command line names `id` (a shim is started with `-id <id>`). */
function processesOf(id: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (args.includes(id) && !args.some((a) => a.endsWith("bctr"))) out.push(`${pid}: ${args.join(" ")}`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
const tempMounts = () =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes("/bctr-mount-"));

async function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr run against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      // bin/ on PATH: the daemon finds containerd-shim-bunker-v2 for --runtime io.containerd.bunker.v2.
      d = await startDaemon(kind, { env: { PATH: `${join(REPO, "bin")}:${process.env.PATH}` } });
      bctr = bctrAt(d);
      await importBusybox(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    /** Checks that nothing of `id` is left: record, snapshot, task, FIFOs, temp mounts. */
    async function leftNothing(id: string) {
      expect(ok(await d.ctr(["containers", "ls", "-q"])).split("\n")).not.toContain(id);
      expect(ok(await d.ctr(["snapshots", "ls"]))).not.toContain(`${id} `);
      expect(ok(await d.ctr(["tasks", "ls", "-q"])).split("\n")).not.toContain(id);
      expect(fifosOf(id)).toEqual([]);
      // (Only this daemon's snapshots: other suites may run bctr at the same time.)
      expect(tempMounts().filter((l) => l.includes(d.dir))).toEqual([]);
      // The shim goes once its task is deleted.
      await waitFor(`no process for ${id}`, async () => processesOf(id).length === 0).catch(() => {
        expect(processesOf(id)).toEqual([]);
      });
    }

    test("run --rm prints the task's output and exits 0, leaving nothing", async () => {
      const id = newId("hi");
      const r = await bctr(["run", "--rm", IMG, id, "echo", "hi"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "hi\n", ""]);
      await leftNothing(id);
    }, 60_000);

    test("the exit code and stderr pass through (sh -c 'exit 3' → 3), flags after the id are the task's", async () => {
      const id = newId("exit");
      const r = await bctr(["run", "--rm", IMG, id, "sh", "-c", "echo out; echo err >&2; exit 3"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([3, "out\n", "err\n"]);
      await leftNothing(id);
    }, 60_000);

    test("--env, --cwd and --user by name apply (id, pwd, env)", async () => {
      const id = newId("env");
      const r = await bctr([
        "run",
        "--rm",
        "--env",
        "GREETING=hello",
        "--cwd",
        "/tmp",
        "--user",
        "app",
        IMG,
        id,
        "sh",
        "-c",
        "id; pwd; echo $GREETING; echo $PATH",
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout.split("\n")).toEqual([
        "uid=1000(app) gid=1000(app) groups=1000(app),1500(extra)",
        "/tmp",
        "hello",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "",
      ]);
      const r2 = await bctr(["run", "--rm", "--user", "1000:1500", IMG, newId("uidgid"), "id"]);
      expect(r2.stdout).toBe("uid=1000(app) gid=1500(extra) groups=1500(extra)\n");
    }, 60_000);

    test("stdin reaches the task and its end closes the task's stdin", async () => {
      const id = newId("stdin");
      const data = "line one\nline two\n".repeat(2000);
      const r = await bctr(["run", "--rm", IMG, id, "sh", "-c", "cat; echo done"], {
        stdin: new TextEncoder().encode(data),
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${data}done\n`);
      await leftNothing(id);
    }, 60_000);

    test("--mount binds a host directory; --read-only refuses writes to the rootfs", async () => {
      const dir = mkdtempSync(join(d.dir, "bind-"));
      writeFileSync(join(dir, "file"), "from the host\n");
      const r = await bctr([
        "run",
        "--rm",
        "--mount",
        `type=bind,src=${dir},dst=/host,options=rbind:ro`,
        IMG,
        newId("mount"),
        "cat",
        "/host/file",
      ]);
      expect([r.code, r.stdout]).toEqual([0, "from the host\n"]);
      const ro = await bctr(["run", "--rm", "--read-only", IMG, newId("ro"), "touch", "/x"]);
      expect(ro.code).not.toBe(0);
      expect(ro.stderr).toContain("Read-only file system");
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    test("--net-host sees the host's interfaces, without it only loopback", async () => {
      // Other suites may add or remove interfaces meanwhile: compare with the host before and after.
      const before = readdirSync("/sys/class/net");
      const r = await bctr(["run", "--rm", "--net-host", IMG, newId("net"), "ls", "/sys/class/net"]);
      const after = readdirSync("/sys/class/net");
      expect(r.code).toBe(0);
      const seen = r.stdout.trim().split(/\s+/);
      for (const name of before.filter((n) => after.includes(n))) expect(seen).toContain(name);
      for (const name of seen) expect([...before, ...after]).toContain(name);
      expect(seen.length).toBeGreaterThan(1);
      const own = await bctr(["run", "--rm", IMG, newId("nonet"), "ls", "/sys/class/net"]);
      expect(own.stdout.trim().split(/\s+/)).toEqual(["lo"]);
    }, 60_000);

    test("--null-io drops output; --log-uri file:// sends it to the file", async () => {
      const r = await bctr(["run", "--rm", "--null-io", IMG, newId("null"), "echo", "lost"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "", ""]);
      const log = join(d.dir, "task.log");
      const id = newId("log");
      const l = await bctr([
        "run",
        "--rm",
        "--log-uri",
        `file://${log}`,
        IMG,
        id,
        "sh",
        "-c",
        "echo logged; echo e >&2",
      ]);
      expect([l.code, l.stdout]).toEqual([0, ""]);
      await waitFor("the log file", async () => existsSync(log) && readFileSync(log, "utf8").includes("e\n"));
      expect(readFileSync(log, "utf8").split("\n").sort()).toEqual(["", "e", "logged"]);
      await leftNothing(id);
    }, 60_000);

    test("--log-uri binary:// runs the logging binary with the task's output", async () => {
      const logger = join(d.dir, "logger.sh");
      const log = join(d.dir, "binary.log");
      // The shim hands the binary the task's stdout as fd 3, stderr as fd 4, and fd 5 to close
      // once it is ready; `?log=<path>` arrives as the arguments "log" "<path>".
      writeFileSync(logger, '#!/bin/sh\nexec 5>&-\ncat <&3 >> "$2" &\ncat <&4 >> "$2" &\nwait\n', {
        mode: 0o755,
      });
      const id = newId("binlog");
      const r = await bctr([
        "run",
        "--rm",
        "--log-uri",
        `binary://${logger}?log=${log}`,
        IMG,
        id,
        "echo",
        "via binary",
      ]);
      expect([r.code, r.stdout]).toEqual([0, ""]);
      await waitFor(
        "the binary's log",
        async () => existsSync(log) && readFileSync(log, "utf8") === "via binary\n",
      );
      await leftNothing(id);
    }, 60_000);

    test("run -t under a pty: the task has a terminal of our size, and follows a resize", async () => {
      const id = newId("tty");
      // The outer shell sets the pty's size and starts bctr; once the task runs, it resizes the
      // pty (the kernel sends bctr SIGWINCH, and bctr calls Tasks.ResizePty). The task prints
      // its size, then waits for it to change and prints it again a moment later: `stty rows R
      // cols C` may set rows and columns in two steps, and each step is a SIGWINCH of its own.
      const task =
        "tty; sleep 0.5; a=$(stty size); echo $a; i=0; while [ $i -lt 100 ]; do b=$(stty size); " +
        'if [ "$b" != "$a" ]; then sleep 0.5; stty size; exit 0; fi; sleep 0.1; i=$((i+1)); done; exit 1';
      const inner = `${BCTR} --address ${d.address} run --rm -t ${IMG} ${id} sh -c '${task}'`;
      const running = `ctr --address ${d.address} tasks ls | grep -q '^${id} .*RUNNING'`;
      const resize = `(until ${running}; do sleep 0.1; done; sleep 1.2; stty rows 40 cols 120 </dev/tty) &`;
      const outer = `stty rows 30 cols 100; ${resize} ${inner}`;
      const r = await run(["script", "-qec", outer, "/dev/null"], { timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      const out = r.stdout.replaceAll("\r", "");
      expect(out).toMatch(/\/dev\/pts\/\d+\n/);
      expect([...out.matchAll(/(\d+) (\d+)$/gm)].map((m) => `${m[1]}x${m[2]}`)).toEqual(["30x100", "40x120"]);
      await leftNothing(id);
    }, 60_000);

    test("--no-pivot runs the task all the same (runc options on the create request)", async () => {
      const r = await bctr(["run", "--rm", "--no-pivot", IMG, newId("nopivot"), "echo", "ok"]);
      expect([r.code, r.stdout]).toEqual([0, "ok\n"]);
    }, 60_000);

    test("an image not unpacked in the snapshotter is unpacked first (another namespace, native → overlayfs)", async () => {
      await importBusybox(d, IMG, { namespace: "other", snapshotter: "native" });
      const id = newId("unpack");
      const r = await bctr([
        "-n",
        "other",
        "run",
        "--rm",
        "--snapshotter",
        "overlayfs",
        IMG,
        id,
        "echo",
        "unpacked",
      ]);
      expect([r.code, r.stdout]).toEqual([0, "unpacked\n"]);
      const snaps = ok(await d.ctr(["-n", "other", "snapshots", "--snapshotter", "overlayfs", "ls"]));
      expect(snaps).toContain("Committed");
      expect(ok(await d.ctr(["-n", "other", "containers", "ls", "-q"]))).toBe("");
    }, 60_000);

    test("--runtime io.containerd.bunker.v2 runs the task through bunkerd's own shim", async () => {
      const id = newId("bkshim");
      const r = await bctr([
        "run",
        "--rm",
        "--runtime",
        "io.containerd.bunker.v2",
        IMG,
        id,
        "sh",
        "-c",
        "echo via bunker shim; exit 5",
      ]);
      expect([r.code, r.stdout, r.stderr]).toEqual([5, "via bunker shim\n", ""]);
      await leftNothing(id);
    }, 60_000);

    test("--rootfs runs a plain directory; --platform picks the image's manifest or refuses", async () => {
      const dir = join(d.dir, "rootfs");
      makeRootfs(dir);
      const id = newId("rootfs");
      // No image config, so no PATH either (as with Go ctr): absolute paths.
      const r = await bctr([
        "run",
        "--rm",
        "--rootfs",
        dir,
        id,
        "/bin/sh",
        "-c",
        "echo from a directory; /bin/id -u",
      ]);
      expect([r.code, r.stdout]).toEqual([0, "from a directory\n0\n"]);
      await leftNothing(id);
      const amd = await bctr([
        "run",
        "--rm",
        "--platform",
        "linux/amd64",
        IMG,
        newId("amd64"),
        "echo",
        "amd64",
      ]);
      expect([amd.code, amd.stdout]).toEqual([0, "amd64\n"]);
      const arm = newId("arm64");
      const r2 = await bctr(["run", "--rm", "--platform", "linux/arm64", IMG, arm, "true"]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toContain("no match for platform");
      await leftNothing(arm);
    }, 60_000);

    test("run -t without a terminal fails clearly and leaves nothing", async () => {
      const id = newId("notty");
      const r = await bctr(["run", "--rm", "-t", IMG, id, "true"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("not a console");
      await leftNothing(id);
    }, 60_000);

    test("tasks kill -s KILL makes run exit 137; SIGTERM to bctr is forwarded to the task (143)", async () => {
      for (const [how, code] of [
        ["kill", 137],
        ["signal", 143],
      ] as const) {
        const id = newId(how);
        // The task is its namespace's init: only a signal it handles reaches it (SIGKILL aside).
        const script = "trap 'exit 143' TERM; sleep 60 & wait";
        const p = Bun.spawn([BCTR, "--address", d.address, "run", "--rm", IMG, id, "sh", "-c", script], {
          stdout: "pipe",
          stderr: "pipe",
        });
        await waitFor("the task to run", async () => ok(await d.ctr(["tasks", "ls"])).includes(`${id} `));
        await Bun.sleep(500); // bctr starts forwarding signals once Start has returned
        if (how === "kill") ok(await bctr(["tasks", "kill", "-s", "KILL", id]));
        else p.kill("SIGTERM");
        expect(await p.exited).toBe(code);
        await leftNothing(id);
      }
    }, 60_000);

    test("bad input is refused with a clear message and nothing half-made", async () => {
      const r1 = await bctr(["run", IMG]);
      expect([r1.code, r1.stderr]).toEqual([1, "bctr: container id must be provided\n"]);
      const r2 = await bctr(["run", "--rm", "-d", IMG, newId("x"), "true"]);
      expect(r2.stderr).toContain("--detach and --rm cannot be specified together");
      const id = newId("badmount");
      const r3 = await bctr(["run", "--rm", "--mount", "type=bind,bogus=1", IMG, id, "true"]);
      expect([r3.code, r3.stderr]).toEqual([1, 'bctr: mount option "bogus" not supported\n']);
      await leftNothing(id);
      const r4 = await bctr(["run", "--rm", "docker.io/library/nope:latest", newId("noimg"), "true"]);
      expect(r4.code).toBe(1);
      expect(r4.stderr).toContain("not found");
    }, 60_000);
  });
}

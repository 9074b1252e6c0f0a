/** `ctr run` against bunkerd with containerd's own shim (containerd-shim-runc-v2) and runc: output,
 *  exit codes, the image config and ctr's flags reach the container, a pty works, and each run
 *  leaves no shim, mount or bundle behind. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX_REF, importBusybox, startWithBusybox } from "../harness/busybox.ts";
import { canRunTasks, type DaemonHandle, hasBinary, REPO, run } from "../harness/daemon.ts";
import { expectClean, uniqueId, waitFor } from "./helpers.ts";

const CFG_REF = "docker.io/library/busybox:cfg";

describe.skipIf(!canRunTasks)("ctr run on bunkerd", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startWithBusybox("bunkerd");
    await importBusybox(d, CFG_REF, {
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the image"],
      workingDir: "/work",
      user: "app",
    });
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
  });

  const runRm = (args: string[], opts: { timeoutMs?: number } = {}) => d.ctr(["run", "--rm", ...args], opts);

  test("run --rm prints the command's output and exits 0, leaving nothing behind", async () => {
    const r = await runRm([BUSYBOX_REF, uniqueId("echo"), "echo", "hi"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "hi\n", ""]);
    await expectClean(d);
  });

  test("the command runs as root in / with the image's PATH", async () => {
    const r = await runRm([BUSYBOX_REF, uniqueId("sh"), "sh", "-c", "echo hi; id; pwd; echo $PATH"]);
    expect(r.stdout).toBe(
      "hi\nuid=0(root) gid=0(root) groups=0(root)\n/\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
  });

  test.each([3, 0, 42, 255])("exit code %d is ctr's exit code", async (code) => {
    const r = await runRm([BUSYBOX_REF, uniqueId("exit"), "sh", "-c", `exit ${code}`]);
    expect(r.code).toBe(code);
  });

  test("the image config applies: env, working dir, user by name", async () => {
    const r = await runRm([CFG_REF, uniqueId("cfg"), "sh", "-c", 'echo "$GREETING"; pwd; id']);
    expect(r.stdout).toBe(
      "hello from the image\n/work\nuid=1000(app) gid=1000(app) groups=1000(app),1500(extra)\n",
    );
  });

  test("--env adds to the environment", async () => {
    const r = await runRm(["--env", "FOO=bar baz", BUSYBOX_REF, uniqueId("env"), "sh", "-c", 'echo "$FOO"']);
    expect(r.stdout).toBe("bar baz\n");
  });

  test("--net-host shares the host's network namespace; without it the container has its own", async () => {
    const host = readlinkSync("/proc/self/ns/net");
    const shared = await runRm(["--net-host", BUSYBOX_REF, uniqueId("net"), "readlink", "/proc/self/ns/net"]);
    const own = await runRm([BUSYBOX_REF, uniqueId("net"), "readlink", "/proc/self/ns/net"]);
    expect(shared.stdout.trim()).toBe(host);
    expect(own.stdout.trim()).toMatch(/^net:\[\d+\]$/);
    expect(own.stdout.trim()).not.toBe(host);
  });

  test("--mount type=bind,…,options=rbind:ro shows the host dir read-only", async () => {
    const dir = mkdtempSync("/tmp/bk-bind-");
    try {
      writeFileSync(join(dir, "f"), "from the host\n");
      const r = await runRm([
        "--mount",
        `type=bind,src=${dir},dst=/data,options=rbind:ro`,
        BUSYBOX_REF,
        uniqueId("bind"),
        "sh",
        "-c",
        "cat /data/f; touch /data/x 2>/dev/null && echo writable || echo read-only",
      ]);
      expect(r.stdout).toBe("from the host\nread-only\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--memory-limit sets the container's memory cgroup limit", async () => {
    const id = uniqueId("mem");
    const limit = String(64 * 1024 * 1024);
    const started = await d.ctr(["run", "-d", "--memory-limit", limit, BUSYBOX_REF, id, "sleep", "60"]);
    expect(started.code).toBe(0);
    try {
      // ctr's default spec puts the container in <controller>/<namespace>/<id>.
      const v1 = `/sys/fs/cgroup/memory/default/${id}/memory.limit_in_bytes`;
      const v2 = `/sys/fs/cgroup/default/${id}/memory.max`;
      const file = existsSync(v1) ? v1 : v2;
      expect(readFileSync(file, "utf8").trim()).toBe(limit);
    } finally {
      await d.ctr(["tasks", "kill", "-s", "KILL", id]);
      await waitFor(
        "the task to stop",
        async () => (await d.ctr(["tasks", "rm", id])).code === 0 || undefined,
      );
      await d.ctr(["containers", "rm", id]);
    }
  });

  test.skipIf(!hasBinary("script"))("run -t gives the process a terminal", async () => {
    const cmd = `ctr --address ${d.address} run -t --rm ${BUSYBOX_REF} ${uniqueId("tty")} sh -c 'tty; echo tty-ok; exit 5'`;
    const r = await run(["script", "-qec", cmd, "/dev/null"], { timeoutMs: 30_000 });
    expect({
      code: r.code,
      tty: /\/dev\/pts\/\d+\r*\ntty-ok\r*\n/.test(r.stdout),
      out: r.stdout,
      err: r.stderr,
    }).toMatchObject({
      code: 5,
      tty: true,
    });
  });

  test("a command that does not exist fails the run with runc's reason, and nothing is left", async () => {
    const r = await runRm([BUSYBOX_REF, uniqueId("nope"), "/no/such/binary"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no such file or directory");
    await expectClean(d);
  });

  // Our own shim, found beside bunkerd (bin/) when it is not on PATH, through the same runtime code.
  test.skipIf(!existsSync(join(REPO, "bin/containerd-shim-bunker-v2")))(
    "--runtime io.containerd.bunker.v2 runs the task under containerd-shim-bunker-v2",
    async () => {
      const id = uniqueId("bunker");
      const r = await runRm([
        "--runtime",
        "io.containerd.bunker.v2",
        BUSYBOX_REF,
        id,
        "sh",
        "-c",
        "echo via bunker; exit 6",
      ]);
      expect([r.code, r.stdout, r.stderr]).toEqual([6, "via bunker\n", ""]);
      await expectClean(d);
    },
  );

  test("after all runs: no shim, mount or bundle remains", async () => {
    await expectClean(d);
  });
});

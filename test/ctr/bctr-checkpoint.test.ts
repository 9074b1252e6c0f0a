/** `bctr tasks checkpoint` and the Go ctr 1.6 commands bctr does not implement, against bunkerd
 *  and containerd 1.6. A checkpoint fails in the runtime on this machine (criu 3.17 cannot dump
 *  here, for Go ctr too): bctr reports the daemon's error as Go ctr does (same text after the program name), and the task
 *  is left running, not paused (both clients pause around the call and resume). The commands
 *  bctr lacks (`pprof`, `install`, `oci`, `shim`, `containers checkpoint/restore`) fail with a
 *  message saying so instead of doing nothing. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUSYBOX_REF as IMG, importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd") && hasBinary("runc");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr tasks checkpoint against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    const id = `ckpt-${Math.random().toString(36).slice(2, 8)}`;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      await importBusybox(d);
      ok(await bctr(["run", "-d", IMG, id, "sleep", "600"]));
    }, 60_000);
    afterAll(async () => {
      await d?.ctr(["tasks", "kill", "-s", "KILL", id]);
      await d?.ctr(["tasks", "rm", "-f", id]);
      await d?.ctr(["containers", "rm", id]);
      await d?.stop();
    }, 60_000);

    const status = async () =>
      ok(await d.ctr(["tasks", "ls"]))
        .split("\n")
        .find((l) => l.startsWith(`${id} `))
        ?.trim()
        .split(/\s+/)[2];

    test("the checkpoint fails in the runtime: the daemon's error as Go ctr prints it; the task runs on", async () => {
      const mine = await bctr(["tasks", "checkpoint", id]);
      const theirs = await d.ctr(["tasks", "checkpoint", id]);
      expect(mine.code).toBe(1);
      expect(theirs.code).toBe(1);
      expect(mine.stdout).toBe("");
      const text = (s: string, prog: string) => s.trim().replace(new RegExp(`^${prog}: `), "");
      expect(text(mine.stderr, "bctr")).toBe(text(theirs.stderr, "ctr"));
      expect(mine.stderr.trim().split("\n")).toHaveLength(1);
      expect(await status()).toBe("RUNNING");
      // With flags, through the same path.
      const flags = await bctr(["tasks", "checkpoint", "--exit", "--work-path", "/tmp", id]);
      expect(flags.code).toBe(1);
      expect(await status()).toBe("RUNNING");
    });

    test("checkpoint of a missing container: not found, one line", async () => {
      const r = await bctr(["tasks", "checkpoint", "nope"]);
      const g = await d.ctr(["tasks", "checkpoint", "nope"]);
      expect([r.code, r.stderr]).toEqual([1, 'bctr: container "nope" in namespace "default": not found\n']);
      expect(g.stderr).toBe('ctr: container "nope" in namespace "default": not found\n');
    });

    test("Go ctr commands bctr lacks fail saying so", async () => {
      for (const args of [
        ["pprof", "heap"],
        ["install", IMG],
        ["oci", "spec"],
        ["shim", "state"],
        ["containers", "checkpoint", id, "ref"],
        ["containers", "restore", id, "ref"],
      ]) {
        const r = await bctr(args);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^bctr: .*not implemented in bctr: .+\n$/);
      }
      expect(await status()).toBe("RUNNING");
    });
  });
}

/** The harness's stop() must not leave a test's containers behind: shims and the containers'
 *  processes are killed by pid, runc's state and the rootfs mounts removed — for bunkerd and for
 *  containerd alike. */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { BUSYBOX_REF, importBusybox } from "../harness/busybox.ts";
import { hasBinary, isRoot, shimPids, startDaemon } from "../harness/daemon.ts";
import { isAlive, mountsUnder, tasksLs, uniqueId } from "./helpers.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("runc") && hasBinary("containerd-shim-runc-v2");

describe.skipIf(!ready)("harness stop() with a task still running", () => {
  for (const kind of ["bunkerd", "containerd"] as const) {
    test.skipIf(!hasBinary(kind === "containerd" ? "containerd" : "ctr"))(kind, async () => {
      const d = await startDaemon(kind);
      const id = uniqueId("left");
      try {
        await importBusybox(d);
        expect((await d.ctr(["run", "-d", BUSYBOX_REF, id, "sleep", "600"])).code).toBe(0);
      } catch (e) {
        await d.stop();
        throw e;
      }
      const pid = (await tasksLs(d)).find((t) => t.task === id)!.pid;
      const shims = shimPids(d.dir);
      expect(shims.length).toBe(1);
      expect(mountsUnder(d.dir).length).toBe(1);
      await d.stop();
      expect(isAlive(pid)).toBe(false);
      expect(shims.filter(isAlive)).toEqual([]);
      expect(mountsUnder(d.dir)).toEqual([]);
      expect(existsSync(d.dir)).toBe(false);
      expect(existsSync(`/run/containerd/runc/default/${id}`)).toBe(false);
    });
  }
});

/** `bctr containers …` end to end against a real containerd 1.6 and against bunkerd (each suite
 *  says which): create, ls as Go ctr prints it (plus -q, filters, --format json), label set and
 *  clear, info, rm refusing a running task and deleting a stopped one with its snapshot (or
 *  keeping it), and per-container errors that do not stop the rest. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUSYBOX_REF as IMG, importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd") && hasBinary("runc");
const uid = Math.random().toString(36).slice(2, 8);
let n = 0;
const newId = (p: string) => `${p}-${uid}-${n++}`;

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr containers against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      await importBusybox(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });
    const snapshots = async () => ok(await d.ctr(["snapshots", "ls"]));

    test("create, then ls/-q/filters/json as Go ctr shows them", async () => {
      const a = newId("a");
      const b = newId("b");
      ok(await bctr(["containers", "create", "--label", "team=x", IMG, a]));
      ok(await bctr(["c", "create", IMG, b, "true"]));
      expect(ok(await bctr(["containers", "ls"]))).toBe(ok(await d.ctr(["containers", "ls"])));
      expect(ok(await bctr(["container", "list", "-q"]))).toBe(ok(await d.ctr(["containers", "ls", "-q"])));
      expect(ok(await bctr(["containers", "ls", "-q", "labels.team==x"]))).toBe(`${a}\n`);
      const json = JSON.parse(ok(await bctr(["containers", "ls", "--format", "json"])));
      expect(json).toContainEqual({ id: a, image: IMG, runtime: "io.containerd.runc.v2" });
      const again = await bctr(["containers", "create", IMG, a]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("already exists");
      ok(await bctr(["containers", "rm", a, b]));
      expect(ok(await bctr(["containers", "ls", "-q"]))).not.toContain(a);
    }, 60_000);

    test("label sets and clears labels and prints the result", async () => {
      const id = newId("label");
      ok(await bctr(["containers", "create", IMG, id]));
      expect(ok(await bctr(["containers", "label", id, "a=b", "flag"]))).toBe(
        "a=b,flag=true,io.containerd.image.config.stop-signal=SIGTERM\n",
      );
      expect(ok(await bctr(["containers", "label", id, "a="]))).toBe(
        "flag=true,io.containerd.image.config.stop-signal=SIGTERM\n",
      );
      const info = JSON.parse(ok(await d.ctr(["containers", "info", id])));
      expect(info.Labels).toEqual({ flag: "true", "io.containerd.image.config.stop-signal": "SIGTERM" });
      ok(await bctr(["containers", "rm", id]));
    }, 60_000);

    test("rm refuses a running task, deletes a stopped one, and removes the snapshot unless kept", async () => {
      const id = newId("rm");
      ok(await bctr(["run", "-d", IMG, id, "sleep", "600"]));
      const busy = await bctr(["containers", "rm", id]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(
        "cannot delete a non stopped container: {running 0 0001-01-01 00:00:00 +0000 UTC}",
      );
      ok(await bctr(["tasks", "kill", "-s", "KILL", id]));
      for (let i = 0; i < 100 && !ok(await d.ctr(["tasks", "ls"])).includes("STOPPED"); i++)
        await Bun.sleep(50);
      ok(await bctr(["containers", "delete", id]));
      expect(ok(await d.ctr(["tasks", "ls", "-q"]))).not.toContain(id);
      expect(await snapshots()).not.toContain(`${id} `);

      const kept = newId("keep");
      ok(await bctr(["containers", "create", IMG, kept]));
      // Once the container is gone nothing references the snapshot and the collector may take
      // it: a gc.root label keeps it, so what is checked is that bctr did not remove it.
      ok(await d.ctr(["snapshots", "label", kept, "containerd.io/gc.root=test"]));
      ok(await bctr(["containers", "rm", "--keep-snapshot", kept]));
      expect(ok(await d.ctr(["containers", "ls", "-q"]))).not.toContain(kept);
      expect(await snapshots()).toContain(`${kept} `);
      ok(await d.ctr(["snapshots", "rm", kept]));
    }, 60_000);

    test("rm of several: a missing one is reported, the others are still deleted", async () => {
      const id = newId("some");
      ok(await bctr(["containers", "create", IMG, id]));
      const r = await bctr(["containers", "rm", "missing-one", id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('failed to delete container "missing-one"');
      expect(ok(await d.ctr(["containers", "ls", "-q"]))).not.toContain(id);
      const none = await bctr(["containers", "rm"]);
      expect([none.code, none.stderr]).toEqual([1, "bctr: must specify at least one container to delete\n"]);
    }, 60_000);
  });
}

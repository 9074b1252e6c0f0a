/** bctr namespaces against bunkerd and containerd 1.6: create with labels, label/clear, ls
 *  (Go ctr's table, -q, JSON), rm (printed; a missing one is fine; a non-empty one fails). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr namespaces against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("create, label, ls: the same table as Go ctr; -q; --format json", async () => {
      ok(await bctr(["namespaces", "create", "team-a", "owner=ann", "tier=gold"]));
      ok(await bctr(["ns", "c", "team-b"]));
      ok(await bctr(["namespace", "label", "team-b", "x=1"]));
      ok(await bctr(["ns", "label", "team-a", "tier="]));
      const table = ok(await bctr(["namespaces", "ls"]));
      expect(table).toBe(ok(await d.ctr(["namespaces", "ls"])));
      expect(table).toContain("team-a owner=ann \n");
      expect(ok(await bctr(["ns", "list", "-q"]))).toBe(ok(await d.ctr(["ns", "ls", "-q"])));
      const json = JSON.parse(ok(await bctr(["ns", "ls", "--format", "json"])));
      expect(json).toEqual(
        expect.arrayContaining([
          { name: "team-a", labels: { owner: "ann" } },
          { name: "team-b", labels: { x: "1" } },
        ]),
      );
    });

    test("rm prints what it removed, skips a missing one, and fails on a namespace in use", async () => {
      ok(await bctr(["ns", "create", "gone"]));
      const r = await bctr(["namespaces", "rm", "gone", "never-was"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("gone\nnever-was\n");
      ok(
        await bctr(["-n", "busy", "content", "ingest", "blob"], {
          stdin: new TextEncoder().encode("hello\n"),
        }),
      );
      const busy = await bctr(["namespaces", "remove", "busy"]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/^bctr: unable to delete busy: .*namespace "?busy"? must be empty.*\n/m);
      expect(ok(await bctr(["ns", "ls", "-q"]))).toContain("busy");
    });
  });
}

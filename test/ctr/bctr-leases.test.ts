/** bctr leases against bunkerd and containerd 1.6: create (id, labels, expiry), ls (Go ctr's
 *  table, -q, JSON, filters), rm (--sync), and a missing lease named in the error. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr leases against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("create prints the id; ls is Go ctr's table; expiry label; -q; json; filters", async () => {
      expect(ok(await bctr(["leases", "create", "--id", "l1", "app=web"]))).toBe("l1\n");
      expect(ok(await bctr(["leases", "create", "--id", "l2", "-x", "0"]))).toBe("l2\n");
      const generated = ok(await bctr(["leases", "create"])).trim();
      expect(generated).toMatch(/^\d+-[a-z0-9]{4}$/);
      const table = ok(await bctr(["leases", "ls"]));
      expect(table).toBe(ok(await d.ctr(["leases", "ls"])));
      expect(table).toMatch(/^l1 +\S+Z app=web,containerd\.io\/gc\.expire=\S+Z +$/m);
      expect(table).toMatch(/^l2 +\S+Z - +$/m);
      expect(ok(await bctr(["leases", "ls", "-q"]))).toBe(ok(await d.ctr(["leases", "ls", "-q"])));
      const json = JSON.parse(ok(await bctr(["leases", "list", "--format", "json"])));
      expect(json.find((l: { id: string }) => l.id === "l1")).toMatchObject({
        id: "l1",
        labels: { app: "web" },
      });
      expect(Object.keys(json[0])).toEqual(["id", "created_at", "labels"]);
      expect(ok(await bctr(["leases", "ls", "-q", "id==l2"]))).toBe("l2\n");
    });

    test("rm removes each, --sync too; a missing one names the lease", async () => {
      expect(ok(await bctr(["leases", "rm", "l1"]))).toBe("l1\n");
      expect(ok(await bctr(["leases", "delete", "--sync", "l2"]))).toBe("l2\n");
      expect(ok(await bctr(["leases", "ls", "-q"]))).not.toMatch(/^l[12]$/m);
      const r = await bctr(["leases", "rm", "l1"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^bctr: lease "?l1"?.*: not found\n$/);
    });
  });
}

/** bctr events against bunkerd and containerd 1.6: the same lines as Go ctr's `ctr events`
 *  (time, namespace, topic, the event as JSON) for namespace and image events, and one JSON
 *  object per line with --format json; Ctrl-C ends it with exit 0. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

async function until(p: () => boolean, ms = 10_000) {
  for (const end = Date.now() + ms; !p() && Date.now() < end; ) await Bun.sleep(50);
}

function collect(cmd: string[]) {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  let text = "";
  const done = (async () => {
    const dec = new TextDecoder();
    const reader = proc.stdout.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value);
  })();
  return { proc, done, text: () => text };
}

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr events against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("prints what Go ctr prints for the same events; json lines; SIGINT ends it", async () => {
      const ours = collect([BCTR, "-a", d.address, "events"]);
      const json = collect([BCTR, "-a", d.address, "events", "--format", "json"]);
      const theirs = collect(["ctr", "-a", d.address, "events"]);
      await Bun.sleep(1000);
      ok(await bctr(["namespaces", "create", "ev-ns", "k=v"]));
      ok(await bctr(["-n", "ev-ns", "leases", "create", "--id", "x"]));
      ok(await bctr(["namespaces", "label", "ev-ns", "k=w"]));
      await until(
        () => theirs.text().includes("/namespaces/update") && ours.text().includes("/namespaces/update"),
      );
      await until(() => json.text().includes("/namespaces/update"));
      for (const e of [ours, json, theirs]) e.proc.kill("SIGINT");
      const codes = await Promise.all([ours.proc.exited, json.proc.exited]);
      await Promise.all([ours.done, json.done, theirs.done]);
      expect(codes).toEqual([0, 0]);
      // Timestamps differ in precision between runs; compare what follows them.
      const body = (s: string) =>
        s
          .trim()
          .split("\n")
          .map((l) => l.replace(/^\S+ \S+ \+0000 UTC /, ""));
      expect(body(ours.text())).toEqual(body(theirs.text()));
      expect(body(ours.text())).toContain('default /namespaces/update {"name":"ev-ns","labels":{"k":"w"}}');
      expect(ours.text()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC /);
      const lines = json
        .text()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines.find((l) => l.topic === "/namespaces/create")).toMatchObject({
        topic: "/namespaces/create",
        event: { name: "ev-ns", labels: { k: "v" } },
      });
    }, 30_000);
  });
}

/** Namespaces through the Go ctr, and the events they publish as `ctr events` sees them. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

describe.skipIf(!hasBinary("ctr"))("namespaces and events with the Go ctr", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon("bunkerd");
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("create, label, ls, rm: each publishes its event, seen by ctr events", async () => {
    const events = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "pipe" });
    try {
      await Bun.sleep(300); // let the subscription reach the daemon
      expect((await d.ctr(["namespaces", "create", "team-a", "owner=ops"])).code).toBe(0);
      expect((await d.ctr(["namespaces", "label", "team-a", "tier=gold"])).code).toBe(0);
      const ls = await d.ctr(["namespaces", "ls"]);
      expect(ls.stdout).toMatch(/^NAME\s+LABELS\s*\n/);
      expect(ls.stdout).toMatch(/team-a\s+owner=ops,tier=gold/);
      const q = await d.ctr(["namespaces", "ls", "-q"]);
      expect(q.stdout.split("\n")).toContain("team-a");
      expect((await d.ctr(["namespaces", "rm", "team-a"])).code).toBe(0);
      expect((await d.ctr(["namespaces", "ls", "-q"])).stdout.split("\n")).not.toContain("team-a");
      await Bun.sleep(200);
    } finally {
      events.kill();
    }
    const out = await new Response(events.stdout).text();
    const lines = out.trim().split("\n");
    expect(lines[0]).toMatch(/ default \/namespaces\/create \{"name":"team-a","labels":\{"owner":"ops"\}\}$/);
    expect(lines[1]).toMatch(/ default \/namespaces\/update \{"name":"team-a","labels":\{"tier":"gold"\}\}$/);
    expect(lines[2]).toMatch(/ team-a \/namespaces\/delete \{"name":"team-a"\}$/);
  });

  test("errors read as containerd's", async () => {
    await d.ctr(["namespaces", "create", "dup"]);
    const again = await d.ctr(["namespaces", "create", "dup"]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('namespace "dup": already exists');
    const bad = await d.ctr(["namespaces", "create", "Bad_Name!"]);
    expect(bad.stderr).toContain('identifier "Bad_Name!" must match');
    // The daemon answers NotFound; ctr, as with containerd, treats that as already gone.
    const missing = await d.ctr(["namespaces", "rm", "nope"]);
    expect([missing.code, missing.stdout.trim()]).toEqual([0, "nope"]);
  });

  test("a namespace that still holds something cannot be deleted, and says what it holds", async () => {
    // Only the metadata store knows about content yet (issue 4 fills it); write a row directly.
    await d.ctr(["namespaces", "create", "busy"]);
    const { Database } = await import("bun:sqlite");
    const db = new Database(`${d.root}/io.containerd.metadata.v1.sqlite/meta.db`);
    db.run("PRAGMA busy_timeout=5000");
    const cols = db.query("PRAGMA table_info(images)").all() as { name: string; notnull: number }[];
    const row: Record<string, unknown> = { namespace: "busy", name: "docker.io/library/busybox:latest" };
    for (const c of cols) {
      if (c.name in row || !c.notnull) continue;
      row[c.name] = c.name.includes("labels")
        ? "{}"
        : c.name.includes("size") || c.name.includes("_at")
          ? 0
          : "x";
    }
    db.query(
      `INSERT INTO images (${Object.keys(row).join(",")}) VALUES (${Object.keys(row)
        .map(() => "?")
        .join(",")})`,
    ).run(...(Object.values(row) as never[]));
    db.close();
    const r = await d.ctr(["namespaces", "rm", "busy"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('namespace "busy" must be empty, but it still has images');
    expect(r.stderr).toContain("failed precondition");
  });

  test("events: a publish with a bad topic is refused; a good one reaches subscribers with its namespace", async () => {
    const { create, toBinary } = await import("@bufbuild/protobuf");
    const { AnySchema } = await import("@bufbuild/protobuf/wkt");
    const { NamespaceCreateSchema } = await import("@bunkerd/proto/containerd/events/namespace_pb.ts");
    const payload = toBinary(
      AnySchema,
      create(AnySchema, {
        typeUrl: "containerd.events.NamespaceCreate",
        value: toBinary(NamespaceCreateSchema, create(NamespaceCreateSchema, { name: "pub" })),
      }),
    );
    const events = Bun.spawn(["ctr", "--address", d.address, "events", 'topic=="/test/published"'], {
      stdout: "pipe",
    });
    await Bun.sleep(300);
    const { BUNKERD, run } = await import("../harness/daemon.ts");
    const bad = await run(
      [BUNKERD, "--address", d.address, "publish", "--topic", "no-slash", "--namespace", "n1"],
      { stdin: payload },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("must start with '/'");
    for (const address of [d.address, d.ttrpcAddress]) {
      const ok = await run(
        [BUNKERD, "--address", address, "publish", "--topic", "/test/published", "--namespace", "n1"],
        {
          stdin: payload,
        },
      );
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
    }
    await Bun.sleep(200);
    events.kill();
    const lines = (await new Response(events.stdout).text()).trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/ n1 \/test\/published \{"name":"pub"\}$/);
  });
});

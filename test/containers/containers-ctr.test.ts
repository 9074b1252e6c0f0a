/** Containers through the Go ctr, against bunkerd and, side by side, against containerd 1.6: the
 *  same commands must print the same things (timestamps aside). Covers create (with the snapshot
 *  it prepares), ls and filters, info, label, rm (with and without the snapshot), an ID in use,
 *  namespace isolation and a namespace that still holds containers, the events ctr sees, and the
 *  collector: a container holds its snapshot until it is deleted. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDaemonTransport } from "@bunkerd/client";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { createClient } from "@connectrpc/connect";
import { BUSYBOX_REF, importBusybox, startWithBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, type RunResult } from "../harness/daemon.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

describe.skipIf(!ready)("containers with the Go ctr, bunkerd beside containerd", () => {
  let bk: DaemonHandle;
  let cd: DaemonHandle;
  beforeAll(async () => {
    [bk, cd] = await Promise.all([startWithBusybox("bunkerd"), startWithBusybox("containerd")]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([bk?.stop(), cd?.stop()]);
  });

  /** Runs the same ctr command against both daemons. */
  const both = (args: string[]): Promise<[RunResult, RunResult]> => Promise.all([bk.ctr(args), cd.ctr(args)]);
  /** The same, where both must succeed and print the same. */
  async function same(args: string[]): Promise<string> {
    const [b, c] = await both(args);
    expect([b.code, b.stderr]).toEqual([0, ""]);
    expect([c.code, c.stderr]).toEqual([0, ""]);
    expect(b.stdout).toBe(c.stdout);
    return b.stdout;
  }
  /** `ctr c label` on both: it prints the labels in Go's map order, so they are compared as sets. */
  async function label(args: string[]): Promise<string[]> {
    const [b, c] = await both(["c", "label", ...args]);
    const set = (r: RunResult) => r.stdout.trim().split(",").sort();
    expect([b.code, b.stderr, c.code, c.stderr]).toEqual([0, "", 0, ""]);
    expect(set(b)).toEqual(set(c));
    return set(b);
  }
  // Go prints nanoseconds, we keep milliseconds: compare the rest.
  const info = (r: RunResult) => {
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const v = JSON.parse(r.stdout);
    for (const k of ["CreatedAt", "UpdatedAt"]) {
      expect(Math.abs(Date.parse(v[k]) - Date.now())).toBeLessThan(120_000);
      v[k] = "<time>";
    }
    return v;
  };
  const snapshotKeys = async (d: DaemonHandle, ns = "default") =>
    (await d.ctr(["-n", ns, "snapshots", "ls"])).stdout
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0])
      .filter((k): k is string => !!k);

  test("ctr plugins ls lists the containers service and its API, as containerd does", async () => {
    for (const d of [bk, cd]) {
      const out = (await d.ctr(["plugins", "ls"])).stdout;
      expect(out).toMatch(/^io\.containerd\.service\.v1\s+containers-service\s+-\s+ok\s*$/m);
      expect(out).toMatch(/^io\.containerd\.grpc\.v1\s+containers\s+-\s+ok\s*$/m);
    }
  });

  test("create prepares the snapshot; ls, ls -q and info read as containerd's", async () => {
    await same(["containers", "create", "--label", "foo=bar", BUSYBOX_REF, "c1"]);
    expect(await same(["c", "ls"])).toMatch(
      /^CONTAINER\s+IMAGE\s+RUNTIME\s*\nc1\s+docker\.io\/library\/busybox:test\s+io\.containerd\.runc\.v2\s*\n$/,
    );
    expect(await same(["c", "ls", "-q"])).toBe("c1\n");
    const [b, c] = await both(["c", "info", "c1"]);
    const mine = info(b);
    expect(mine).toEqual(info(c));
    expect(mine).toMatchObject({
      ID: "c1",
      Labels: { foo: "bar", "io.containerd.image.config.stop-signal": "SIGTERM" },
      Image: BUSYBOX_REF,
      Runtime: { Name: "io.containerd.runc.v2", Options: { type_url: "containerd.runc.v1.Options" } },
      Snapshotter: "overlayfs",
      SnapshotKey: "c1",
      Spec: { ociVersion: expect.any(String), process: { args: ["sh"] }, root: { path: "rootfs" } },
    });
    // The active snapshot on the image's top layer, as containerd has it.
    expect(await same(["snapshots", "ls"])).toMatch(/^c1\s+sha256:[0-9a-f]{64}\s+Active\s*$/m);
    expect(await snapshotKeys(bk)).toContain("c1");
  });

  test("an ID in use is refused: by the snapshot ctr prepares first, and by the store itself", async () => {
    const [b, c] = await both(["c", "create", BUSYBOX_REF, "c1"]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toBe(c.stderr);
    expect(b.stderr).toContain('snapshot "c1": already exists');
    // --rootfs takes no snapshot, so the second create reaches the containers store.
    await same(["c", "create", "--rootfs", "/nonexistent-rootfs", "plain"]);
    const [b2, c2] = await both(["c", "create", "--rootfs", "/nonexistent-rootfs", "plain"]);
    expect(b2.code).not.toBe(0);
    expect(b2.stderr).toBe(c2.stderr);
    expect(b2.stderr).toContain('container "plain": already exists');
    const api = createClient(Containers, createDaemonTransport(bk.address, { namespace: "default" }));
    const dup = await api.create({ container: (await api.get({ id: "plain" })).container }).catch((e) => e);
    expect([dup.code, dup.rawMessage]).toEqual([6, 'container "plain": already exists']);
    await same(["c", "rm", "plain"]);
  });

  test("label sets and clears labels; ls filters by label, image, runtime and id", async () => {
    expect(await label(["c1", "a=b", "x=y"])).toEqual([
      "a=b",
      "foo=bar",
      "io.containerd.image.config.stop-signal=SIGTERM",
      "x=y",
    ]);
    expect(await label(["c1", "x="])).not.toContain("x=y");
    const labels = info(await bk.ctr(["c", "info", "c1"])).Labels;
    expect(labels).toEqual({ a: "b", foo: "bar", "io.containerd.image.config.stop-signal": "SIGTERM" });
    await same(["c", "create", "--label", "foo=baz", BUSYBOX_REF, "c2"]);
    for (const [filter, want] of [
      ["labels.foo==bar", "c1\n"],
      ["labels.foo", "c1\nc2\n"],
      ["labels.a==b", "c1\n"],
      ["labels.x", ""],
      [`image==${BUSYBOX_REF}`, "c1\nc2\n"],
      ["runtime.name==io.containerd.runc.v2", "c1\nc2\n"],
      ["id~=2$", "c2\n"],
      ["id==c1,labels.foo==baz", ""],
    ] as const) {
      expect(await same(["c", "ls", "-q", filter])).toBe(want);
    }
    expect(await same(["c", "ls", "-q", "id==c1", "id==c2"])).toBe("c1\nc2\n");
    await same(["c", "rm", "c2"]);
  });

  test("namespaces are isolated; a namespace holding a container cannot be removed", async () => {
    await Promise.all([
      importBusybox(bk, BUSYBOX_REF, { namespace: "team" }),
      importBusybox(cd, BUSYBOX_REF, { namespace: "team" }),
    ]);
    expect(await same(["-n", "team", "c", "ls", "-q"])).toBe("");
    const [b, c] = await both(["-n", "team", "c", "info", "c1"]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toBe(c.stderr);
    expect(b.stderr).toContain('container "c1" in namespace "team": not found');
    // The same ID in another namespace is another container, with its own snapshot.
    await same(["-n", "team", "c", "create", "--label", "team=1", BUSYBOX_REF, "c1"]);
    expect(await same(["-n", "team", "c", "ls", "labels.team==1"])).toContain("c1");
    expect(await same(["c", "ls", "-q", "labels.team==1"])).toBe("");
    const [rmB, rmC] = await both(["namespaces", "rm", "team"]);
    expect(rmB.code).not.toBe(0);
    expect(rmB.stderr).toBe(rmC.stderr);
    expect(rmB.stderr).toContain("containers");
    expect(rmB.stderr).toContain("failed precondition");
    await same(["-n", "team", "c", "rm", "c1"]);
    expect(await snapshotKeys(bk, "team")).not.toContain("c1");
    expect(await same(["c", "ls", "-q"])).toBe("c1\n");
  });

  test("ctr events sees /containers/create, /update and /delete with containerd's payloads", async () => {
    const watch = (d: DaemonHandle) => {
      const p = Bun.spawn(["ctr", "--address", d.address, "events"], { stdout: "pipe", stderr: "ignore" });
      const lines: string[] = [];
      const reading = (async () => {
        const dec = new TextDecoder();
        let buf = "";
        const reader = p.stdout.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          const parts = buf.split("\n");
          buf = parts.pop()!;
          lines.push(...parts);
        }
      })();
      return { p, lines, reading };
    };
    const watchers = [watch(bk), watch(cd)];
    try {
      // Wait until both subscriptions are live: a namespace label change is an event each sees.
      for (let i = 0; watchers.some((w) => !w.lines.some((l) => l.includes("/namespaces/update"))); i++) {
        if (i > 100) throw new Error("ctr events never started");
        await both(["namespaces", "label", "events-probe", `try=${i}`]);
        await Bun.sleep(100);
      }
      await same(["c", "create", "--label", "ev=1", BUSYBOX_REF, "ev1"]);
      await label(["ev1", "more=2"]);
      await same(["c", "rm", "ev1"]);
      // "<Go time, with spaces> <namespace> <topic> <json>": keep what follows the time.
      const topics = (w: (typeof watchers)[number]) =>
        w.lines.map((l) => l.match(/ (\S+ \/containers\/.*)$/)?.[1]).filter((l): l is string => !!l);
      const deadline = Date.now() + 10_000;
      while (watchers.some((w) => topics(w).length < 3) && Date.now() < deadline) await Bun.sleep(50);
      const [mine, theirs] = watchers.map(topics);
      expect(mine).toEqual(theirs!);
      expect(mine![0]).toStartWith("default /containers/create ");
      expect(JSON.parse(mine![0]!.split(" ").slice(2).join(" "))).toEqual({
        id: "ev1",
        image: BUSYBOX_REF,
        runtime: { name: "io.containerd.runc.v2", options: { type_url: "containerd.runc.v1.Options" } },
      });
      expect(JSON.parse(mine![1]!.split(" ").slice(2).join(" "))).toEqual({
        id: "ev1",
        image: BUSYBOX_REF,
        labels: { ev: "1", more: "2", "io.containerd.image.config.stop-signal": "SIGTERM" },
        snapshot_key: "ev1",
      });
      expect(mine![2]).toBe('default /containers/delete {"id":"ev1"}');
    } finally {
      for (const w of watchers) w.p.kill();
      await Promise.all(watchers.map((w) => Promise.all([w.p.exited, w.reading])));
    }
  });

  test("the collector keeps a container's snapshot, and removes it once the container is gone", async () => {
    const collect = async (d: DaemonHandle) => {
      // A lease removed with --sync runs a collection and waits for it.
      expect((await d.ctr(["leases", "create", "--id", "gc-now"])).code).toBe(0);
      expect((await d.ctr(["leases", "rm", "--sync", "gc-now"])).code).toBe(0);
    };
    const overlayDirs = (d: DaemonHandle) =>
      readdirSync(join(d.root, "io.containerd.snapshotter.v1.overlayfs/snapshots"));
    const before = overlayDirs(bk);
    await same(["c", "create", BUSYBOX_REF, "held"]);
    const made = overlayDirs(bk).filter((n) => !before.includes(n));
    expect(made).toHaveLength(1);
    for (const d of [bk, cd]) {
      await collect(d);
      expect(await snapshotKeys(d)).toContain("held");
    }
    // --keep-snapshot deletes the record only: the snapshot is now no one's.
    await same(["c", "rm", "--keep-snapshot", "held"]);
    for (const d of [bk, cd]) expect(await snapshotKeys(d)).toContain("held");
    for (const d of [bk, cd]) {
      await collect(d);
      expect(await snapshotKeys(d)).not.toContain("held");
    }
    // The snapshot's directory is gone from the overlayfs snapshotter too.
    expect(overlayDirs(bk)).not.toContain(made[0]);
    // The image's committed layer stays: the image holds it through its gc.ref label.
    expect((await snapshotKeys(bk)).some((k) => k.startsWith("sha256:"))).toBe(true);
    expect(await snapshotKeys(bk)).toEqual(await snapshotKeys(cd));
  });

  test("rm removes the container and the snapshot ctr made for it", async () => {
    await same(["c", "rm", "c1"]);
    expect(await same(["c", "ls", "-q"])).toBe("");
    expect(await snapshotKeys(bk)).not.toContain("c1");
    const [b, c] = await both(["c", "rm", "c1"]);
    expect(b.code).not.toBe(0);
    expect(b.stderr.split("\n").at(-2)).toBe(c.stderr.split("\n").at(-2));
    expect(b.stderr).toContain('container "c1" in namespace "default": not found');
  });
});

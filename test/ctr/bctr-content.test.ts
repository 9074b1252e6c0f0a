/** bctr content against bunkerd and containerd 1.6: ingest from stdin (1 MiB, so the 64 KiB
 *  message limit for Bun's http2 client is exercised) and get it back; verification of the
 *  expected digest; ls as Go ctr prints it; label; active during an ingest; prune references;
 *  rm. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { importBusybox } from "../harness/busybox.ts";
import { sha256 } from "../harness/images.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, contentRows, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr content against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    const blob = crypto.getRandomValues(new Uint8Array(1024 * 1024));
    const digest = sha256(blob);
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("ingest 1 MiB from stdin, get it back byte for byte; Go ctr reads the same blob", async () => {
      ok(
        await bctr(
          ["content", "ingest", "--expected-size", String(blob.length), "--expected-digest", digest, "ref-1"],
          { stdin: blob },
        ),
      );
      const back = Bun.spawnSync([BCTR, "-a", d.address, "content", "get", digest], { stdout: "pipe" });
      expect(back.exitCode).toBe(0);
      expect(sha256(new Uint8Array(back.stdout))).toBe(digest);
      const theirs = Bun.spawnSync(["ctr", "-a", d.address, "content", "get", digest], { stdout: "pipe" });
      expect(sha256(new Uint8Array(theirs.stdout))).toBe(digest);
    });

    test("a wrong expected digest is refused and nothing is committed", async () => {
      const wrong = `sha256:${"1".repeat(64)}`;
      const r = await bctr(["content", "ingest", "--expected-digest", wrong, "ref-2"], {
        stdin: new TextEncoder().encode("x"),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^bctr: .*unexpected commit digest .*expected sha256:1{64}.*\n$/);
      expect(ok(await bctr(["content", "ls", "-q"]))).not.toContain(sha256("x"));
    });

    test("ls is Go ctr's table (cells), -q, json; label sets and clears", async () => {
      expect(ok(await bctr(["content", "label", digest, "a=1", "b=2"]))).toBe("a=1,b=2\n");
      expect(ok(await bctr(["content", "label", digest, "a="]))).toBe("b=2\n");
      const ours = ok(await bctr(["content", "ls"]));
      expect(ours.split("\n")[0]).toMatch(/^DIGEST\t{9}SIZE\tAGE\t+LABELS$/);
      expect(contentRows(ours)).toEqual(contentRows(ok(await d.ctr(["content", "ls"]))));
      expect(ok(await bctr(["content", "list", "-q"]))).toBe(ok(await d.ctr(["content", "ls", "-q"])));
      const json = JSON.parse(ok(await bctr(["content", "ls", "--format", "json"])));
      expect(json.find((c: { digest: string }) => c.digest === digest)).toMatchObject({
        size: blob.length,
        labels: { b: "2" },
      });
    });

    test("active shows an ingest in progress, by ref, with its offset", async () => {
      const p = Bun.spawn([BCTR, "-a", d.address, "content", "ingest", "slow-ref"], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
      p.stdin.write(new Uint8Array(200_000));
      await p.stdin.flush();
      let line = "";
      for (let i = 0; i < 50 && !line.includes("195.3kB") && !line.includes("200kB"); i++) {
        await Bun.sleep(100);
        line =
          ok(await bctr(["content", "active"]))
            .split("\n")
            .find((l) => l.startsWith("slow-ref")) ?? "";
      }
      expect(line).toMatch(/^slow-ref\t200kB\t/);
      expect(ok(await bctr(["content", "active"])).split("\n")[0]).toMatch(/^REF\t+SIZE\tAGE\t$/);
      const active = JSON.parse(ok(await bctr(["content", "active", "--format", "json"])));
      expect(active.find((a: { ref: string }) => a.ref === "slow-ref")).toMatchObject({ size: 200_000 });
      p.stdin.end();
      expect(await p.exited).toBe(0);
      expect(ok(await bctr(["content", "active"]))).not.toContain("slow-ref");
    });

    test("rm deletes and prints each blob; a missing one warns", async () => {
      const r = await bctr(["content", "rm", digest, `sha256:${"2".repeat(64)}`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${digest}\n`);
      expect(r.stderr).toContain("not found");
      expect(ok(await bctr(["content", "ls", "-q"]))).not.toContain(digest);
    });

    test("prune references drops layer references, then collects garbage", async () => {
      const img = await importBusybox(d, "docker.io/library/busybox:prune", { namespace: "prune" });
      const manifestLabels = async () =>
        contentRows(ok(await bctr(["-n", "prune", "content", "ls"]))).find(
          (r) => r[0] === img.manifest.digest,
        )?.[2];
      expect(await manifestLabels()).toContain("containerd.io/gc.ref.content.l.0=");
      ok(await bctr(["-n", "prune", "content", "prune", "references", "--dry"]));
      expect(await manifestLabels()).toContain("containerd.io/gc.ref.content.l.0=");
      ok(await bctr(["-n", "prune", "content", "prune", "references"]));
      expect(await manifestLabels()).not.toContain("containerd.io/gc.ref.content.l.0=");
      expect(await manifestLabels()).toContain("containerd.io/gc.ref.content.config=");
    }, 60_000);
  });
}

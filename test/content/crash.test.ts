/** Crash safety: bunkerd is SIGKILLed at random moments while the Go ctr ingests 20 blobs.
 *  After every restart no partial blob is visible, and each ingest resumes or restarts cleanly;
 *  at the end the metadata database passes SQLite's integrity check. */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hasBinary, startDaemon } from "../harness/daemon.ts";
import { sha256 } from "../harness/images.ts";

// Blobs written with ctr content ingest belong to no image or lease: containerd's collector (and
// ours) removes them at its next run. Keep it from running during these tests.
const keepUnreferenced = `[plugins."io.containerd.gc.v1.scheduler"]\n  startup_delay = "1h"\n  mutation_threshold = 1000000\n  deletion_threshold = 1000000\n`;

describe.skipIf(!hasBinary("ctr"))("crash safety", () => {
  test("20 ingests with the daemon killed at random moments", async () => {
    const d = await startDaemon("bunkerd", { extraConfig: keepUnreferenced });
    try {
      const blobDir = join(d.root, "io.containerd.content.v1.content/blobs/sha256");
      const checkNoPartialBlob = () => {
        if (!existsSync(blobDir)) return;
        for (const name of readdirSync(blobDir)) {
          expect(sha256(readFileSync(join(blobDir, name)))).toBe(`sha256:${name}`);
        }
      };
      const blobs = Array.from({ length: 20 }, (_, i) => {
        const b = new Uint8Array(2 << 20);
        crypto.getRandomValues(b.subarray(0, 65536));
        b[65536] = i; // distinct blobs, cheap to make
        return b;
      });
      for (const [i, data] of blobs.entries()) {
        const dg = sha256(data);
        const args = [
          "content",
          "ingest",
          "--expected-digest",
          dg,
          "--expected-size",
          String(data.length),
          `crash-${i}`,
        ];
        const client = Bun.spawn(["ctr", "--address", d.address, ...args], {
          stdin: data,
          stdout: "ignore",
          stderr: "ignore",
        });
        await Bun.sleep(Math.floor(Math.random() * 120));
        await d.restart("SIGKILL");
        client.kill("SIGKILL");
        await client.exited;
        checkNoPartialBlob();
        // Resume (or restart) the same ingest to completion.
        const r = await d.ctr(args, { stdin: data });
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const got = await d.ctr(["content", "ls", "-q", `digest==${dg}`]);
        expect(got.stdout.trim()).toBe(dg);
      }
      expect((await d.ctr(["content", "active"])).stdout.trim().split("\n").length).toBe(1); // header only
      await d.proc.kill("SIGTERM");
      await d.proc.exited;
      const db = new Database(join(d.root, "io.containerd.metadata.v1.sqlite/meta.db"));
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      expect((db.query("SELECT count(*) AS n FROM content").get() as { n: number }).n).toBe(20);
      db.close();
      checkNoPartialBlob();
    } finally {
      await d.stop();
    }
  }, 180_000);
});

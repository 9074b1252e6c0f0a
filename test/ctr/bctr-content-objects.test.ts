/** `bctr content edit`, `content push-object` and `content fetch-object` against bunkerd and
 *  containerd 1.6, beside Go ctr on the same daemon:
 *  - edit runs $EDITOR (or --editor, through `sh -c` so it may carry arguments) on a copy of the
 *    blob and stores the result: the same new digest as Go ctr's edit; no editor, --validate and
 *    a missing blob fail with Go ctr's messages;
 *  - push-object sends one stored blob to a registry (the registry then serves those bytes) and
 *    a manifest-typed one under the reference's tag; fetch-object writes what a reference names
 *    to stdout, byte for byte what Go ctr's fetch-object writes. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { type DaemonHandle, hasBinary, run, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd");

const NO_GC = [
  '[plugins."io.containerd.gc.v1.scheduler"]',
  '  startup_delay = "1h"',
  "  mutation_threshold = 1000000",
  "  deletion_threshold = 1000000",
].join("\n");

const sha256 = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

let registry: TestRegistry;
let work: string;
let upcase: string;
beforeAll(async () => {
  if (!ready) return;
  registry = await startRegistry();
  work = mkdtempSync("/tmp/bctr-objects-");
  // Rewrites the file in place (same inode): Go ctr reads the edit back through its open file.
  upcase = join(work, "upcase.sh");
  writeFileSync(upcase, '#!/bin/sh\ntr a-z A-Z < "$1" > "$1.new" && cat "$1.new" > "$1" && rm "$1.new"\n');
  chmodSync(upcase, 0o755);
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr content objects against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    const ingest = async (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const digest = sha256(bytes);
      ok(await d.ctr(["content", "ingest", "--expected-digest", digest, `t-${digest}`], { stdin: bytes }));
      return digest;
    };
    beforeAll(async () => {
      // Ingested blobs belong to nothing: hold the collector off so they stay for the test.
      d = await startDaemon(kind, { extraConfig: NO_GC });
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("edit: $EDITOR on the blob, the result stored under the digest Go ctr gives", async () => {
      const original = await ingest(`hello from ${kind}\n`);
      const expected = sha256(`HELLO FROM ${kind.toUpperCase()}\n`);
      const mine = await bctr(["content", "edit", original], { env: { EDITOR: upcase } });
      expect([mine.code, mine.stdout, mine.stderr]).toEqual([0, `${expected}\n`, ""]);
      expect(ok(await d.ctr(["content", "get", expected]))).toBe(`HELLO FROM ${kind.toUpperCase()}\n`);
      // Go ctr's edit of another blob with the same editor: the same digest scheme.
      const other = await ingest(`second ${kind}\n`);
      const theirs = ok(
        await run(["ctr", "--address", d.address, "content", "edit", "--editor", upcase, other]),
      );
      const again = ok(await bctr(["content", "edit", "--editor", upcase, other])).trim();
      expect(again).toBe(theirs.trim());
      // An editor command with its own arguments (run through sh -c, as Go ctr does).
      const third = await ingest("abc\n");
      const viaArgs = ok(await bctr(["content", "edit", "--editor", "sed -i s/abc/xyz/", third])).trim();
      expect(viaArgs).toBe(sha256("xyz\n"));
    });

    test("edit: no editor, --validate, a missing blob, a failing editor", async () => {
      const blob = await ingest("x\n");
      const env = { EDITOR: "" };
      const none = await bctr(["content", "edit", blob], { env });
      expect([none.code, none.stderr]).toEqual([1, "bctr: editor is required\n"]);
      const v = await bctr(["content", "edit", "--editor", upcase, "--validate", "json", blob]);
      expect([v.code, v.stderr]).toEqual([1, "bctr: validating the edit result not supported\n"]);
      const missing = `sha256:${"1".repeat(64)}`;
      const m = await bctr(["content", "edit", "--editor", upcase, missing]);
      const g = await d.ctr(["content", "edit", "--editor", upcase, missing]);
      expect(m.code).toBe(1);
      expect(m.stderr.replace(/^bctr/, "ctr")).toBe(g.stderr);
      const failing = await bctr(["content", "edit", "--editor", "false", blob]);
      expect([failing.code, failing.stderr]).toEqual([1, 'bctr: editor "false" exited with status 1\n']);
    });

    test("push-object then fetch-object: the registry serves the blob; Go ctr fetches the same bytes", async () => {
      const text = `object for ${kind} ${Math.random()}\n`;
      const blob = await ingest(text);
      const repo = `${registry.host}/objects/${kind}`;
      const pushed = await bctr([
        "content",
        "push-object",
        "--plain-http",
        `${repo}:v1`,
        blob,
        "application/octet-stream",
      ]);
      expect([pushed.code, pushed.stdout, pushed.stderr]).toEqual([
        0,
        `Pushed ${blob} application/octet-stream\n`,
        "",
      ]);
      const served = await fetch(`http://${registry.host}/v2/objects/${kind}/blobs/${blob}`);
      expect(await served.text()).toBe(text);
      const mine = await bctr(["content", "fetch-object", "--plain-http", `${repo}@${blob}`, blob]);
      const theirs = await d.ctr(["content", "fetch-object", "--plain-http", `${repo}@${blob}`, blob]);
      expect([mine.code, mine.stdout]).toEqual([0, text]);
      expect(theirs.stdout).toBe(text);
    });

    test("push-object of a manifest puts it under the tag; fetch-object by tag returns it", async () => {
      const layer = await ingest("layer\n");
      const config = await ingest(
        '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
      );
      const repo = `${registry.host}/objects/${kind}-m`;
      for (const [digest, type] of [
        [layer, "application/vnd.oci.image.layer.v1.tar"],
        [config, "application/vnd.oci.image.config.v1+json"],
      ] as const) {
        ok(await bctr(["content", "push-object", "--plain-http", `${repo}:t`, digest, type]));
      }
      const manifestText = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 82 },
        layers: [],
      });
      const manifest = await ingest(manifestText);
      const out = ok(
        await bctr([
          "content",
          "push-object",
          "--plain-http",
          `${repo}:t`,
          manifest,
          "application/vnd.oci.image.manifest.v1+json",
        ]),
      );
      expect(out).toBe(`Pushed ${manifest} application/vnd.oci.image.manifest.v1+json\n`);
      const mine = await bctr(["content", "fetch-object", "--plain-http", `${repo}:t`, "x"]);
      const theirs = await d.ctr(["content", "fetch-object", "--plain-http", `${repo}:t`, "x"]);
      expect(mine.stdout).toBe(manifestText);
      expect(theirs.stdout).toBe(manifestText);
    });

    test("push-object / fetch-object: bad input fails with one line", async () => {
      const r1 = await bctr([
        "content",
        "push-object",
        "--plain-http",
        `${registry.host}/x/y:1`,
        "nodigest",
        "t",
      ]);
      expect([r1.code, r1.stderr]).toEqual([1, 'bctr: invalid digest "nodigest"\n']);
      const r2 = await bctr([
        "content",
        "push-object",
        "--plain-http",
        `${registry.host}/x/y:1`,
        `sha256:${"2".repeat(64)}`,
        "t",
      ]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/^bctr: content digest sha256:2{64}: not found\n$/);
      const r3 = await bctr(["content", "fetch-object", "--plain-http", `${registry.host}/x/none:1`]);
      expect(r3.code).toBe(1);
      expect(r3.stderr).toMatch(/not found/);
      expect(r3.stderr.split("\n").length).toBe(2);
    });
  });
}

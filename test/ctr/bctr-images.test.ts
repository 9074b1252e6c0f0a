/** bctr images against bunkerd (pull through the Transfer service) and containerd 1.6 (pull
 *  client-side: Content.Write, Snapshots/Diff unpack, Images.Create), with a local registry:
 *  push, pull with plain and TTY progress, ls/check tables equal to Go ctr's on the same
 *  state, JSON output, tag/label/rm, export/import both ways with Go ctr, mount, usage. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import {
  blobsOf,
  buildImage,
  skopeoCopy,
  writeOciLayout,
} from "../../packages/registry/src/testutil/image.ts";
import { BUSYBOX_REF, importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, run, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, contentRows, KINDS, ok } from "./harness.ts";

const ready =
  canRunRegistry() &&
  hasBinary("ctr") &&
  hasBinary("containerd") &&
  hasBinary("script") &&
  hasBinary("skopeo");

let registry: TestRegistry;
beforeAll(async () => {
  if (ready) registry = await startRegistry();
}, 60_000);
afterAll(async () => {
  await registry?.stop();
});

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr images against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    let ref: string;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      await importBusybox(d);
      ref = `${registry.host}/${kind}/busybox:v1`;
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("push sends the image to a registry, with per-blob progress lines", async () => {
      const out = ok(await bctr(["images", "push", "--plain-http", ref, BUSYBOX_REF]));
      // bunkerd pushes in the daemon (Transfer); containerd 1.6 has none, so bctr pushes itself.
      if (kind === "bunkerd") expect(out).toContain(`Completed push to OCI Registry (${ref})`);
      expect(out).toMatch(/^layer-sha256:[0-9a-f]{64}: done +1\.2 MiB\/1\.2 MiB/m);
      expect(out).toMatch(/^manifest-\S*sha256:[0-9a-f]{64}: done/m);
      expect(out).toMatch(/^elapsed: [\d.]+ s\ttotal: /m);
      // Go ctr can pull what we pushed.
      ok(await d.ctr(["-n", "gopull", "images", "pull", "--plain-http", ref], { timeoutMs: 60_000 }));
    }, 60_000);

    test("pull (no TTY): plain progress lines; the same content, labels and snapshots as a Go ctr pull", async () => {
      const out = ok(
        await bctr(["-n", "pulled", "images", "pull", "--plain-http", ref], { timeoutMs: 60_000 }),
      );
      expect(out).not.toContain("\u001b[");
      // bunkerd pulls in the daemon (Transfer); containerd 1.6 has none, so bctr pulls itself.
      expect(out).toContain(kind === "bunkerd" ? "Resolving from OCI Registry" : `${ref}: resolved sha256:`);
      expect(out).toMatch(/^layer-sha256:[0-9a-f]{64}: waiting/m);
      expect(out).toMatch(/^layer-sha256:[0-9a-f]{64}: done/m);
      expect(out).toMatch(/^elapsed: /m);
      // Each layer is shown unpacking before its last done line. bunkerd's Transfer reports the
      // unpack per layer, so there a layer goes waiting, downloading…, downloaded, unpacking, done.
      const states = new Map<string, string[]>();
      for (const [, layer, state] of out.matchAll(/^(layer-sha256:[0-9a-f]{64}): (\S+)/gm)) {
        states.set(layer!, [...(states.get(layer!) ?? []), state!]);
      }
      expect(states.size).toBeGreaterThan(0);
      for (const seq of states.values()) {
        expect(seq).toContain("unpacking");
        expect(seq.indexOf("unpacking")).toBeLessThan(seq.lastIndexOf("done"));
        expect(seq.at(-1)).toBe("done");
        if (kind === "bunkerd") {
          expect(seq.filter((x) => x !== "downloading")).toEqual([
            "waiting",
            "downloaded",
            "unpacking",
            "done",
          ]);
        }
      }
      const check = ok(await bctr(["-n", "pulled", "images", "check"]));
      expect(check).toMatch(
        new RegExp(`${ref.replaceAll(".", "\\.")} .* complete \\(2/2\\) 1\\.2 MiB/1\\.2 MiB true`),
      );
      const content = async (ns: string) => contentRows(ok(await d.ctr(["-n", ns, "content", "ls"])));
      expect(await content("pulled")).toEqual(await content("gopull"));
      expect(ok(await bctr(["-n", "pulled", "snapshots", "ls"]))).toBe(
        ok(await d.ctr(["-n", "gopull", "snapshots", "ls"])),
      );
      // The pull's lease is gone.
      expect(ok(await bctr(["-n", "pulled", "leases", "ls", "-q"]))).toBe("");
    }, 60_000);

    test("pull under a TTY redraws one live line per blob in place", async () => {
      const cmd = [BCTR, "-a", d.address, "-n", "tty", "images", "pull", "--plain-http", ref].join(" ");
      const r = await run(["script", "-qec", cmd, "/dev/null"], { timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("\u001b[2K");
      expect(r.stdout).toMatch(/\u001b\[\d+F/);
      expect(r.stdout).toMatch(/layer-sha256:[0-9a-f]{64}: (done|exists) +1\.2 MiB\/1\.2 MiB/);
      expect(r.stdout).toContain("elapsed: ");
      expect(ok(await bctr(["-n", "tty", "images", "ls", "-q"]))).toBe(`${ref}\n`);
    }, 60_000);

    test("pull of a missing tag fails with one line and leaves no image", async () => {
      const r = await bctr([
        "-n",
        "pulled",
        "images",
        "pull",
        "--plain-http",
        `${registry.host}/nope/nothing:v1`,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^bctr: .*not found/);
      expect(ok(await bctr(["-n", "pulled", "images", "ls", "-q"]))).toBe(`${ref}\n`);
    }, 60_000);

    test("content fetch stores the image without unpacking it; --local pulls client-side on any daemon", async () => {
      ok(await bctr(["-n", "fetched", "content", "fetch", "--plain-http", ref], { timeoutMs: 60_000 }));
      expect(ok(await bctr(["-n", "fetched", "images", "check"]))).toMatch(
        /complete \(2\/2\) 1\.2 MiB\/1\.2 MiB false/,
      );
      const out = ok(
        await bctr(["-n", "local", "images", "pull", "--local", "--plain-http", ref], { timeoutMs: 60_000 }),
      );
      expect(out).toContain(`${ref}: resolved sha256:`);
      expect(ok(await bctr(["-n", "local", "images", "check"]))).toMatch(/complete \(2\/2\) .* true/);
    }, 60_000);

    test("Ctrl-C cancels a pull cleanly: exit 1, one line, no image, no lease of bctr's left", async () => {
      // A fresh random image, so no daemon has its layer yet.
      const image = buildImage({ files: [{ data: crypto.getRandomValues(new Uint8Array(300_000)) }] });
      // A registry front whose layer downloads never finish.
      const front = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        idleTimeout: 0,
        async fetch(req) {
          const url = new URL(req.url);
          if (req.method === "GET" && /\/blobs\/sha256:/.test(url.pathname)) {
            const r = await fetch(`${registry.url}${url.pathname}`, { method: "HEAD" });
            const size = Number(r.headers.get("content-length"));
            if (size > 100_000) {
              return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }), {
                headers: { "content-length": String(size), "content-type": "application/octet-stream" },
              });
            }
          }
          const headers = new Headers(req.headers);
          headers.delete("host");
          const r = await fetch(`${registry.url}${url.pathname}${url.search}`, {
            method: req.method,
            headers,
            redirect: "manual",
          });
          return new Response(r.body, { status: r.status, headers: r.headers });
        },
      });
      const layout = mkdtempSync("/tmp/bctr-layout-");
      try {
        writeOciLayout(layout, blobsOf(image), image.manifest.desc, "v1");
        skopeoCopy(layout, "v1", `${registry.host}/${kind}/random:v1`);
        const slow = `127.0.0.1:${front.port}/${kind}/random:v1`;
        const p = Bun.spawn([BCTR, "-a", d.address, "-n", "cancel", "images", "pull", "--plain-http", slow], {
          stdout: "pipe",
          stderr: "pipe",
        });
        let out = "";
        const reading = (async () => {
          const reader = p.stdout.getReader();
          for (let r = await reader.read(); !r.done; r = await reader.read())
            out += new TextDecoder().decode(r.value);
        })();
        for (let i = 0; i < 100 && !/layer-sha256:\S+: (waiting|downloading)/.test(out); i++)
          await Bun.sleep(100);
        expect(out).toMatch(/layer-sha256:\S+: (waiting|downloading)/);
        await Bun.sleep(300);
        p.kill("SIGINT");
        const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
        const code = await p.exited;
        clearTimeout(timer);
        await reading;
        expect(code).toBe(1);
        expect(await new Response(p.stderr).text()).toBe(`bctr: pull ${slow}: canceled\n`);
        expect(ok(await bctr(["-n", "cancel", "images", "ls", "-q"]))).toBe("");
        // bctr's own leases are gone; a daemon-side pull's lease may stay (containerd 1.7 deletes
        // it with the cancelled request's context too), but it expires.
        const leases = JSON.parse(ok(await bctr(["-n", "cancel", "leases", "ls", "--format", "json"])));
        for (const l of leases) {
          expect(l.id).not.toStartWith("bctr-");
          expect(l.labels["containerd.io/gc.expire"]).toMatch(/Z$/);
        }
      } finally {
        front.stop(true);
        rmSync(layout, { recursive: true, force: true });
      }
    }, 60_000);

    test("images ls and check print Go ctr's table for the same state; -q; --format json", async () => {
      ok(await bctr(["images", "tag", BUSYBOX_REF, "example.com/a:1", "example.com/b:2"]));
      ok(await bctr(["images", "label", "example.com/a:1", "team=x", "tier=web"]));
      expect(ok(await bctr(["images", "ls"]))).toBe(ok(await d.ctr(["images", "ls"])));
      expect(ok(await bctr(["i", "list", "-q"]))).toBe(ok(await d.ctr(["images", "ls", "-q"])));
      expect(ok(await bctr(["images", "check"]))).toBe(ok(await d.ctr(["images", "check"])));
      expect(ok(await bctr(["images", "ls", "name==example.com/a:1"]))).toBe(
        ok(await d.ctr(["images", "ls", "name==example.com/a:1"])),
      );
      const json = JSON.parse(ok(await bctr(["images", "ls", "--format", "json"])));
      const a = json.find((i: { name: string }) => i.name === "example.com/a:1");
      expect(Object.keys(a)).toEqual(["name", "type", "digest", "size", "platforms", "labels"]);
      expect(a).toMatchObject({ platforms: ["linux/amd64"], labels: { team: "x", tier: "web" } });
      expect(a.size).toBeGreaterThan(1_000_000);
    });

    test("tag --force, label clear, rm (a missing one is a warning), rm --sync", async () => {
      expect((await bctr(["images", "tag", BUSYBOX_REF, "example.com/b:2"])).code).toBe(1);
      expect(ok(await bctr(["images", "tag", "--force", BUSYBOX_REF, "example.com/b:2"]))).toBe(
        "example.com/b:2\n",
      );
      expect(ok(await bctr(["images", "label", "example.com/a:1", "team="]))).toBe("tier=web\n");
      const rm = await bctr(["images", "rm", "example.com/b:2", "example.com/none:1"]);
      expect(rm.code).toBe(0);
      expect(rm.stdout).toBe("example.com/b:2\n");
      expect(rm.stderr).toContain('image "example.com/none:1": not found');
      expect(ok(await bctr(["images", "rm", "--sync", "example.com/a:1"]))).toBe("example.com/a:1\n");
      expect(ok(await bctr(["images", "ls", "-q"]))).toBe(`${BUSYBOX_REF}\n`);
    });

    test("export writes an OCI layout Go ctr imports; bctr imports Go ctr's export", async () => {
      const dir = mkdtempSync("/tmp/bctr-export-");
      try {
        const ours = join(dir, "ours.tar");
        ok(await bctr(["images", "export", ours, BUSYBOX_REF]));
        const listing = Bun.spawnSync(["tar", "tf", ours], { stdout: "pipe" }).stdout.toString().split("\n");
        expect(listing).toEqual(expect.arrayContaining(["oci-layout", "index.json", "manifest.json"]));
        ok(await d.ctr(["-n", "imported-go", "images", "import", ours]));
        expect(ok(await d.ctr(["-n", "imported-go", "images", "check"]))).toContain("complete (2/2)");

        const theirs = join(dir, "theirs.tar");
        ok(await d.ctr(["images", "export", theirs, BUSYBOX_REF]));
        const r = ok(await bctr(["-n", "imported", "images", "import", theirs]));
        // bunkerd imports in the daemon (Transfer, the archive streamed under flow control).
        expect(r).toContain(kind === "bunkerd" ? `saved ${BUSYBOX_REF}` : `unpacking ${BUSYBOX_REF}`);
        const check = ok(await bctr(["-n", "imported", "images", "check"]));
        expect(check).toMatch(/complete \(2\/2\) 1\.2 MiB\/1\.2 MiB true/);
        // Content and labels as a Go ctr import leaves them.
        const content = async (ns: string) => contentRows(ok(await d.ctr(["-n", ns, "content", "ls"])));
        expect(await content("imported")).toEqual(await content("imported-go"));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);

    test("mount shows the image's files; unmount --rm drops the snapshot; usage lists its chain", async () => {
      const target = mkdtempSync("/tmp/bctr-mount-");
      try {
        expect(ok(await bctr(["images", "mount", BUSYBOX_REF, target]))).toBe(`${target}\n`);
        expect(existsSync(join(target, "bin/busybox"))).toBe(true);
        expect(ok(await bctr(["snapshots", "ls"]))).toContain(target);
        expect(ok(await bctr(["images", "unmount", "--rm", target]))).toBe(`${target}\n`);
        expect(existsSync(join(target, "bin/busybox"))).toBe(false);
        expect(ok(await bctr(["snapshots", "ls"]))).not.toContain(target);
        expect(ok(await bctr(["leases", "ls", "-q"]))).not.toContain(target);
      } finally {
        Bun.spawnSync(["umount", "-l", target]);
        rmSync(target, { recursive: true, force: true });
      }
      const usage = ok(await bctr(["images", "usage", BUSYBOX_REF]));
      expect(usage).toMatch(/^KEY +SIZE +INODES \nsha256:[0-9a-f]{64} [\d.]+ MiB \d+ +\n$/);
    }, 60_000);
  });
}

describe.skipIf(!ready)("bctr images pull --user: credentials for a registry behind basic auth", () => {
  let secure: TestRegistry;
  let ref: string;
  beforeAll(async () => {
    secure = await startRegistry({ auth: { htpasswd: { users: { bob: "builder" } } } });
    const image = buildImage({ files: [{ secret: "behind basic auth\n" }] });
    const layout = mkdtempSync("/tmp/bctr-layout-");
    ref = `${secure.host}/private/app:v1`;
    try {
      writeOciLayout(layout, blobsOf(image), image.manifest.desc, "v1");
      const r = Bun.spawnSync(
        [
          "skopeo",
          "copy",
          "--quiet",
          "--preserve-digests",
          "--dest-tls-verify=false",
          "--dest-creds=bob:builder",
          `oci:${layout}:v1`,
          `docker://${ref}`,
        ],
        { stderr: "pipe" },
      );
      if (r.exitCode !== 0) throw new Error(`skopeo: ${r.stderr}`);
    } finally {
      rmSync(layout, { recursive: true, force: true });
    }
  }, 60_000);
  afterAll(async () => {
    await secure?.stop();
  });

  for (const kind of KINDS) {
    test(`against ${kind}: refused without, pulled with --user`, async () => {
      const d = await startDaemon(kind);
      try {
        const bctr = bctrAt(d);
        const denied = await bctr(["images", "pull", "--plain-http", ref], { timeoutMs: 60_000 });
        expect(denied.code).toBe(1);
        expect(denied.stderr).toMatch(/^bctr: .*(denied|unauthorized|401)/im);
        ok(
          await bctr(["images", "pull", "--plain-http", "--user", "bob:builder", ref], { timeoutMs: 60_000 }),
        );
        expect(ok(await bctr(["images", "check"]))).toMatch(/complete \(2\/2\) .* true/);
      } finally {
        await d.stop();
      }
    }, 60_000);
  }
});

/** bctr's registry flags and the pull paths the first version left out, against bunkerd
 *  (daemon-side pull through Transfer) and containerd 1.6 (client-side pull):
 *  - `--tlscacert`, `--tlscert`, `--tlskey` against a TLS registry with a private CA that
 *    requires a client certificate: pulled with all three; refused without the client pair or
 *    without the CA; the flags' bad uses fail with Go ctr's words; `--http-dump`/`--http-trace`
 *    are refused rather than ignored;
 *  - `images pull --all-platforms` of a two-platform index: every platform's content stored
 *    (bunkerd through Transfer, which also unpacks the host's), the image complete. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createResolver } from "@bunkerd/registry";
import { makeCerts, type TestCerts } from "../../packages/registry/src/testutil/certs.ts";
import { buildImage, buildIndex, type TestImage } from "../../packages/registry/src/testutil/image.ts";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { pushImage } from "../../packages/registry/src/testutil/roundtrip.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd") && hasBinary("openssl");

let work: string;
let certs: TestCerts;
let tlsRegistry: TestRegistry;
let plainRegistry: TestRegistry;
let tlsRef: string;
let hostsDir: string;
let multiRef: string;
const platformsImages: TestImage[] = [];

beforeAll(async () => {
  if (!ready) return;
  work = mkdtempSync("/tmp/bctr-regflags-");
  certs = makeCerts(work);
  tlsRegistry = await startRegistry({
    tls: { cert: certs.serverCert, key: certs.serverKey, clientCAs: [certs.caCert] },
  });
  plainRegistry = await startRegistry();
  // hosts.toml naming the https server (127.0.0.1 would default to plain http) and no TLS
  // files: what the flags then supply. Another one with them, for the push.
  const url = `https://${tlsRegistry.host}`;
  const server = [`server = "${url}"`, "", `[host."${url}"]`, '  capabilities = ["pull", "resolve", "push"]'];
  hostsDir = join(work, "hosts");
  const pushHosts = join(work, "push-hosts");
  for (const [root, extra] of [
    [hostsDir, []],
    [pushHosts, [`  ca = "${certs.caCert}"`, `  client = [["${certs.clientCert}", "${certs.clientKey}"]]`]],
  ] as const) {
    const dir = join(root, tlsRegistry.host);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hosts.toml"), [...server, ...extra, ""].join("\n"));
  }
  tlsRef = `${tlsRegistry.host}/tls/app:v1`;
  const image = buildImage({ files: [{ "etc/motd": "over mutual TLS\n" }] });
  await pushImage(createResolver({ hostsDir: pushHosts, retryDelayMs: 10 }), tlsRef, image);
  // A two-platform index on the plain registry.
  const plain = createResolver({ plainHttp: true });
  for (const architecture of ["amd64", "arm64"]) {
    const img = buildImage({
      platform: { os: "linux", architecture },
      files: [{ "etc/arch": `${architecture}\n` }],
    });
    platformsImages.push(img);
    await pushImage(plain, `${plainRegistry.host}/multi/app:${architecture}`, img);
  }
  multiRef = `${plainRegistry.host}/multi/app:v1`;
  const index = buildIndex(platformsImages);
  await plain.pusher(multiRef).pushManifest("v1", index.desc, index.bytes);
}, 120_000);

afterAll(async () => {
  await tlsRegistry?.stop();
  await plainRegistry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr registry flags against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    const names = async () =>
      ok(await d.ctr(["images", "ls", "-q"]))
        .split("\n")
        .filter(Boolean);

    test("--tlscacert --tlscert --tlskey: pulled from a registry requiring a client certificate", async () => {
      const tls = ["--tlscacert", certs.caCert, "--tlscert", certs.clientCert, "--tlskey", certs.clientKey];
      const r = await bctr(["images", "pull", "--hosts-dir", hostsDir, ...tls, tlsRef]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(await names()).toContain(tlsRef);
      expect(ok(await d.ctr(["images", "check", `name==${tlsRef}`]))).toContain("complete");
      // Go ctr with the same flags pulls it too (its default TLS config).
      const go = await d.ctr(["images", "pull", "--hosts-dir", hostsDir, ...tls, tlsRef]);
      expect(go.code).toBe(0);
    });

    test("without the client pair, or without the CA, the registry refuses: one line, no image", async () => {
      const ref = `${tlsRegistry.host}/tls/app:v1`;
      ok(await d.ctr(["images", "rm", ref]));
      const hosts = ["--hosts-dir", hostsDir];
      const noClient = await bctr(["images", "pull", ...hosts, "--tlscacert", certs.caCert, ref]);
      expect(noClient.code).toBe(1);
      expect(noClient.stderr.trim().split("\n").at(-1)).toMatch(/^bctr: /);
      const noCa = await bctr([
        "images",
        "pull",
        "--tlscert",
        certs.clientCert,
        "--tlskey",
        certs.clientKey,
        ref,
      ]);
      expect(noCa.code).toBe(1);
      expect(noCa.stderr.trim().split("\n")).toHaveLength(1);
      expect(await names()).not.toContain(ref);
    });

    test("bad TLS flags and unsupported debug flags fail with one line", async () => {
      const pull = (...flags: string[]) => bctr(["images", "pull", ...flags, tlsRef]);
      const half = await pull("--tlscert", certs.clientCert);
      expect([half.code, half.stderr]).toEqual([
        1,
        "bctr: flags --tlscert and --tlskey must be set together\n",
      ]);
      const missing = await pull("--tlscacert", "/nonexistent/ca.pem");
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^bctr: failed to read "\/nonexistent\/ca\.pem": /);
      for (const flag of ["--http-dump", "--http-trace"]) {
        const r = await pull(flag);
        expect([r.code, r.stderr]).toEqual([1, `bctr: ${flag} is not supported by bctr\n`]);
      }
    });

    test("images pull --all-platforms: every platform's content, the image complete, the host's unpacked", async () => {
      const r = await bctr(["images", "pull", "--plain-http", "--all-platforms", multiRef]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      // bunkerd pulls in the daemon (Transfer); containerd 1.6 has no Transfer.
      if (kind === "bunkerd") expect(r.stdout).toMatch(/Completed pull from OCI Registry|done/);
      const content = ok(await d.ctr(["content", "ls", "-q"]));
      for (const img of platformsImages) {
        expect(content).toContain(img.manifest.desc.digest);
        expect(content).toContain(img.config.desc.digest);
        for (const l of img.layers) expect(content).toContain(l.desc.digest);
      }
      expect(ok(await d.ctr(["images", "check", `name==${multiRef}`]))).toContain("complete");
      // The host's platform is unpacked: its layer's snapshot exists (one layer: chain ID = diff ID).
      const host = platformsImages[0]!;
      const config = JSON.parse(new TextDecoder().decode(host.config.bytes));
      expect(ok(await d.ctr(["snapshots", "ls"]))).toContain(config.rootfs.diff_ids[0]);
    });
  });
}

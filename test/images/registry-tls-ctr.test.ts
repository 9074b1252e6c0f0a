/** Pulls into bunkerd from a distribution registry serving TLS with its own CA:
 *  - the Go ctr (1.6, client-side pull) with `--hosts-dir`, a hosts.toml naming the CA, the
 *    server and a `[host."https://…"]` with pull/resolve capabilities: the image lands in
 *    bunkerd; without the CA the certificate is refused and nothing is recorded;
 *  - the daemon-side Transfer pull (what bctr uses), with the hosts directory named in the
 *    request (`OCIRegistry.resolver.host_dir`) and from the transfer plugin's `config_path`;
 *    without a CA there, refused. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { createDaemonTransport } from "@bunkerd/client";
import { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import { ImageStoreSchema } from "@bunkerd/proto/containerd/types/transfer/imagestore_pb.ts";
import { OCIRegistrySchema } from "@bunkerd/proto/containerd/types/transfer/registry_pb.ts";
import { createResolver } from "@bunkerd/registry";
import { ConnectError, createClient } from "@connectrpc/connect";
import { makeCerts, type TestCerts } from "../../packages/registry/src/testutil/certs.ts";
import { buildImage, type TestImage } from "../../packages/registry/src/testutil/image.ts";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { pushImage } from "../../packages/registry/src/testutil/roundtrip.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const ready = canRunRegistry() && hasBinary("ctr");
const TRANSFER_PLUGIN = "io.containerd.transfer.v1.local";

describe.skipIf(!ready)("pull from a TLS registry with a private CA", () => {
  let work: string;
  let certs: TestCerts;
  let registry: TestRegistry;
  let image: TestImage;
  let ref: string;
  /** hosts.toml trusting the test CA. */
  let trusted: string;
  /** hosts.toml naming the https server but no CA. */
  let untrusted: string;
  let bunker: DaemonHandle;
  /** A bunkerd whose transfer plugin has `config_path = trusted`. */
  let configured: DaemonHandle;

  const hostsDir = (name: string, toml: string) => {
    const dir = join(work, name);
    mkdirSync(join(dir, registry.host), { recursive: true });
    writeFileSync(join(dir, registry.host, "hosts.toml"), toml);
    return dir;
  };

  beforeAll(async () => {
    work = mkdtempSync("/tmp/registry-tls-");
    certs = makeCerts(work);
    registry = await startRegistry({ tls: { cert: certs.serverCert, key: certs.serverKey } });
    const url = `https://${registry.host}`;
    trusted = hostsDir(
      "trusted",
      [
        `server = "${url}"`,
        `ca = "${certs.caCert}"`,
        "",
        `[host."${url}"]`,
        '  capabilities = ["pull", "resolve"]',
        `  ca = "${certs.caCert}"`,
        "",
      ].join("\n"),
    );
    untrusted = hostsDir(
      "untrusted",
      [`server = "${url}"`, "", `[host."${url}"]`, '  capabilities = ["pull", "resolve"]', ""].join("\n"),
    );
    image = buildImage({
      files: [
        { "etc/hostname": "tls\n", "etc/motd": "over TLS\n" },
        { "opt/data.bin": crypto.getRandomValues(new Uint8Array(200_000)) },
      ],
    });
    ref = `${registry.host}/tls/app:v1`;
    await pushImage(createResolver({ hostsDir: trusted, retryDelayMs: 10 }), ref, image);
    [bunker, configured] = await Promise.all([
      startDaemon("bunkerd"),
      startDaemon("bunkerd", {
        extraConfig: `[plugins."${TRANSFER_PLUGIN}"]\n  config_path = "${trusted}"\n`,
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([bunker?.stop(), configured?.stop()]);
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const imageNames = async (d: DaemonHandle) =>
    (await d.ctr(["images", "ls", "-q"])).stdout.split("\n").filter((l) => l.length > 0);

  async function expectPulled(d: DaemonHandle, name: string) {
    const ls = (await d.ctr(["images", "ls"])).stdout;
    expect(ls).toContain(name);
    expect(ls).toContain(image.manifest.desc.digest);
    const target = mkdtempSync("/tmp/registry-tls-mnt-");
    try {
      expect((await d.ctr(["images", "mount", name, target])).code).toBe(0);
      expect(await Bun.file(join(target, "etc/motd")).text()).toBe("over TLS\n");
      expect((await Bun.file(join(target, "opt/data.bin")).arrayBuffer()).byteLength).toBe(200_000);
    } finally {
      await d.ctr(["images", "unmount", "--rm", target]);
      rmSync(target, { recursive: true, force: true });
    }
  }

  /** Transfer.Transfer from an OCIRegistry to the image store, no progress stream. */
  async function transferPull(d: DaemonHandle, name: string, hostDir = "") {
    const any = (typeUrl: string, value: Uint8Array) => ({ typeUrl, value }) as Any;
    const source = create(OCIRegistrySchema, { reference: ref, resolver: { hostDir } });
    const platform = { os: "linux", architecture: "amd64" };
    const destination = create(ImageStoreSchema, {
      name,
      platforms: [platform],
      unpacks: [{ platform, snapshotter: "" }],
    });
    const transfer = createClient(Transfer, createDaemonTransport(d.address, { namespace: "default" }));
    await transfer.transfer(
      {
        source: any(OCIRegistrySchema.typeName, toBinary(OCIRegistrySchema, source)),
        destination: any(ImageStoreSchema.typeName, toBinary(ImageStoreSchema, destination)),
      },
      { timeoutMs: 120_000 },
    );
  }

  test("Go ctr without the CA: the certificate is refused, no image", async () => {
    const r = await bunker.ctr(["images", "pull", "--hosts-dir", untrusted, ref], { timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("x509: certificate signed by unknown authority");
    // Without a hosts dir ctr speaks plain http to a localhost registry (containerd's default
    // for localhost), which this TLS port answers with 400.
    const plain = await bunker.ctr(["images", "pull", ref], { timeoutMs: 60_000 });
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain("400 Bad Request");
    expect(await imageNames(bunker)).toEqual([]);
  }, 120_000);

  test("Go ctr with --hosts-dir trusting the CA pulls into bunkerd", async () => {
    const r = await bunker.ctr(["images", "pull", "--hosts-dir", trusted, ref], { timeoutMs: 120_000 });
    const errors = r.stderr
      .split("\n")
      .filter((l) => /level=error|ctr: /.test(l) && !l.includes("context canceled"));
    expect(errors).toEqual([]);
    expect(r.code).toBe(0);
    await expectPulled(bunker, ref);
    expect((await bunker.ctr(["images", "rm", "--sync", ref])).code).toBe(0);
  }, 180_000);

  test("Transfer pull without a CA: refused, naming the certificate; no image", async () => {
    const e = await transferPull(bunker, "tls/refused:v1", untrusted).then(
      () => undefined,
      (x: unknown) => ConnectError.from(x),
    );
    expect(e).toBeDefined();
    expect(e!.rawMessage.toLowerCase()).toMatch(/certificate|self.signed|verify|issuer/);
    expect(await imageNames(bunker)).toEqual([]);
  }, 120_000);

  test("Transfer pull with the hosts dir in the request (host_dir)", async () => {
    await transferPull(bunker, "tls/by-request:v1", trusted);
    await expectPulled(bunker, "tls/by-request:v1");
  }, 180_000);

  test("Transfer pull with the hosts dir from the plugin's config_path", async () => {
    await transferPull(configured, "tls/by-config:v1");
    await expectPulled(configured, "tls/by-config:v1");
  }, 180_000);
});

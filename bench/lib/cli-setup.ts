/** Scenario `cli`'s untimed parts: bctr compiled as scripts/setup compiles it, and N images in
 *  a daemon, each a real (tiny) manifest → config + one layer, so `images ls` computes sizes
 *  as it would for pulled images. The blobs go in with Go `ctr content ingest` (same on both
 *  daemons), the image records with Images.Create over gRPC. The daemons run with the collector
 *  held off (NO_GC): the ingested config and layer carry no gc.ref labels. */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDaemonTransport } from "@bunkerd/client";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { createClient } from "@connectrpc/connect";
import { REPO } from "../../test/harness/daemon.ts";
import type { Running } from "./targets.ts";

let compiled: string | undefined;

/** `bun build --compile --minify --format=esm --bytecode --splitting` of apps/ctr, once per run. */
export function compiledBctr(): string {
  if (compiled) return compiled;
  const out = join(tmpdir(), `bctr-cli-bench-${process.pid}`);
  const r = Bun.spawnSync(
    [
      "bun",
      "build",
      "--compile",
      "--minify",
      "--format=esm",
      "--bytecode",
      "--splitting",
      join(REPO, "apps/ctr/src/main.ts"),
      "--outfile",
      out,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`compiling bctr failed: ${r.stderr}`);
  process.on("exit", () => rmSync(out, { force: true }));
  compiled = out;
  return out;
}

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function ingest(up: Running, namespace: string, ref: string, blob: Uint8Array): Promise<string> {
  const digest = sha256(blob);
  const p = Bun.spawn(
    [
      "ctr",
      "--address",
      up.address,
      "--namespace",
      namespace,
      "content",
      "ingest",
      "--expected-digest",
      digest,
      "--expected-size",
      String(blob.length),
      ref,
    ],
    { stdin: blob, stdout: "ignore", stderr: "pipe" },
  );
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`ctr content ingest ${ref}: ${err.trim()}`);
  return digest;
}

/** `n` images sharing one manifest, named registry.example.com/bench/image-NNNN:latest. */
export async function createImages(up: Running, namespace: string, n: number): Promise<void> {
  const layer = new Uint8Array(Bun.gzipSync(new TextEncoder().encode("bench layer\n")));
  const config = new TextEncoder().encode(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha256(new TextEncoder().encode("bench layer\n"))] },
      config: {},
    }),
  );
  const layerDigest = await ingest(up, namespace, "bench-layer", layer);
  const configDigest = await ingest(up, namespace, "bench-config", config);
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: configDigest,
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length },
      ],
    }),
  );
  const manifestDigest = await ingest(up, namespace, "bench-manifest", manifest);
  const images = createClient(Images, createDaemonTransport(up.address, { namespace, timeoutMs: 30_000 }));
  const target = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: manifestDigest,
    size: BigInt(manifest.length),
  };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const name = `registry.example.com/bench/image-${String(i).padStart(4, "0")}:latest`;
      await images.create({ image: { name, target } });
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, n) }, worker));
  const listed = (await images.list({})).images.length;
  if (listed !== n) throw new Error(`Images.List returned ${listed} images after creating ${n}`);
}

/** Collector off for the daemon's life, as in scenario `content`. */
export const NO_GC = [
  "",
  '[plugins."io.containerd.gc.v1.scheduler"]',
  '  startup_delay = "1h"',
  "  mutation_threshold = 1000000",
  "  deletion_threshold = 1000000",
  "",
].join("\n");

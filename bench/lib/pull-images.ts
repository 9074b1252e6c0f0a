/** The images the `pull` scenario pulls, built from local material (no network) into OCI image
 *  layouts and pushed to a local registry with skopeo. Deterministic on a given machine: GNU tar
 *  with sorted names, fixed mtime and owner, `gzip -n`, random bytes from a seeded generator.
 *
 *  - busybox: Debian's busybox-static as a one-layer image (test/harness/busybox.ts);
 *  - small: the three small layers of the e2e pull test (test/harness/testimage.ts): xattrs,
 *    whiteouts, hardlinks, devices (that builder keeps file times: its digest changes per run);
 *  - large: four layers, ~210 MB unpacked and ~70 MB gzip: real files from /usr/lib, /usr/include,
 *    /usr/share and /etc (many small and medium files, compressible) and seeded random bytes
 *    (incompressible). */
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
  createReadStream,
} from "node:fs";
import { join } from "node:path";
import { busyboxImage } from "../../test/harness/busybox.ts";
import { buildTestImage } from "../../test/harness/testimage.ts";

export interface BenchImage {
  name: "busybox" | "small" | "large" | "warmup";
  /** Reference in the registry. */
  ref: string;
  manifestDigest: string;
  layers: number;
  /** Sum of the layer blobs (compressed) and of the layer tars (uncompressed), bytes. */
  compressed: number;
  uncompressed: number;
}

const MB = 1_000_000;
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

/** An OCI layout being filled: blobs/sha256 and, at the end, index.json. */
class Layout {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  }
  put(mediaType: string, bytes: Uint8Array | string): Desc {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    const hex = new Bun.CryptoHasher("sha256").update(b).digest("hex");
    writeFileSync(join(this.dir, "blobs/sha256", hex), b);
    return { mediaType, digest: `sha256:${hex}`, size: b.byteLength };
  }
  /** Moves a file already written (e.g. a gzip layer) in under its digest. */
  async adopt(mediaType: string, path: string): Promise<Desc> {
    const hasher = new Bun.CryptoHasher("sha256");
    let size = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hasher.update(chunk);
      size += chunk.byteLength;
    }
    const hex = hasher.digest("hex");
    Bun.spawnSync(["mv", path, join(this.dir, "blobs/sha256", hex)]);
    return { mediaType, digest: `sha256:${hex}`, size };
  }
  tag(manifest: Desc, tag: string): void {
    writeFileSync(
      join(this.dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }],
      }),
    );
  }
}

function run(argv: string[], what: string): void {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what}: ${argv.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
}

function pushLayout(layout: string, tag: string, ref: string): void {
  run(
    [
      "skopeo",
      "copy",
      "--quiet",
      "--preserve-digests",
      "--dest-tls-verify=false",
      `oci:${layout}:${tag}`,
      `docker://${ref}`,
    ],
    `push ${ref}`,
  );
}

/** Regular files and symlinks under `root`, in name order, until `budget` bytes of file data. */
function pickFiles(root: string, budget: number): { paths: string[]; bytes: number } {
  const paths: string[] = [];
  let bytes = 0;
  const walk = (dir: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return true;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) {
        if (!walk(p)) return false;
      } else if (st.isFile() || st.isSymbolicLink()) {
        if (st.isFile() && st.size > 8 * MB) continue; // keep it "many files", not a few huge ones
        if (bytes + st.size > budget) return false;
        paths.push(p.slice(1)); // relative to /
        bytes += st.isFile() ? st.size : 0;
      }
    }
    return true;
  };
  walk(root);
  return { paths, bytes };
}

/** xorshift128+ bytes from a fixed seed: incompressible and the same on every run. */
function writeRandom(path: string, size: number, seed: number): void {
  let s0 = BigInt(seed) | 1n;
  let s1 = 0x9e3779b97f4a7c15n ^ BigInt(seed);
  const mask = (1n << 64n) - 1n;
  const buf = new Uint8Array(1 << 20);
  const view = new DataView(buf.buffer);
  const fd = openSync(path, "w");
  try {
    // BigInt is slow: draw 64 bits per 8 bytes for the first 64 KiB, then stretch them with a
    // cheap 32-bit generator seeded from it; both stay incompressible for gzip.
    for (let i = 0; i < 8192; i++) {
      let x = s0;
      const y = s1;
      s0 = y;
      x = (x ^ (x << 23n)) & mask;
      s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
      view.setBigUint64(i * 8, (s1 + y) & mask);
    }
    let w = view.getUint32(0) | 1;
    for (let done = 0; done < size; done += buf.byteLength) {
      for (let i = 0; i < buf.byteLength; i += 4) {
        w ^= w << 13;
        w ^= w >>> 17;
        w ^= w << 5;
        view.setUint32(i, w >>> 0);
      }
      writeSync(fd, buf, 0, Math.min(buf.byteLength, size - done));
    }
  } finally {
    closeSync(fd);
  }
}

const TAR_FLAGS = [
  "--sort=name",
  "--mtime=@1700000000",
  "--owner=0",
  "--group=0",
  "--numeric-owner",
  "--format=gnu",
  "--no-recursion",
];

/** tar of `paths` (relative to `cwd`) → layer blob in the layout; returns it and its diff ID. */
async function layerOf(layout: Layout, work: string, cwd: string, paths: string[], n: number) {
  const list = join(work, `files-${n}`);
  writeFileSync(list, `${paths.join("\n")}\n`);
  const tar = join(work, `layer-${n}.tar`);
  run(["tar", "-C", cwd, ...TAR_FLAGS, "-cf", tar, "-T", list], `layer ${n}`);
  const diffHasher = new Bun.CryptoHasher("sha256");
  let uncompressed = 0;
  for await (const chunk of createReadStream(tar, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    diffHasher.update(chunk);
    uncompressed += chunk.byteLength;
  }
  run(["gzip", "-n", "-6", tar], `gzip layer ${n}`);
  const desc = await layout.adopt(OCI_LAYER, `${tar}.gz`);
  return { desc, diffId: `sha256:${diffHasher.digest("hex")}`, uncompressed };
}

/** Parent directories of `paths` too, so each layer's tree is complete in itself. */
function withParents(paths: string[]): string[] {
  const all = new Set<string>();
  for (const p of paths) {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) all.add(parts.slice(0, i).join("/"));
    all.add(p);
  }
  return [...all].sort();
}

function imageOf(layout: Layout, layers: Desc[], diffIds: string[]): Desc {
  const config = layout.put(
    OCI_CONFIG,
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/bin/sh"], Env: ["PATH=/usr/local/bin:/usr/bin:/bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
  return layout.put(
    OCI_MANIFEST,
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }),
  );
}

/** The large image's layers: what each holds and how many bytes of files it takes. About
 *  50 + 110 + 24 + 30 MB unpacked; gzip -6 brings them to ~18 + ~22 + 24 + ~8 MB. */
const LARGE = {
  libs: { roots: ["/usr/lib/x86_64-linux-gnu"], mb: 50 },
  headers: { roots: ["/usr/include"], mb: 110 },
  randomMB: 24,
  rest: { roots: ["/usr/share/perl", "/usr/share/i18n", "/etc"], mb: 30 },
};

async function buildLarge(work: string): Promise<BenchImage & { layout: string }> {
  const layout = new Layout(join(work, "large-layout"));
  const pick = (l: { roots: string[]; mb: number }) => {
    const out: string[] = [];
    let left = l.mb * MB;
    for (const root of l.roots) {
      const r = pickFiles(root, left);
      out.push(...r.paths);
      left -= r.bytes;
    }
    return out;
  };
  const randomDir = join(work, "random-root");
  mkdirSync(join(randomDir, "opt/random"), { recursive: true });
  const randomPaths: string[] = [];
  const pieces = Math.max(1, Math.round(LARGE.randomMB / 4));
  for (let i = 0; i < pieces; i++) {
    const rel = `opt/random/blob-${String(i).padStart(2, "0")}.bin`;
    writeRandom(join(randomDir, rel), Math.round((LARGE.randomMB * MB) / pieces), 7 + i);
    randomPaths.push(rel);
  }
  const parts = [
    { cwd: "/", paths: withParents(pick(LARGE.libs)) },
    { cwd: "/", paths: withParents(pick(LARGE.headers)) },
    { cwd: randomDir, paths: withParents(randomPaths) },
    { cwd: "/", paths: withParents(pick(LARGE.rest)) },
  ];
  const layers: Desc[] = [];
  const diffIds: string[] = [];
  let uncompressed = 0;
  for (const [i, p] of parts.entries()) {
    const l = await layerOf(layout, work, p.cwd, p.paths, i);
    layers.push(l.desc);
    diffIds.push(l.diffId);
    uncompressed += l.uncompressed;
  }
  rmSync(randomDir, { recursive: true, force: true });
  const manifest = imageOf(layout, layers, diffIds);
  layout.tag(manifest, "v1");
  return {
    name: "large",
    ref: "",
    manifestDigest: manifest.digest,
    layers: layers.length,
    compressed: layers.reduce((s, l) => s + l.size, 0),
    uncompressed,
    layout: layout.dir,
  };
}

/** A one-file image sharing nothing with the others: pulled untimed first with `--warm`. */
function buildWarmup(work: string): BenchImage & { layout: string } {
  const layout = new Layout(join(work, "warmup-layout"));
  const dir = join(work, "warmup-root");
  mkdirSync(join(dir, "etc"), { recursive: true });
  writeFileSync(join(dir, "etc/warmup"), "an untimed pull before the timed one\n");
  const l = Bun.spawnSync([
    "tar",
    "-C",
    dir,
    ...TAR_FLAGS.filter((f) => f !== "--no-recursion"),
    "-cf",
    "-",
    "etc",
  ]);
  const tar = new Uint8Array(l.stdout);
  rmSync(dir, { recursive: true, force: true });
  const diffId = `sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`;
  const layer = layout.put(OCI_LAYER, Bun.gzipSync(tar));
  const manifest = imageOf(layout, [layer], [diffId]);
  layout.tag(manifest, "v1");
  return {
    name: "warmup",
    ref: "",
    manifestDigest: manifest.digest,
    layers: 1,
    compressed: layer.size,
    uncompressed: tar.byteLength,
    layout: layout.dir,
  };
}

function buildBusybox(work: string): BenchImage & { layout: string } {
  const img = busyboxImage();
  const layout = new Layout(join(work, "busybox-layout"));
  for (const b of img.blobs) layout.put(b.mediaType, b.data);
  const manifest = {
    mediaType: img.manifest.mediaType,
    digest: img.manifest.digest,
    size: img.manifest.size,
  };
  layout.tag(manifest, "v1");
  return {
    name: "busybox",
    ref: "",
    manifestDigest: manifest.digest,
    layers: 1,
    compressed: img.layers[0]!.size,
    uncompressed: Number.NaN,
    layout: layout.dir,
  };
}

/** Compressed and uncompressed layer bytes of a small image's layout (read back from it). */
function sizesOf(layout: string): { compressed: number; uncompressed: number } {
  const blob = (digest: string) => readFileSync(join(layout, "blobs/sha256", digest.slice(7)));
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString("utf8"));
  let compressed = 0;
  let uncompressed = 0;
  for (const l of manifest.layers as Desc[]) {
    compressed += l.size;
    uncompressed += Bun.gunzipSync(blob(l.digest)).byteLength;
  }
  return { compressed, uncompressed };
}

/** Builds the images named in `which` under `work` and pushes each to `registryHost`. */
export async function buildAndPush(
  work: string,
  registryHost: string,
  which: BenchImage["name"][],
): Promise<{ images: BenchImage[]; cleanup: () => void }> {
  const images: BenchImage[] = [];
  const cleanups: (() => void)[] = [];
  for (const name of which) {
    let built: BenchImage & { layout: string };
    let tag = "v1";
    if (name === "busybox") built = buildBusybox(work);
    else if (name === "warmup") built = buildWarmup(work);
    else if (name === "large") built = await buildLarge(work);
    else {
      const t = buildTestImage();
      cleanups.push(t.cleanup);
      tag = t.tag;
      built = {
        name: "small",
        ref: "",
        manifestDigest: t.manifestDigest,
        layers: t.diffIds.length,
        compressed: Number.NaN,
        uncompressed: Number.NaN,
        layout: t.layout,
      };
    }
    if (Number.isNaN(built.uncompressed)) Object.assign(built, sizesOf(built.layout));
    const ref = `${registryHost}/bench/${name}:${tag}`;
    pushLayout(built.layout, tag, ref);
    const { layout: _, ...image } = built;
    images.push({ ...image, ref });
  }
  return {
    images,
    cleanup: () => {
      for (const c of cleanups) c();
    },
  };
}

/** Image store → archive stream (containerd 1.7's pkg/transfer/local/export.go and
 *  images/archive/exporter.go): an OCI image layout tar of the named images, streamed to the
 *  client as it is written (blobs are read from their files and checked against their digest
 *  on the way; nothing is held whole).
 *
 *  - index.json lists each image's target, annotated with its name
 *    (`io.containerd.image.name`, and the tag as `org.opencontainers.image.ref.name`);
 *  - an index is exported with the manifests of the asked platforms (the host's, strictly, when
 *    none are asked), or all of them with all_platforms;
 *  - unless skip_compatibility_manifest, a Docker manifest.json names one manifest per image
 *    (the best platform match of an index), so `docker load` reads the archive too;
 *  - entries are sorted by name, each written once; skip_non_distributable leaves out
 *    non-distributable layers. */
import { BunkerError, invalidArgument, Kind, notFound, notImplemented } from "@bunkerd/plugin-api";
import {
  children as childrenOf,
  type Descriptor,
  familiarReference,
  isIndexType,
  isManifestOrIndexType,
  isManifestType,
  MAX_MANIFEST_SIZE,
  platforms as P,
  type PlatformMatcher,
} from "@bunkerd/registry";
import { Annotation, ociReferenceName } from "./docker-archive.ts";
import { descriptorJson } from "./oci-json.ts";
import { header, padding, trailer } from "./tar-writer.ts";
import type { ExportStreamTarget, ImageStoreTarget, TransferOptions } from "./types.ts";

export interface ExportServices {
  content: { blobPath(ns: string, digest: string): Promise<{ path: string; size: number }> };
  images: { get(ns: string, name: string): Promise<{ name: string; target: Descriptor }> };
}

type Record_ =
  | { name: string; type: "dir" }
  | { name: string; type: "bytes"; bytes: Uint8Array; mode: number }
  | { name: string; type: "blob"; desc: Descriptor };

const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const blobName = (digest: string) => `blobs/${digest.replace(":", "/")}`;

const NON_DISTRIBUTABLE = new Set([
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.foreign.diff.tar",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
]);

export async function exportStream(
  s: ExportServices,
  source: ImageStoreTarget,
  target: ExportStreamTarget,
  o: TransferOptions,
): Promise<void> {
  o.progress?.({ event: "Exporting" });
  const names = [
    source.name,
    ...source.extraReferences.map((r) => {
      if (r.isPrefix) throw notImplemented("prefix lookup on export not implemented");
      return r.name;
    }),
  ].filter((n) => n !== "");
  if (names.length === 0) throw invalidArgument("no image name given to export");
  const manifests: Descriptor[] = [];
  for (const name of names) {
    const img = await s.images.get(o.ns, name);
    manifests.push({
      ...img.target,
      annotations: {
        ...(img.target.annotations ?? {}),
        [Annotation.imageName]: name,
        [Annotation.refName]: ociReferenceName(name),
      },
    });
  }
  const records = await new ExportPlan(s, target, o.ns).plan(manifests);
  await writeTar(s, o.ns, records, target, o.signal);
  o.progress?.({ event: "Completed export" });
}

class ExportPlan {
  private readonly records: Record_[] = [];
  private readonly matcher: PlatformMatcher;
  /** Manifests for manifest.json, with their names. */
  private readonly docker = new Map<string, { desc: Descriptor; names: string[] }>();

  constructor(
    private readonly s: ExportServices,
    private readonly t: ExportStreamTarget,
    private readonly ns: string,
  ) {
    this.matcher = t.platforms.length > 0 ? P.ordered(...t.platforms) : P.onlyStrict(P.defaultSpec());
  }

  async plan(manifests: Descriptor[]): Promise<Record_[]> {
    this.records.push({
      name: "oci-layout",
      type: "bytes",
      bytes: encode({ imageLayoutVersion: "1.0.0" }),
      mode: 0o444,
    });
    this.records.push({
      name: "index.json",
      type: "bytes",
      bytes: encode({ schemaVersion: 2, manifests: manifests.map(descriptorJson) }),
      mode: 0o644,
    });
    const resolved = new Map<string, string | undefined>();
    for (const desc of manifests) {
      const name = desc.annotations?.[Annotation.imageName];
      if (isManifestType(desc.mediaType)) {
        let entry = this.docker.get(desc.digest);
        if (!entry) {
          await this.walk(desc);
          entry = { desc, names: [] };
          this.docker.set(desc.digest, entry);
        }
        if (name) entry.names.push(name);
      } else if (isIndexType(desc.mediaType)) {
        if (!resolved.has(desc.digest)) resolved.set(desc.digest, await this.index(desc));
        const d = resolved.get(desc.digest);
        if (d && name) this.docker.get(d)!.names.push(name);
      } else {
        throw invalidArgument("only manifests may be exported");
      }
    }
    if (!this.t.skipCompatibilityManifest && this.docker.size > 0) {
      this.records.push({
        name: "manifest.json",
        type: "bytes",
        bytes: await this.dockerManifest(),
        mode: 0o644,
      });
    }
    if (this.records.some((r) => r.type === "blob")) {
      this.records.push({ name: "blobs/", type: "dir" }, { name: "blobs/sha256/", type: "dir" });
    }
    return this.records;
  }

  /** An index's own blob and the trees of the manifests exported with it; answers the manifest
   *  manifest.json names for it. */
  private async index(desc: Descriptor): Promise<string | undefined> {
    this.addBlob(desc);
    const entries = childrenOf(desc, await this.read(desc));
    const matched: Descriptor[] = [];
    for (const m of entries) {
      if (!m.platform || this.matcher.match(m.platform)) matched.push(m);
      else if (!this.t.allPlatforms) continue;
      await this.walk(m);
    }
    if (matched.length === 0) throw notFound("no manifest found for platform");
    const best = [...matched].sort((a, b) => {
      if (!a.platform) return b.platform ? 1 : 0;
      if (!b.platform) return -1;
      return this.matcher.less(a.platform, b.platform)
        ? -1
        : this.matcher.less(b.platform, a.platform)
          ? 1
          : 0;
    })[0]!;
    if (!this.docker.has(best.digest)) this.docker.set(best.digest, { desc: best, names: [] });
    return best.digest;
  }

  /** A descriptor and everything under it. */
  private async walk(desc: Descriptor): Promise<void> {
    this.addBlob(desc);
    if (!isManifestOrIndexType(desc.mediaType)) return;
    for (const c of childrenOf(desc, await this.read(desc))) await this.walk(c);
  }

  private addBlob(desc: Descriptor): void {
    if (!/^sha256:[a-f0-9]{64}$/.test(desc.digest)) throw invalidArgument(`invalid digest ${desc.digest}`);
    if (this.t.skipNonDistributable && NON_DISTRIBUTABLE.has(desc.mediaType)) return;
    this.records.push({ name: blobName(desc.digest), type: "blob", desc });
  }

  private async read(desc: Descriptor): Promise<Uint8Array> {
    if (desc.size > MAX_MANIFEST_SIZE) throw invalidArgument(`${desc.digest} is too large for a manifest`);
    const { path } = await this.s.content.blobPath(this.ns, desc.digest);
    return Bun.file(path).bytes();
  }

  private async dockerManifest(): Promise<Uint8Array> {
    const out: { Config: string; RepoTags: string[] | null; Layers: string[] | null }[] = [];
    for (const { desc, names } of this.docker.values()) {
      const children = childrenOf(desc, await this.read(desc));
      const [config, ...layers] = children;
      if (!config) throw invalidArgument(`invalid manifest ${desc.digest}`);
      out.push({
        Config: blobName(config.digest),
        RepoTags: names.length > 0 ? names.map((n) => familiarReference(n)) : null,
        Layers: layers.length > 0 ? layers.map((l) => blobName(l.digest)) : null,
      });
    }
    return encode(out);
  }
}

async function writeTar(
  s: ExportServices,
  ns: string,
  records: Record_[],
  target: ExportStreamTarget,
  signal: AbortSignal,
): Promise<void> {
  const sorted = [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = target.sink;
  let last = "";
  for (const r of sorted) {
    if (r.name === last) continue;
    last = r.name;
    signal.throwIfAborted();
    if (r.type === "dir") {
      await out.write(header(r.name, { size: 0, mode: 0o755, type: "dir" }), signal);
    } else if (r.type === "bytes") {
      await out.write(header(r.name, { size: r.bytes.length, mode: r.mode, type: "file" }), signal);
      await out.write(r.bytes, signal);
      await out.write(padding(r.bytes.length), signal);
    } else {
      await writeBlobRecord(s, ns, r.name, r.desc, out, signal);
    }
  }
  await out.write(trailer(), signal);
}

async function writeBlobRecord(
  s: ExportServices,
  ns: string,
  name: string,
  desc: Descriptor,
  out: ExportStreamTarget["sink"],
  signal: AbortSignal,
): Promise<void> {
  let path: string;
  try {
    ({ path } = await s.content.blobPath(ns, desc.digest));
  } catch (e) {
    if (e instanceof BunkerError && e.kind === Kind.NotFound)
      throw notFound(`content digest ${desc.digest}: not found`);
    throw e;
  }
  await out.write(header(name, { size: desc.size, mode: 0o444, type: "file" }), signal);
  const hasher = new Bun.CryptoHasher("sha256");
  let n = 0;
  for await (const chunk of Bun.file(path).stream() as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > desc.size) break;
    hasher.update(chunk);
    await out.write(chunk, signal);
  }
  if (n !== desc.size) throw invalidArgument(`unexpected copy size for ${name}`);
  if (`sha256:${hasher.digest("hex")}` !== desc.digest)
    throw invalidArgument(`unexpected digest copied for ${name}`);
  await out.write(padding(desc.size), signal);
}

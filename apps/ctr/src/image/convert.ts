/** containerd's image converter (images/converter) as `ctr images convert` uses it, client-side:
 *  walk the image from its target, keep the index entries the platform matcher accepts, and
 *  rewrite what the options change — gzip layers decompressed into new blobs (`--uncompress`),
 *  Docker media types replaced by OCI ones (`--oci`: manifest list → index, manifest, config,
 *  layers; foreign layers → non-distributable). A manifest or index nothing changed in keeps its
 *  digest; a rewritten one is stored with the gc.ref labels that keep its children. */
import { type Descriptor, MediaType as MT, type PlatformMatcher, platforms } from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { CommandError } from "../cli/errors.ts";
import { readContent, readSmallBlob, writeContent } from "./content.ts";

export interface ConvertOptions {
  uncompress: boolean;
  oci: boolean;
  /** Index entries to keep; undefined keeps all (`--all-platforms`). */
  matcher?: PlatformMatcher;
}

const DOCKER_TO_OCI: Record<string, string> = {
  [MT.DockerManifestList]: MT.OciIndex,
  [MT.DockerManifest]: MT.OciManifest,
  [MT.DockerConfig]: MT.OciConfig,
  [MT.DockerLayer]: MT.OciLayer,
  [MT.DockerLayerGzip]: MT.OciLayerGzip,
  [MT.DockerLayerZstd]: MT.OciLayerZstd,
  [MT.DockerForeignLayer]: MT.OciLayerNonDistributable,
  [MT.DockerForeignLayerGzip]: MT.OciLayerNonDistributableGzip,
};

/** A gzip layer type → its uncompressed type. */
const UNCOMPRESSED: Record<string, string> = {
  [MT.DockerLayerGzip]: MT.DockerLayer,
  [MT.DockerForeignLayerGzip]: MT.DockerForeignLayer,
  [MT.OciLayerGzip]: MT.OciLayer,
  [MT.OciLayerNonDistributableGzip]: MT.OciLayerNonDistributable,
};

type Json = Record<string, unknown>;

/** ReadableStream.from (Bun has it; the DOM lib types here do not). */
const fromIterable = (it: AsyncIterable<Uint8Array>) =>
  (ReadableStream as unknown as { from(i: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> }).from(it);

const descOf = (v: Json): Descriptor => v as unknown as Descriptor;

/** A descriptor with its fields in the order Go's image-spec structs marshal them (so a
 *  rewritten manifest or index has the bytes, hence the digest, Go ctr's convert gives). */
function goOrder(d: Descriptor): Json {
  const raw = d as unknown as Json;
  const out: Json = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length) out.annotations = d.annotations;
  if (d.platform) {
    const p = d.platform as unknown as Json;
    const plat: Json = { architecture: p.architecture, os: p.os };
    if (p["os.version"]) plat["os.version"] = p["os.version"];
    if ((p["os.features"] as string[] | undefined)?.length) plat["os.features"] = p["os.features"];
    if (p.variant) plat.variant = p.variant;
    out.platform = plat;
  }
  if (raw.artifactType) out.artifactType = raw.artifactType;
  return out;
}

export class Converter {
  constructor(
    private readonly d: Daemon,
    private readonly o: ConvertOptions,
  ) {}

  private mediaType(mt: string): string {
    return this.o.oci ? (DOCKER_TO_OCI[mt] ?? mt) : mt;
  }

  /** The converted descriptor (fields other than mediaType/digest/size kept). */
  async convert(desc: Descriptor): Promise<Descriptor> {
    if (desc.mediaType === MT.OciIndex || desc.mediaType === MT.DockerManifestList) return this.index(desc);
    if (desc.mediaType === MT.OciManifest || desc.mediaType === MT.DockerManifest) return this.manifest(desc);
    return desc;
  }

  private async read(desc: Descriptor): Promise<Json> {
    return JSON.parse(new TextDecoder().decode(await readSmallBlob(this.d, desc.digest))) as Json;
  }

  private async write(desc: Descriptor, doc: Json, labels: Record<string, string>): Promise<Descriptor> {
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    const digest = await writeContent(this.d, bytes, { total: bytes.length, labels });
    return { ...desc, mediaType: doc.mediaType as string, digest, size: bytes.length };
  }

  private async index(desc: Descriptor): Promise<Descriptor> {
    const index = await this.read(desc);
    const entries = (index.manifests as Json[]) ?? [];
    const kept = entries.filter((m) => {
      const p = descOf(m).platform;
      return !this.o.matcher || !p || this.o.matcher.match(platforms.normalize(p));
    });
    if (kept.length === 0) throw new CommandError(`index ${desc.digest}: no manifest matches the platform`);
    const converted = await Promise.all(kept.map((m) => this.convert(descOf(m))));
    const mediaType = this.mediaType(desc.mediaType);
    const same =
      kept.length === entries.length &&
      mediaType === desc.mediaType &&
      converted.every(
        (c, i) => c.digest === descOf(kept[i]!).digest && c.mediaType === descOf(kept[i]!).mediaType,
      );
    if (same) return desc;
    const labels: Record<string, string> = {};
    converted.forEach((c, i) => {
      labels[`containerd.io/gc.ref.content.m.${i}`] = c.digest;
    });
    const doc: Json = { schemaVersion: 2, mediaType, manifests: converted.map(goOrder) };
    if (index.annotations) doc.annotations = index.annotations;
    return this.write(desc, doc, labels);
  }

  private async manifest(desc: Descriptor): Promise<Descriptor> {
    const m = await this.read(desc);
    const config = descOf(m.config as Json);
    const layers = ((m.layers as Json[]) ?? []).map(descOf);
    const newConfig = { ...config, mediaType: this.mediaType(config.mediaType) };
    const newLayers = await Promise.all(layers.map((l) => this.layer(l)));
    const mediaType = this.mediaType(desc.mediaType);
    const same =
      mediaType === desc.mediaType &&
      newConfig.mediaType === config.mediaType &&
      newLayers.every((l, i) => l.digest === layers[i]!.digest && l.mediaType === layers[i]!.mediaType);
    if (same) return desc;
    const labels: Record<string, string> = { "containerd.io/gc.ref.content.config": config.digest };
    newLayers.forEach((l, i) => {
      labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
    });
    const doc: Json = {
      schemaVersion: 2,
      mediaType,
      config: goOrder(newConfig),
      layers: newLayers.map(goOrder),
    };
    if (m.annotations) doc.annotations = m.annotations;
    return this.write(desc, doc, labels);
  }

  private async layer(l: Descriptor): Promise<Descriptor> {
    let out = l;
    const plain = UNCOMPRESSED[l.mediaType];
    if (this.o.uncompress && plain) {
      const gz = fromIterable(readContent(this.d, l.digest)).pipeThrough(
        new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
      let size = 0;
      const counted = (async function* () {
        for await (const c of gz as unknown as AsyncIterable<Uint8Array>) {
          size += c.length;
          yield c;
        }
      })();
      const digest = await writeContent(this.d, counted, { ref: `convert-uncompress-from-${l.digest}` });
      out = { ...l, mediaType: plain, digest, size };
    }
    return { ...out, mediaType: this.mediaType(out.mediaType) };
  }
}

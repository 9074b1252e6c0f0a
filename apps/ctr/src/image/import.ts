/** Client-side `images import`, as Go ctr 1.6 does it: an OCI layout tar (index.json naming
 *  images by `io.containerd.image.name` or a ref name under --base-name) or a `docker save`
 *  archive (manifest.json; a docker schema 2 manifest is made for each image) is written into
 *  content (64 KiB messages) with children labels, then each image is created and, unless
 *  --no-unpack, unpacked for the platform. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import {
  children as childrenOf,
  type Descriptor,
  isIndexType,
  isManifestType,
  MediaType,
  normalizeReference,
  type PlatformMatcher,
  selectManifests,
} from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { isAlreadyExists } from "../cli/errors.ts";
import { hasContent, setLabels, writeContent } from "./content.ts";
import { childrenLabels } from "@bunkerd/registry";
import { readTar } from "./tar.ts";
import { unpackImage } from "./unpack.ts";
import { manifestFor, readConfig } from "./walk.ts";

export interface ImportOptions {
  baseName?: string;
  digests?: boolean;
  indexName?: string;
  allPlatforms?: boolean;
  matcher: PlatformMatcher;
  /** Snapshotter to unpack into; none with --no-unpack. */
  unpack?: string;
  onImage?: (name: string, digest: string) => void;
}

const sha256 = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const enc = new TextEncoder();

interface Archive {
  blobs: Map<string, Uint8Array>;
  images: { name: string; desc: Descriptor }[];
  index?: Descriptor;
}

function fromOciLayout(files: Map<string, Uint8Array>, o: ImportOptions): Archive {
  const blobs = new Map<string, Uint8Array>();
  for (const [path, data] of files) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(path);
    if (m) blobs.set(`${m[1]}:${m[2]}`, data);
  }
  const indexBytes = files.get("index.json")!;
  const index = JSON.parse(new TextDecoder().decode(indexBytes)) as { manifests?: Descriptor[] };
  const images: Archive["images"] = [];
  for (const desc of index.manifests ?? []) {
    const full = desc.annotations?.["io.containerd.image.name"];
    const ref = desc.annotations?.["org.opencontainers.image.ref.name"];
    let name: string | undefined;
    if (o.baseName) {
      if (ref && !ref.includes("/") && !ref.includes(":")) name = `${o.baseName}:${ref}`;
      else if (full?.startsWith(o.baseName)) name = full;
    } else name = full ?? (ref && (ref.includes("/") || ref.includes(":")) ? ref : undefined);
    if (name) images.push({ name, desc });
    if (o.digests && (!name || !o.baseName)) {
      images.push({ name: `${o.baseName ?? "import"}@${desc.digest}`, desc });
    }
  }
  const indexDesc = { mediaType: MediaType.OciIndex, digest: sha256(indexBytes), size: indexBytes.length };
  blobs.set(indexDesc.digest, indexBytes);
  return { blobs, images, index: indexDesc };
}

/** `docker save`: configs and (uncompressed) layers by path; one schema 2 manifest per image. */
function fromDockerArchive(files: Map<string, Uint8Array>): Archive {
  const blobs = new Map<string, Uint8Array>();
  const images: Archive["images"] = [];
  const list = JSON.parse(new TextDecoder().decode(files.get("manifest.json")!)) as {
    Config: string;
    RepoTags?: string[];
    Layers: string[];
  }[];
  const put = (data: Uint8Array, mediaType: string): Descriptor => {
    const digest = sha256(data);
    blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  };
  for (const entry of list) {
    const config = files.get(entry.Config);
    if (!config) throw new Error(`docker archive: config ${entry.Config} is missing`);
    const layers = entry.Layers.map((path) => {
      const data = files.get(path);
      if (!data) throw new Error(`docker archive: layer ${path} is missing`);
      const gz = data[0] === 0x1f && data[1] === 0x8b;
      return put(data, gz ? MediaType.DockerLayerGzip : MediaType.DockerLayer);
    });
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: put(config, MediaType.DockerConfig),
      layers,
    };
    const desc = put(enc.encode(JSON.stringify(manifest)), MediaType.DockerManifest);
    for (const tag of entry.RepoTags ?? []) images.push({ name: normalizeReference(tag), desc });
  }
  return { blobs, images };
}

export async function importArchive(d: Daemon, tar: Uint8Array, o: ImportOptions): Promise<string[]> {
  const files = new Map<string, Uint8Array>();
  for (const e of readTar(tar)) if (e.type === "file") files.set(e.name, e.data);
  let archive: Archive;
  if (files.has("index.json")) archive = fromOciLayout(files, o);
  else if (files.has("manifest.json")) archive = fromDockerArchive(files);
  else
    throw new Error(
      "unrecognized image archive: neither index.json (OCI layout) nor manifest.json (docker save)",
    );
  if (o.indexName && archive.index) archive.images.push({ name: o.indexName, desc: archive.index });

  return d.withLease(async (leased) => {
    // Children first, so a parent's references point at stored content.
    const written = new Set<string>();
    const store = async (desc: Descriptor): Promise<void> => {
      if (written.has(desc.digest)) return;
      written.add(desc.digest);
      const data = archive.blobs.get(desc.digest);
      let kids: Descriptor[] = [];
      if (data && (isManifestType(desc.mediaType) || isIndexType(desc.mediaType))) {
        kids = childrenOf(desc, data);
        if (isIndexType(desc.mediaType) && !o.allPlatforms) kids = selectManifests(kids, o.matcher);
        for (const k of kids) await store(k);
      }
      const labels = childrenLabels(kids);
      if (await hasContent(leased, desc.digest)) {
        if (Object.keys(labels).length) await setLabels(leased, desc.digest, labels);
        return;
      }
      if (!data) throw new Error(`content ${desc.digest}: not found in the archive`);
      await writeContent(leased, data, { expected: desc.digest, total: data.length, labels });
    };
    const names: string[] = [];
    const images = leased.client(Images);
    for (const { name, desc } of archive.images) {
      await store(desc);
      const image = {
        name,
        labels: {},
        target: { mediaType: desc.mediaType, digest: desc.digest, size: BigInt(desc.size) },
      };
      try {
        await images.create({ image });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        await images.update({ image, updateMask: { paths: ["target"] } });
      }
      if (o.unpack) {
        const { manifest } = await manifestFor(leased, desc, o.matcher);
        const config = await readConfig(leased, manifest.config);
        await unpackImage(leased, manifest, config, { snapshotter: o.unpack });
      }
      o.onImage?.(name, desc.digest);
      names.push(name);
    }
    return names;
  });
}

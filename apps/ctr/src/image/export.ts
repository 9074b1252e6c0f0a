/** Client-side `images export`: the images' content for the chosen platforms as an OCI image
 *  layout tar (oci-layout, index.json naming each image, blobs/sha256/…), plus a docker
 *  manifest.json for the platform's manifest unless skipped — what Go ctr writes. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import {
  type Descriptor,
  familiarReference,
  isIndexType,
  isManifestType,
  type PlatformMatcher,
  selectManifests,
  children as childrenOf,
} from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { about } from "../cli/errors.ts";
import { readBlob, readContent } from "./content.ts";
import { TarWriter } from "./tar.ts";
import { manifestFor, toDescriptor } from "./walk.ts";

export interface ExportOptions {
  matcher: PlatformMatcher;
  skipManifestJson?: boolean;
}

const blobPath = (digest: string) => `blobs/${digest.replace(":", "/")}`;

export async function exportImages(d: Daemon, out: string, names: string[], o: ExportOptions) {
  const images = d.client(Images);
  const blobs = new Map<string, Descriptor>();
  const index: Descriptor[] = [];
  const dockerManifests: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];

  const walk = async (desc: Descriptor): Promise<void> => {
    if (blobs.has(desc.digest)) return;
    blobs.set(desc.digest, desc);
    if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) return;
    let kids = childrenOf(desc, await readBlob(d, desc.digest));
    if (isIndexType(desc.mediaType)) kids = selectManifests(kids, o.matcher);
    for (const k of kids) await walk(k);
  };

  for (const name of names) {
    const { image } = await about(`image "${name}"`, images.get({ name }));
    const target = toDescriptor(image!.target!);
    await walk(target);
    const tag =
      name.includes(":") && !name.slice(name.lastIndexOf("/")).includes("@")
        ? name.slice(name.lastIndexOf(":") + 1)
        : "";
    index.push({
      ...target,
      annotations: {
        "io.containerd.image.name": name,
        ...(tag ? { "org.opencontainers.image.ref.name": tag } : {}),
      },
    });
    if (!o.skipManifestJson) {
      try {
        const { manifest } = await manifestFor(d, target, o.matcher);
        dockerManifests.push({
          Config: blobPath(manifest.config.digest),
          RepoTags: [familiarReference(name)],
          Layers: manifest.layers.map((l) => blobPath(l.digest)),
        });
      } catch {
        // No manifest for the platform: no docker entry for this image.
      }
    }
  }

  const tar = new TarWriter(out);
  try {
    const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    tar.dir("blobs");
    tar.dir("blobs/sha256");
    for (const desc of blobs.values()) {
      await tar.file(blobPath(desc.digest), desc.size, readContent(d, desc.digest));
    }
    const oci = json({ imageLayoutVersion: "1.0.0" });
    await tar.file("oci-layout", oci.length, oci);
    const idx = json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: index.map((x) => ({
        mediaType: x.mediaType,
        digest: x.digest,
        size: x.size,
        annotations: x.annotations,
      })),
    });
    await tar.file("index.json", idx.length, idx);
    if (!o.skipManifestJson && dockerManifests.length) {
      const m = json(dockerManifests);
      await tar.file("manifest.json", m.length, m);
    }
  } finally {
    tar.close();
  }
}

/** Push an image with our pusher, and pull one back with our resolver and fetcher. */

import type { Descriptor, ImageIndex, ImageManifest } from "../manifest.ts";
import { parseManifest } from "../manifest.ts";
import type { PushResult } from "../push.ts";
import type { Resolver } from "../resolver.ts";
import type { TestImage } from "./image.ts";

export async function pushImage(
  resolver: Resolver,
  ref: string,
  image: TestImage,
  options: { chunkSize?: number } = {},
): Promise<PushResult["status"][]> {
  const pusher = resolver.pusher(ref);
  const statuses: PushResult["status"][] = [];
  for (const blob of [image.config, ...image.layers]) {
    const r = await pusher.push(blob.desc, () => chunked(blob.bytes), options);
    statuses.push(r.status);
  }
  const tag = ref.slice(ref.lastIndexOf(":") + 1);
  await pusher.pushManifest(tag, image.manifest.desc, image.manifest.bytes);
  return statuses;
}

/** An async iterable of `bytes` cut into `size`-byte chunks. */
export async function* chunked(bytes: Uint8Array, size = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size);
}

export type Pulled = { desc: Descriptor; manifest: ImageManifest; blobs: Map<string, Uint8Array> };

/** Resolves `ref` and fetches its manifest (the `pick`ed one of an index), config and layers. */
export async function pullImage(
  resolver: Resolver,
  ref: string,
  pick?: (index: ImageIndex) => Descriptor,
): Promise<Pulled> {
  const { name, desc: root } = await resolver.resolve(ref);
  const fetcher = resolver.fetcher(name);
  const blobs = new Map<string, Uint8Array>();
  let desc = root;
  const rootBytes = await fetcher.fetchBytes(desc);
  blobs.set(desc.digest, rootBytes);
  let doc = parseManifest(rootBytes, desc.mediaType);
  if (doc.kind === "index") {
    if (!pick) throw new Error(`${ref} is an index`);
    desc = pick(doc);
    blobs.set(desc.digest, await fetcher.fetchBytes(desc));
    doc = parseManifest(blobs.get(desc.digest)!, desc.mediaType);
    if (doc.kind !== "manifest") throw new Error("nested index");
  }
  for (const child of [doc.config, ...doc.layers]) blobs.set(child.digest, await fetcher.fetchBytes(child));
  return { desc, manifest: doc, blobs };
}

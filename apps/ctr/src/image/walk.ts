/** Walking an image's content in the store the way containerd's images package does: the
 *  manifest for a platform, the image's size, its platforms, what is present, chain IDs. */
import {
  chainIds,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isIndexType,
  isManifestType,
  type Platform,
  type PlatformMatcher,
  parseManifest,
  platforms,
} from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { isNotFound } from "../cli/errors.ts";
import { hasContent, readSmallBlob } from "./content.ts";

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs?: { type: string; diff_ids: string[] };
  config?: Record<string, unknown>;
}

export const toDescriptor = (t: {
  mediaType: string;
  digest: string;
  size: bigint | number;
}): Descriptor => ({
  mediaType: t.mediaType,
  digest: t.digest,
  size: Number(t.size),
});

async function readManifest(d: Daemon, desc: Descriptor): Promise<ImageManifest | ImageIndex> {
  return parseManifest(await readSmallBlob(d, desc.digest), desc.mediaType);
}

export async function readConfig(d: Daemon, desc: Descriptor): Promise<ImageConfig> {
  return JSON.parse(new TextDecoder().decode(await readSmallBlob(d, desc.digest))) as ImageConfig;
}

const platformOf = (c: ImageConfig): Platform => ({
  os: c.os ?? "",
  architecture: c.architecture ?? "",
  ...(c.variant ? { variant: c.variant } : {}),
});

/** The manifest for `matcher` (containerd's images.Manifest): index entries that match, best
 *  first; a bare manifest if its config's platform matches. NotFound when none does. */
export async function manifestFor(
  d: Daemon,
  target: Descriptor,
  matcher: PlatformMatcher,
): Promise<{ desc: Descriptor; manifest: ImageManifest }> {
  const found: { desc: Descriptor; manifest: ImageManifest; platform?: Platform }[] = [];
  const visit = async (desc: Descriptor, platform?: Platform): Promise<void> => {
    if (isManifestType(desc.mediaType)) {
      const manifest = (await readManifest(d, desc)) as ImageManifest;
      if (!platform) {
        const config = await readConfig(d, manifest.config);
        platform = platformOf(config);
      }
      if (matcher.match(platforms.normalize(platform))) found.push({ desc, manifest, platform });
      return;
    }
    if (isIndexType(desc.mediaType)) {
      const index = (await readManifest(d, desc)) as ImageIndex;
      for (const m of index.manifests) {
        if (m.platform && !matcher.match(platforms.normalize(m.platform))) continue;
        await visit(m, m.platform);
      }
    }
  };
  await visit(target, target.platform);
  found.sort((a, b) => (a.platform && b.platform && matcher.less(a.platform, b.platform) ? -1 : 0));
  const first = found[0];
  if (!first)
    throw Object.assign(new Error(`manifest ${target.digest}: no match for platform: not found`), {
      notFound: true,
    });
  return first;
}

/** Size of what the image needs for `matcher` (containerd's Image.Size): the target, the one
 *  manifest chosen, its config and layers. Nothing missing is counted as 0. */
export async function imageSize(d: Daemon, target: Descriptor, matcher: PlatformMatcher): Promise<number> {
  let size = target.size;
  const { desc, manifest } = await manifestFor(d, target, matcher);
  if (desc.digest !== target.digest) size += desc.size;
  size += manifest.config.size;
  for (const l of manifest.layers) size += l.size;
  return size;
}

/** Every platform the image offers (containerd's images.Platforms). */
export async function imagePlatforms(d: Daemon, target: Descriptor): Promise<Platform[]> {
  const out: Platform[] = [];
  const visit = async (desc: Descriptor): Promise<void> => {
    if (desc.platform && isManifestType(desc.mediaType)) {
      out.push(platforms.normalize(desc.platform));
      return;
    }
    if (isManifestType(desc.mediaType)) {
      const m = (await readManifest(d, desc)) as ImageManifest;
      out.push(platforms.normalize(platformOf(await readConfig(d, m.config))));
    } else if (isIndexType(desc.mediaType)) {
      for (const m of ((await readManifest(d, desc)) as ImageIndex).manifests) await visit(m);
    }
  };
  await visit(target);
  return out;
}

export const platformList = (ps: Platform[]) => [...new Set(ps.map(platforms.format))].sort();

export interface CheckResult {
  available: boolean;
  required: Descriptor[];
  present: Descriptor[];
  missing: Descriptor[];
}

/** containerd's images.Check: whether the manifest for the platform and its blobs are stored. */
export async function checkImage(
  d: Daemon,
  target: Descriptor,
  matcher: PlatformMatcher,
): Promise<CheckResult> {
  let manifest: ImageManifest;
  try {
    manifest = (await manifestFor(d, target, matcher)).manifest;
  } catch (e) {
    if (isNotFound(e) || (e as { notFound?: boolean }).notFound) {
      return { available: false, required: [target], present: [], missing: [target] };
    }
    throw e;
  }
  const required = [manifest.config, ...manifest.layers];
  const present: Descriptor[] = [];
  const missing: Descriptor[] = [];
  for (const desc of required) ((await hasContent(d, desc.digest)) ? present : missing).push(desc);
  return { available: true, required, present, missing };
}

/** The top chain ID of the image for `matcher`, from its config's diff IDs. */
export async function imageChainId(d: Daemon, target: Descriptor, matcher: PlatformMatcher) {
  const { manifest } = await manifestFor(d, target, matcher);
  const config = await readConfig(d, manifest.config);
  const ids = chainIds(config.rootfs?.diff_ids ?? []);
  return { chainId: ids.at(-1) ?? "", manifest, config };
}

/** Client-side unpack, as Go ctr 1.6 does it against containerd: for each layer whose chain ID
 *  is not yet a snapshot, Snapshots.Prepare (key `extract-<unique> <chainID>`), Diff.Apply into
 *  its mounts, check the applied digest against the config's diff ID, Snapshots.Commit as the
 *  chain ID. Then the layer gets its `containerd.io/uncompressed` label and the config a
 *  `containerd.io/gc.ref.snapshot.<snapshotter>` label, so the collector keeps the snapshots. */
import { Diff } from "@bunkerd/proto/containerd/services/diff/v1/diff_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import type { Descriptor, ImageManifest } from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { isAlreadyExists, isNotFound } from "../cli/errors.ts";
import { setLabels } from "./content.ts";
import type { ImageConfig } from "./walk.ts";
import { chainIds, Label } from "@bunkerd/registry";

export interface UnpackOptions {
  snapshotter: string;
  /** Called as each layer starts and ends unpacking. */
  onLayer?: (layer: Descriptor, state: "unpacking" | "done" | "exists") => void;
  signal?: AbortSignal;
}

const unique = () => `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;

export async function unpackImage(
  d: Daemon,
  manifest: ImageManifest,
  config: ImageConfig,
  o: UnpackOptions,
): Promise<string> {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(
      `mismatched image rootfs and manifest layers: ${diffIds.length} diff ids, ${manifest.layers.length} layers`,
    );
  }
  const chain = chainIds(diffIds);
  const snapshots = d.client(Snapshots);
  const diff = d.client(Diff);
  const { snapshotter } = o;
  let parent = "";
  for (const [i, layer] of manifest.layers.entries()) {
    const chainId = chain[i]!;
    const exists = await snapshots.stat({ snapshotter, key: chainId }).then(
      () => true,
      (e) => (isNotFound(e) ? false : Promise.reject(e)),
    );
    if (exists) {
      o.onLayer?.(layer, "exists");
      parent = chainId;
      continue;
    }
    o.onLayer?.(layer, "unpacking");
    const key = `extract-${unique()} ${chainId}`;
    const { mounts } = await snapshots.prepare({
      snapshotter,
      key,
      parent,
      labels: { "containerd.io/snapshot.ref": chainId },
    });
    try {
      const { applied } = await diff.apply(
        { diff: { mediaType: layer.mediaType, digest: layer.digest, size: BigInt(layer.size) }, mounts },
        { signal: o.signal },
      );
      if (applied?.digest !== diffIds[i]) {
        throw new Error(`wrong diff id calculated on extraction "${diffIds[i]}": got ${applied?.digest}`);
      }
      try {
        await snapshots.commit({ snapshotter, name: chainId, key, labels: {} });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    } finally {
      // Committed (the key is gone) or failed: either way the active snapshot goes.
      await snapshots.remove({ snapshotter, key }).catch(() => {});
    }
    await setLabels(d, layer.digest, { [Label.uncompressed]: diffIds[i]! });
    o.onLayer?.(layer, "done");
    parent = chainId;
  }
  const top = chain.at(-1) ?? "";
  if (top) await setLabels(d, manifest.config.digest, { [`${Label.gcSnapshot}${snapshotter}`]: top });
  return top;
}

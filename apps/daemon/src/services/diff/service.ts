/** containerd.services.diff.v1.Diff: Apply unpacks a layer blob of the caller's namespace into
 *  the mounts it names; Diff makes a layer from two mount sets and stores it as a blob.
 *  The differ reads blobs straight from their files; only paths and descriptors cross ports. */
import { join } from "node:path";
import { type CallContext, invalidArgument, type ServiceHandlers } from "@bunkerd/plugin-api";
import type { Diff } from "@bunkerd/proto/containerd/services/diff/v1/diff_pb.ts";
import type { NamespacedContent } from "../content/store.ts";

export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** The walking differ's plugin instance (plugins/differ). */
export interface Differ {
  apply(
    desc: Descriptor,
    mounts: Mount[],
    opts: { blobPath: string; tmpMountsDir: string },
  ): Promise<Descriptor>;
  compare(
    lower: Mount[],
    upper: Mount[],
    opts: { mediaType?: string; tmpMountsDir: string; write: string },
  ): Promise<{ digest: string; size: number; diffID: string; mediaType: string }>;
}

type ContentProxy = Pick<NamespacedContent, "blobPath" | "importFile">;

const mountsOf = (ms: { type: string; source: string; target: string; options: string[] }[]): Mount[] =>
  ms.map((m) => ({ type: m.type, source: m.source, target: m.target || undefined, options: [...m.options] }));

/** containerd's label naming a compressed layer's uncompressed digest. */
const UNCOMPRESSED_LABEL = "containerd.io/uncompressed";

export function diffService(
  differ: Differ,
  content: ContentProxy,
  daemonRoot: string,
): ServiceHandlers<typeof Diff> {
  const tmpMountsDir = join(daemonRoot, "tmpmounts");
  return {
    async apply(req, call: CallContext) {
      const d = req.diff;
      if (!d?.digest) throw invalidArgument("diff descriptor is required");
      const { path } = await content.blobPath(call.namespace!, d.digest);
      const applied = await differ.apply(
        { mediaType: d.mediaType, digest: d.digest, size: Number(d.size) },
        mountsOf(req.mounts),
        { blobPath: path, tmpMountsDir },
      );
      return {
        applied: { mediaType: applied.mediaType, digest: applied.digest, size: BigInt(applied.size) },
      };
    },
    async diff(req, call: CallContext) {
      const dest = join(tmpMountsDir, `diff-${crypto.randomUUID()}.tar`);
      try {
        const out = await differ.compare(mountsOf(req.left), mountsOf(req.right), {
          mediaType: req.mediaType || undefined,
          tmpMountsDir,
          write: dest,
        });
        const ref = req.ref || `diff-${out.digest}`;
        const labels = { ...req.labels, [UNCOMPRESSED_LABEL]: out.diffID };
        const stored = await content.importFile(call.namespace!, dest, {
          ref,
          expected: out.digest,
          labels,
          lease: call.lease,
        });
        return { diff: { mediaType: out.mediaType, digest: stored.digest, size: BigInt(stored.size) } };
      } finally {
        await Bun.file(dest)
          .delete()
          .catch(() => {});
      }
    },
  };
}

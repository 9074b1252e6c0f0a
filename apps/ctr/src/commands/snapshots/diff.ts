/** `bctr snapshots diff <idA> [<idB>]`: the layer (a tar, gzip by default) between two
 *  snapshots, written to stdout; idB defaults to idA's parent. Committed snapshots are viewed
 *  through temporary views. The blob is written under a lease that is dropped afterwards
 *  (so it is collected) unless --keep. */
import { Diff } from "@bunkerd/proto/containerd/services/diff/v1/diff_pb.ts";
import { Kind, Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import type { Mount } from "@bunkerd/proto/containerd/types/mount_pb.ts";
import { defineCommand } from "citty";
import { type Daemon, daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need, parseLabels, repeated } from "../../cli/flags.ts";
import { readContent } from "../../image/content.ts";
import { state } from "./state.ts";

async function diffTo(
  d: Daemon,
  args: { idA: string; idB?: string; mediaType: string; ref?: string },
  labels: Record<string, string>,
) {
  const snapshots = d.client(Snapshots);
  const snapshotter = state.snapshotter;
  const views: string[] = [];
  const mountsOf = async (key: string): Promise<Mount[]> => {
    const { info } = await about(`snapshot ${key}`, snapshots.stat({ snapshotter, key }));
    if (info!.kind === Kind.ACTIVE) return (await snapshots.mounts({ snapshotter, key })).mounts;
    const view = `bctr-diff-${Date.now()}-${views.length} ${key}`;
    views.push(view);
    return (await snapshots.view({ snapshotter, key: view, parent: key, labels: {} })).mounts;
  };
  try {
    const right = await mountsOf(args.idA);
    let left: Mount[] = [];
    if (args.idB) left = await mountsOf(args.idB);
    else {
      const { info } = await snapshots.stat({ snapshotter, key: args.idA });
      if (info?.parent) left = await mountsOf(info.parent);
    }
    const { diff } = await d
      .client(Diff)
      .diff({ left, right, mediaType: args.mediaType, ref: args.ref ?? "", labels });
    for await (const chunk of readContent(d, diff!.digest)) {
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
    }
  } finally {
    for (const v of views) await snapshots.remove({ snapshotter, key: v }).catch(() => {});
  }
}

export default defineCommand({
  meta: {
    name: "diff",
    description: "get the diff of two snapshots. the default second snapshot is the first snapshot's parent.",
  },
  args: {
    idA: { type: "positional", required: false, description: "<idA>" },
    idB: { type: "positional", required: false, description: "[<idB>]" },
    "media-type": {
      type: "string",
      description: "media type to use for creating diff",
      default: "application/vnd.oci.image.layer.v1.tar+gzip",
    },
    ref: { type: "string", description: "content upload reference to use" },
    keep: { type: "boolean", description: "keep diff content. up to creator to delete it." },
    label: { type: "string", description: "labels to attach to the image (repeatable)" },
  },
  async run({ args, rawArgs }) {
    const idA = need(args.idA, "snapshot id");
    const labels = parseLabels(repeated(rawArgs, "label"));
    const o = { idA, idB: args.idB, mediaType: args["media-type"], ref: args.ref };
    if (args.keep) await diffTo(daemon(), o, labels);
    else await daemon().withLease((leased) => diffTo(leased, o, labels));
  },
});

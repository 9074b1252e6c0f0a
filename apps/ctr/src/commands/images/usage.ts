/** `bctr images usage <ref>` (Go ctr 1.7): the usage of each snapshot of the image's chain,
 *  top first. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, describeError, isNotFound } from "../../cli/errors.ts";
import { formatArgs, need, snapshotterArgs, snapshotterOf } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";
import { bytes } from "../../cli/units.ts";
import { imageChainId, toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "usage", description: "display usage of snapshots for a given image ref" },
  args: {
    ref: { type: "positional", required: false, description: "<ref>" },
    ...snapshotterArgs,
    ...formatArgs,
  },
  async run({ args }) {
    const ref = need(args.ref, "please provide an image reference");
    const snapshotter = snapshotterOf(args.snapshotter);
    const d = daemon();
    const { image } = await about(`image "${ref}"`, d.client(Images).get({ name: ref }));
    const { chainId } = await imageChainId(
      d,
      toDescriptor(image!.target!),
      platforms.only(platforms.defaultSpec()),
    );
    const snapshots = d.client(Snapshots);
    const rows: { key: string; size: number; inodes: number }[] = [];
    for (let key = chainId; key; ) {
      try {
        const u = await snapshots.usage({ snapshotter, key });
        rows.push({ key, size: Number(u.size), inodes: Number(u.inodes) });
        key = (await snapshots.stat({ snapshotter, key })).info?.parent ?? "";
      } catch (e) {
        if (isNotFound(e) && key === chainId) {
          throw new Error(`image ${ref} isn't unpacked in snapshotter ${snapshotter}`);
        }
        throw new Error(`failed to get usage for snapshot ${key}: ${describeError(e)}`);
      }
    }
    printList(rows, {
      columns: [
        col("KEY", (r) => r.key),
        col("SIZE", (r) => bytes(r.size), { json: (r) => r.size }),
        col("INODES", (r) => String(r.inodes), { json: (r) => r.inodes }),
      ],
      format: args.format,
    });
  },
});

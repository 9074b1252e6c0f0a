/** `bctr images check`: REF TYPE DIGEST STATUS SIZE UNPACKED, as Go ctr: whether the host
 *  platform's manifest and blobs are stored, and whether its top snapshot exists. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { CommandError, describeError } from "../../cli/errors.ts";
import { formatArgs, quietArg, snapshotterArgs, snapshotterOf } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";
import { bytes } from "../../cli/units.ts";
import { checkImage, imageChainId, toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "check", description: "check existing images to ensure all content is available locally" },
  args: {
    ...quietArg("print only the ready image refs (fully downloaded and unpacked)"),
    ...snapshotterArgs,
    ...formatArgs,
  },
  async run({ args }) {
    const d = daemon();
    const snapshotter = snapshotterOf(args.snapshotter);
    const matcher = platforms.only(platforms.defaultSpec());
    const { images } = await d.client(Images).list({ filters: args._ });
    images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let failed: string | undefined;
    const rows = await Promise.all(
      images.map(async (image) => {
        const target = toDescriptor(image.target!);
        let status: string;
        let size = "-";
        let sizes = { present: 0, required: 0 };
        let ready = false;
        try {
          const c = await checkImage(d, target, matcher);
          sizes = {
            present: c.present.reduce((n, x) => n + x.size, 0),
            required: c.required.reduce((n, x) => n + x.size, 0),
          };
          status = c.available
            ? `${c.missing.length ? "incomplete" : "complete"} (${c.present.length}/${c.required.length})`
            : `unavailable (${c.present.length}/?)`;
          size = c.available
            ? `${bytes(sizes.present)}/${bytes(sizes.required)}`
            : `${bytes(sizes.present)}/?`;
          ready = c.available && !c.missing.length;
        } catch (e) {
          failed ??= `unable to check ${image.name}: ${describeError(e)}`;
          status = "error";
        }
        let unpacked = false;
        try {
          const { chainId } = await imageChainId(d, target, matcher);
          if (chainId) {
            await d.client(Snapshots).stat({ snapshotter, key: chainId });
            unpacked = true;
          }
        } catch {}
        return { image, target, status, size, sizes, unpacked, ready: ready && unpacked };
      }),
    );
    if (args.quiet && args.format !== "json") {
      for (const r of rows) if (r.ready) process.stdout.write(`${r.image.name}\n`);
    } else {
      printList(rows, {
        columns: [
          col("REF", (r) => r.image.name, { key: "name" }),
          col("TYPE", (r) => r.target.mediaType),
          col("DIGEST", (r) => r.target.digest),
          col("STATUS", (r) => r.status),
          col("SIZE", (r) => r.size, { json: (r) => r.sizes }),
          col("UNPACKED", (r) => String(r.unpacked), { json: (r) => r.unpacked }),
        ],
        format: args.format,
        trailingTab: "header",
      });
    }
    if (failed) throw new CommandError(failed);
  },
});

/** `bctr images ls [-q] [filter…]`: REF TYPE DIGEST SIZE PLATFORMS LABELS, as Go ctr; SIZE is
 *  what the host platform needs, PLATFORMS every platform the image offers. */
import { Images, type Image } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, labelList, printList } from "../../cli/output.ts";
import { bytes } from "../../cli/units.ts";
import { imagePlatforms, imageSize, platformList, toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "list", description: "list images known to containerd" },
  args: { ...quietArg("print only the image refs"), ...formatArgs },
  async run({ args }) {
    const d = daemon();
    const { images } = await d.client(Images).list({ filters: args._ });
    images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (args.quiet && args.format !== "json") {
      for (const i of images) process.stdout.write(`${i.name}\n`);
      return;
    }
    const matcher = platforms.only(platforms.defaultSpec());
    const rows = await Promise.all(
      images.map(async (image: Image) => {
        const target = toDescriptor(image.target ?? { mediaType: "", digest: "", size: 0n });
        const [size, plats] = await Promise.all([
          imageSize(d, target, matcher).catch(() => 0),
          imagePlatforms(d, target)
            .then(platformList)
            .catch(() => [] as string[]),
        ]);
        return { image, target, size, platforms: plats };
      }),
    );
    printList(rows, {
      columns: [
        col("REF", (r) => r.image.name, { key: "name" }),
        col("TYPE", (r) => r.target.mediaType),
        col("DIGEST", (r) => r.target.digest),
        col("SIZE", (r) => bytes(r.size), { json: (r) => r.size }),
        col("PLATFORMS", (r) => r.platforms.join(",") || "-", { json: (r) => r.platforms }),
        col("LABELS", (r) => labelList(r.image.labels, "-"), { json: (r) => r.image.labels }),
      ],
      id: (r) => r.image.name,
      format: args.format,
    });
  },
});

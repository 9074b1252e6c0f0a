/** `bctr snapshots unpack [--snapshotter S] DIGEST`: as Go ctr 1.6, finds the image whose target
 *  is DIGEST and unpacks it (host platform) into the snapshotter, client-side: prints
 *  `unpacking DIGEST (MEDIATYPE)...done`; "manifest not found" when no image has that target. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { CommandError, UsageError } from "../../cli/errors.ts";
import { need, snapshotterArgs } from "../../cli/flags.ts";
import { unpackImage } from "../../image/unpack.ts";
import { manifestFor, readConfig, toDescriptor } from "../../image/walk.ts";
import { state } from "./state.ts";

export default defineCommand({
  meta: { name: "unpack", description: "unpack applies layers from a manifest to a snapshot" },
  args: {
    ...snapshotterArgs,
    digest: { type: "positional", required: false, description: "<digest>" },
  },
  async run({ args }) {
    const digest = need(args.digest, "digest");
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest))
      throw new UsageError(`invalid checksum digest format: "${digest}"`);
    const snapshotter = args.snapshotter || state.snapshotter;
    await daemon().withLease(async (d) => {
      const { images } = await d.client(Images).list({});
      const image = images.find((i) => i.target?.digest === digest);
      if (!image?.target) throw new CommandError("manifest not found");
      const target = toDescriptor(image.target);
      process.stdout.write(`unpacking ${digest} (${target.mediaType})...`);
      try {
        const { manifest } = await manifestFor(d, target, platforms.only(platforms.defaultSpec()));
        const config = await readConfig(d, manifest.config);
        await unpackImage(d, manifest, config, { snapshotter });
      } catch (e) {
        process.stdout.write("\n");
        throw e;
      }
      process.stdout.write("done\n");
    });
  },
});

import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, isAlreadyExists } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "tag", description: "tag an image" },
  args: {
    source: {
      type: "positional",
      required: false,
      description: "<source_ref> <target_ref> [<target_ref>, ...]",
    },
    force: {
      type: "boolean",
      description: "force target_ref to be created, regardless if it already exists",
    },
  },
  async run({ args }) {
    const source = need(args.source, "source reference");
    const targets = args._.slice(1);
    need(targets[0], "target reference");
    const images = daemon().client(Images);
    const { image } = await about(`image "${source}"`, images.get({ name: source }));
    for (const name of targets) {
      const copy = { name, labels: image!.labels, target: image!.target };
      try {
        await images.create({ image: copy });
      } catch (e) {
        if (!(isAlreadyExists(e) && args.force)) throw e;
        await images.delete({ name, sync: false });
        await images.create({ image: copy });
      }
      write(`${name}\n`);
    }
  },
});

/** Sets (`k=v`) and clears (`k=`) image labels, or replaces them all (`-r`); prints the labels. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need, parseLabels } from "../../cli/flags.ts";
import { labelList, write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "label", description: "set and clear labels for an image" },
  args: {
    name: { type: "positional", required: false, description: "<name> [<key>=<value>, ...]" },
    "replace-all": { type: "boolean", alias: "r", description: "replace all labels" },
  },
  async run({ args }) {
    const name = need(args.name, "image name");
    const labels = parseLabels(args._.slice(1));
    const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ""));
    const paths = args["replace-all"] ? ["labels"] : Object.keys(labels).map((k) => `labels.${k}`);
    const { image } = await about(
      `image "${name}"`,
      daemon()
        .client(Images)
        .update({ image: { name, labels: set }, updateMask: { paths } }),
    );
    write(`${labelList(image?.labels)}\n`);
  },
});

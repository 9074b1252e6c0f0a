/** `bctr content fetch [flags] <ref>`: the content of an image into the store and its record,
 *  without unpacking (Go ctr's content fetch). */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need, parseLabels, registryArgs, repeated } from "../../cli/flags.ts";
import { pull } from "../../image/pull.ts";

export default defineCommand({
  meta: { name: "fetch", description: "fetch all content for an image into containerd" },
  args: {
    ref: { type: "positional", required: false, description: "<ref>" },
    ...registryArgs,
    label: { type: "string", description: "labels to attach to the image (repeatable)" },
    platform: { type: "string", description: "Pull content from a specific platform (repeatable)" },
    "all-platforms": { type: "boolean", description: "pull content from all platforms" },
    "all-metadata": { type: "boolean", description: "Pull metadata for all platforms" },
    "metadata-only": { type: "boolean", description: "Pull all metadata including manifests and configs" },
  },
  async run({ args, rawArgs }) {
    const ref = need(args.ref, "please provide an image reference to fetch");
    await pull(daemon(), {
      ...args,
      ref,
      platforms: repeated(rawArgs, "platform"),
      allPlatforms: args["all-platforms"],
      allMetadata: args["all-metadata"],
      metadataOnly: args["metadata-only"],
      labels: parseLabels(repeated(rawArgs, "label")),
    });
  },
});

/** `bctr images pull [flags] <ref>`: fetch, unpack and record an image, with live progress. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import {
  need,
  parseLabels,
  registryArgs,
  repeated,
  snapshotterArgs,
  snapshotterOf,
} from "../../cli/flags.ts";
import { pull } from "../../image/pull.ts";

export default defineCommand({
  meta: { name: "pull", description: "pull an image from a remote" },
  args: {
    ref: { type: "positional", required: false, description: "<ref>" },
    ...registryArgs,
    ...snapshotterArgs,
    label: { type: "string", description: "labels to attach to the image (repeatable)" },
    platform: { type: "string", description: "Pull content from a specific platform (repeatable)" },
    "all-platforms": { type: "boolean", description: "pull content and metadata from all platforms" },
    "all-metadata": { type: "boolean", description: "Pull metadata for all platforms" },
    "print-chainid": { type: "boolean", description: "Print the resulting image's chain ID" },
    "max-concurrent-downloads": {
      type: "string",
      description: "Set the max concurrent downloads for each pull",
    },
    local: { type: "boolean", description: "pull client-side even if the daemon has the Transfer service" },
  },
  async run({ args, rawArgs }) {
    const ref = need(args.ref, "please provide an image reference to pull");
    await pull(daemon(), {
      ...args,
      ref,
      platforms: repeated(rawArgs, "platform"),
      allPlatforms: args["all-platforms"],
      allMetadata: args["all-metadata"],
      labels: parseLabels(repeated(rawArgs, "label")),
      unpack: snapshotterOf(args.snapshotter),
      concurrency: Number(args["max-concurrent-downloads"] ?? 0),
      printChainId: args["print-chainid"],
      local: args.local,
    });
  },
});

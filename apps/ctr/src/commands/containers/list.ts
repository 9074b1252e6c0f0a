/** `bctr containers list [-q] [FILTER...]`: CONTAINER, IMAGE, RUNTIME as Go ctr prints them. */
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "list", description: "list containers" },
  args: {
    filter: { type: "positional", required: false, description: "[<filter>, ...]" },
    ...quietArg("print only the container id"),
    ...formatArgs,
  },
  async run({ args }) {
    const { containers } = await daemon().client(Containers).list({ filters: args._ });
    printList(containers, {
      columns: [
        col("CONTAINER", (c) => c.id, { key: "id" }),
        col("IMAGE", (c) => c.image || "-", { key: "image", json: (c) => c.image }),
        col("RUNTIME", (c) => c.runtime?.name ?? "", { key: "runtime" }),
      ],
      id: (c) => c.id,
      quiet: args.quiet,
      format: args.format,
      writer: { minwidth: 4, tabwidth: 8, padding: 4, padchar: " " },
    });
  },
});

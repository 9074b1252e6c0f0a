import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, labelList, printList } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "list", description: "list namespaces" },
  args: { ...quietArg("print only the namespace name"), ...formatArgs },
  async run({ args }) {
    const { namespaces } = await daemon().client(Namespaces).list({});
    namespaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    printList(namespaces, {
      columns: [
        col("NAME", (n) => n.name),
        col("LABELS", (n) => labelList(n.labels), { json: (n) => n.labels }),
      ],
      id: (n) => n.name,
      quiet: args.quiet,
      format: args.format,
    });
  },
});

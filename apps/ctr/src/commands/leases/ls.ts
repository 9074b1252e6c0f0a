import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, labelList, printList } from "../../cli/output.ts";
import { rfc3339 } from "../../cli/units.ts";

export default defineCommand({
  meta: { name: "list", description: "list all active leases" },
  args: { ...quietArg("print only the lease id"), ...formatArgs },
  async run({ args }) {
    const { leases } = await daemon().client(Leases).list({ filters: args._ });
    leases.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const created = (l: (typeof leases)[number]) => (l.createdAt ? rfc3339(timestampDate(l.createdAt)) : "");
    printList(leases, {
      columns: [
        col("ID", (l) => l.id),
        col("CREATED AT", created),
        col("LABELS", (l) => labelList(l.labels, "-"), { json: (l) => l.labels }),
      ],
      id: (l) => l.id,
      quiet: args.quiet,
      format: args.format,
    });
  },
});

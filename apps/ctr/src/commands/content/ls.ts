import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Content, type Info } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, labelList, printList } from "../../cli/output.ts";
import { TABS } from "../../cli/tabwriter.ts";
import { humanDuration, humanSize } from "../../cli/units.ts";

export async function listContent(filters: string[] = []): Promise<Info[]> {
  const out: Info[] = [];
  for await (const r of daemon().client(Content).list({ filters })) out.push(...r.info);
  return out;
}

export default defineCommand({
  meta: { name: "list", description: "list all blobs in the store" },
  args: { ...quietArg("print only the blob digest"), ...formatArgs },
  async run({ args }) {
    const infos = await listContent(args._);
    const now = Date.now();
    const created = (i: Info) => (i.createdAt ? timestampDate(i.createdAt) : new Date(0));
    printList(infos, {
      columns: [
        col("DIGEST", (i) => i.digest),
        col("SIZE", (i) => humanSize(Number(i.size)), { json: (i) => Number(i.size) }),
        col("AGE", (i) => humanDuration(now - created(i).getTime()), {
          json: (i) => created(i).toISOString(),
        }),
        col("LABELS", (i) => labelList(i.labels), { json: (i) => i.labels }),
      ],
      id: (i) => i.digest,
      quiet: args.quiet,
      format: args.format,
      writer: TABS,
      trailingTab: false,
    });
  },
});

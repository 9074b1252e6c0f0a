import { Snapshots, type Info } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";
import { kindName, state } from "./state.ts";

/** Every snapshot, as the server streams them. */
export async function listSnapshots(filters: string[] = []): Promise<Info[]> {
  const out: Info[] = [];
  for await (const r of daemon().client(Snapshots).list({ snapshotter: state.snapshotter, filters })) {
    out.push(...r.info);
  }
  return out;
}

export default defineCommand({
  meta: { name: "list", description: "list snapshots" },
  args: { ...quietArg("print only the snapshot keys"), ...formatArgs },
  async run({ args }) {
    const infos = await listSnapshots(args._);
    printList(infos, {
      columns: [
        col("KEY", (i) => i.name),
        col("PARENT", (i) => i.parent),
        col("KIND", (i) => kindName(i.kind)),
        ...(args.format === "json" ? [col("LABELS", () => "", { json: (i: Info) => i.labels })] : []),
      ],
      id: (i) => i.name,
      quiet: args.quiet,
      format: args.format,
    });
  },
});

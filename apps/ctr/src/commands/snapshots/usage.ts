import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";
import { bytes } from "../../cli/units.ts";
import { listSnapshots } from "./ls.ts";
import { state } from "./state.ts";

export default defineCommand({
  meta: { name: "usage", description: "usage snapshots" },
  args: { b: { type: "boolean", description: "display size in bytes" }, ...formatArgs },
  async run({ args }) {
    const snapshots = daemon().client(Snapshots);
    const keys = args._.length ? args._ : (await listSnapshots()).map((i) => i.name);
    const rows = await Promise.all(
      keys.map(async (key) => {
        const u = await snapshots.usage({ snapshotter: state.snapshotter, key });
        return { key, size: Number(u.size), inodes: Number(u.inodes) };
      }),
    );
    printList(rows, {
      columns: [
        col("KEY", (r) => r.key),
        col("SIZE", (r) => (args.b ? String(r.size) : bytes(r.size)), { json: (r) => r.size }),
        col("INODES", (r) => String(r.inodes), { json: (r) => r.inodes }),
      ],
      format: args.format,
    });
  },
});

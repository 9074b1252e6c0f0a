import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { mountArgs } from "./prepare.ts";
import { gcRoot, printMounts, printMountsJSON, state } from "./state.ts";

export default defineCommand({
  meta: { name: "view", description: "create a read-only snapshot from a committed snapshot" },
  args: mountArgs,
  async run({ args }) {
    const key = need(args.key, "snapshot key");
    const parent = args._[1] ?? "";
    const { mounts } = await daemon()
      .client(Snapshots)
      .view({ snapshotter: state.snapshotter, key, parent, labels: gcRoot() });
    if (args.target) printMounts(args.target, mounts);
    if (args.mounts) printMountsJSON(mounts);
  },
});

import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { gcRoot, printMounts, printMountsJSON, state } from "./state.ts";

/** prepare and view differ only in the call. */
export const mountArgs = {
  key: { type: "positional", required: false, description: "<key> [<parent>]" },
  target: { type: "string", alias: "t", description: "mount target path, will print mount, if provided" },
  mounts: { type: "boolean", description: "Print out snapshot mounts as JSON" },
} as const;

export default defineCommand({
  meta: { name: "prepare", description: "prepare a snapshot from a committed snapshot" },
  args: mountArgs,
  async run({ args }) {
    const key = need(args.key, "snapshot key");
    const parent = args._[1] ?? "";
    const { mounts } = await daemon()
      .client(Snapshots)
      .prepare({ snapshotter: state.snapshotter, key, parent, labels: gcRoot() });
    if (args.target) printMounts(args.target, mounts);
    if (args.mounts) printMountsJSON(mounts);
  },
});

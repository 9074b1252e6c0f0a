import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { printMounts, state } from "./state.ts";

export default defineCommand({
  meta: { name: "mounts", description: "mount gets mount commands for the snapshots" },
  args: {
    target: { type: "positional", required: false, description: "<target>" },
    key: { type: "positional", required: false, description: "<key>" },
  },
  async run({ args }) {
    const target = need(args.target, "target");
    const key = need(args.key, "snapshot key");
    const { mounts } = await about(
      `snapshot ${key}`,
      daemon().client(Snapshots).mounts({ snapshotter: state.snapshotter, key }),
    );
    printMounts(target, mounts);
  },
});

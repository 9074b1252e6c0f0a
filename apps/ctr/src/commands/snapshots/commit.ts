import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { gcRoot, state } from "./state.ts";

export default defineCommand({
  meta: { name: "commit", description: "commit an active snapshot into the provided name" },
  args: {
    key: { type: "positional", required: false, description: "<key>" },
    active: { type: "positional", required: false, description: "<active>" },
  },
  async run({ args }) {
    const name = need(args.key, "name");
    const key = need(args.active, "active snapshot key");
    await daemon().client(Snapshots).commit({ snapshotter: state.snapshotter, name, key, labels: gcRoot() });
  },
});

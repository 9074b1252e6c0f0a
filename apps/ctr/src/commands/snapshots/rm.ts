import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { CommandError, describeError } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { state } from "./state.ts";

export default defineCommand({
  meta: { name: "delete", description: "remove snapshots" },
  args: { key: { type: "positional", required: false, description: "<key> [<key>, ...]" } },
  async run({ args }) {
    need(args.key, "snapshot key");
    const snapshots = daemon().client(Snapshots);
    for (const key of args._) {
      try {
        await snapshots.remove({ snapshotter: state.snapshotter, key });
      } catch (e) {
        throw new CommandError(`failed to remove "${key}": ${describeError(e)}`);
      }
    }
  },
});

import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { formatArgs, need } from "../../cli/flags.ts";
import { printJSON } from "../../cli/output.ts";
import { infoJSON, state } from "./state.ts";

export default defineCommand({
  meta: { name: "info", description: "get info about a snapshot" },
  args: { key: { type: "positional", required: false, description: "<key>" }, ...formatArgs },
  async run({ args }) {
    const key = need(args.key, "snapshot key");
    const { info } = await about(
      `snapshot ${key}`,
      daemon().client(Snapshots).stat({ snapshotter: state.snapshotter, key }),
    );
    printJSON(infoJSON(info!));
  },
});

/** Sets (`k=v`) and clears (`k=`) snapshot labels; prints the labels after the update. */
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need, parseLabels } from "../../cli/flags.ts";
import { labelList, write } from "../../cli/output.ts";
import { state } from "./state.ts";

export default defineCommand({
  meta: { name: "label", description: "add labels to content" },
  args: { key: { type: "positional", required: false, description: "<name> [<label>=<value> ...]" } },
  async run({ args }) {
    const name = need(args.key, "snapshot key");
    const labels = parseLabels(args._.slice(1));
    const paths = Object.keys(labels).map((k) => `labels.${k}`);
    const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ""));
    const { info } = await daemon()
      .client(Snapshots)
      .update({ snapshotter: state.snapshotter, info: { name, labels: set }, updateMask: { paths } });
    write(`${labelList(info?.labels)}\n`);
  },
});

/** Sets labels on a namespace; `key=` clears one. Prints the labels set, as Go ctr does. */
import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need, parseLabels } from "../../cli/flags.ts";

export default defineCommand({
  meta: { name: "label", description: "set and clear labels for a namespace" },
  args: { name: { type: "positional", required: false, description: "<name> [<key>=<value>, ...]" } },
  async run({ args }) {
    const name = need(args.name, "namespace name");
    const labels = parseLabels(args._.slice(1));
    const paths = Object.keys(labels).map((k) => `labels.${k}`);
    const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ""));
    await daemon()
      .client(Namespaces)
      .update({ namespace: { name, labels: set }, updateMask: { paths } });
  },
});

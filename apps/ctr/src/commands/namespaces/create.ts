import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need, parseLabels } from "../../cli/flags.ts";

export default defineCommand({
  meta: { name: "create", description: "create a new namespace" },
  args: {
    name: { type: "positional", required: false, description: "<name> [<key>=<value>]" },
  },
  async run({ args }) {
    const name = need(args.name, "namespace name");
    const labels = parseLabels(args._.slice(1));
    await daemon().client(Namespaces).create({ namespace: { name, labels } });
  },
});

/** `bctr containers label ID [key=value...]`: sets labels (an empty value clears one) and
 *  prints the container's labels after the change. */
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";
import { labelArgs } from "../run/flags.ts";

export default defineCommand({
  meta: { name: "label", description: "set and clear labels for a container" },
  args: { container: { type: "positional", required: false, description: "CONTAINER [<key>=<value>, ...]" } },
  async run({ args }) {
    const id = need(args._[0], "container id");
    const labels = labelArgs(args._.slice(1));
    const d = daemon();
    // No labels named: show them (an Update without field paths would replace every field).
    const { container } = Object.keys(labels).length
      ? await d.client(Containers).update({
          container: { id, labels },
          updateMask: { paths: Object.keys(labels).map((k) => `labels.${k}`) },
        })
      : await d.client(Containers).get({ id });
    const set = container?.labels ?? {};
    write(
      `${Object.keys(set)
        .sort()
        .map((k) => `${k}=${set[k]}`)
        .join(",")}\n`,
    );
  },
});

/** `bctr tasks resume CONTAINER`. */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";

export default defineCommand({
  meta: { name: "resume", description: "resume a paused container" },
  args: { container: { type: "positional", required: false, description: "CONTAINER" } },
  async run({ args }) {
    const id = need(args.container, "container id");
    await daemon().client(Tasks).resume({ containerId: id });
  },
});

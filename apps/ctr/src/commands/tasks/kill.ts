/** `bctr tasks kill [-s SIGNAL] [--all | --exec-id ID] CONTAINER`: the signal, by default the
 *  container's stop signal (image config label) or SIGTERM. */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { UsageError } from "../../cli/errors.ts";
import { STOP_SIGNAL_LABEL } from "../run/container.ts";
import { loadContainer, parseSignal } from "./task.ts";

export default defineCommand({
  meta: { name: "kill", description: "signal a container (default: SIGTERM)" },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER" },
    signal: { type: "string", alias: "s", description: "signal to send to the container" },
    "exec-id": { type: "string", description: "process ID to kill" },
    all: { type: "boolean", alias: "a", description: "send signal to all processes inside the container" },
  },
  async run({ args }) {
    const id = need(args.container, "container id");
    const execId = args["exec-id"] ?? "";
    if (args.all && execId) throw new UsageError("specify an exec-id or all; not both");
    const d = daemon();
    const { container } = await loadContainer(d, id);
    const signal = parseSignal(args.signal || container.labels[STOP_SIGNAL_LABEL] || "SIGTERM");
    await d.client(Tasks).kill({ containerId: id, execId, signal, all: !!args.all });
  },
});

/** `bctr tasks list [-q]`: TASK, PID, STATUS as Go ctr prints them. */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, quietArg } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";

export const statusName = (s: Status) => Status[s] ?? "UNKNOWN";

export default defineCommand({
  meta: { name: "list", description: "list tasks" },
  args: { ...quietArg("print only the task id"), ...formatArgs },
  async run({ args }) {
    const { tasks } = await daemon().client(Tasks).list({ filter: "" });
    printList(tasks, {
      columns: [
        col("TASK", (t) => t.id, { key: "id" }),
        col("PID", (t) => String(t.pid), { key: "pid", json: (t) => t.pid }),
        col("STATUS", (t) => statusName(t.status), { key: "status" }),
      ],
      id: (t) => t.id,
      quiet: args.quiet,
      format: args.format,
      writer: { minwidth: 4, tabwidth: 8, padding: 4, padchar: " " },
      trailingTab: "header",
    });
  },
});

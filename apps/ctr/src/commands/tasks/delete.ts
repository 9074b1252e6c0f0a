/** `bctr tasks delete [-f] [--exec-id ID] CONTAINER...`: deletes stopped tasks (with -f a
 *  running one is killed first), or one exec process. A non-zero exit is reported as Go ctr
 *  does; the FIFOs our runs left for the task are removed. */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { describeError, UsageError } from "../../cli/errors.ts";
import { deleteTask, waitExit } from "./task.ts";

export default defineCommand({
  meta: { name: "delete", description: "delete one or more tasks" },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER [CONTAINER, ...]" },
    force: { type: "boolean", alias: "f", description: "force delete task process" },
    "exec-id": { type: "string", description: "process ID to kill" },
  },
  async run({ args }) {
    const ids = args._;
    if (ids.length === 0) throw new UsageError("container id must be provided");
    const d = daemon();
    const tasks = d.client(Tasks);
    const execId = args["exec-id"];
    if (execId) {
      if (ids.length > 1) throw new UsageError("specify an exec-id for only one task");
      const r = await tasks.deleteProcess({ containerId: ids[0]!, execId });
      if (r.exitStatus !== 0)
        process.stderr.write(`bctr: task ${ids[0]} exit with non-zero exit code ${r.exitStatus}\n`);
      return;
    }
    let failed: unknown;
    for (const id of ids) {
      try {
        const { process: p } = await tasks.get({ containerId: id });
        const status = p?.status ?? Status.UNKNOWN;
        if (args.force && status !== Status.STOPPED && status !== Status.CREATED) {
          // -f: kill the task and every process in it, and wait for the exit before deleting.
          const exited = waitExit(d, id);
          await tasks.kill({ containerId: id, execId: "", signal: 9, all: true });
          await exited;
        } else if (status !== Status.STOPPED && status !== Status.CREATED && status !== Status.UNKNOWN) {
          throw new Error(
            `task must be stopped before deletion: ${Status[status]?.toLowerCase()}: failed precondition`,
          );
        }
        const r = await deleteTask(d, id);
        if (r.exitStatus !== 0)
          process.stderr.write(`bctr: task ${id} exit with non-zero exit code ${r.exitStatus}\n`);
      } catch (e) {
        failed ??= e;
        process.stderr.write(`bctr: unable to delete ${id}: ${describeError(e, d.address)}\n`);
      }
    }
    if (failed) throw failed;
  },
});

/** `bctr run [flags] IMAGE ID [COMMAND] [ARG...]`: Go ctr's run. The container is created
 *  (snapshot + client-side spec), then its task with our stdio; we wait for the exit, copy
 *  output until the shim closes it, delete the task (and with --rm the container and its
 *  snapshot), and exit with the task's exit code. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { UsageError } from "../../cli/errors.ts";
import { type Console, currentConsole, type TaskIO } from "../../cio/index.ts";
import { removeContainer } from "../containers/remove.ts";
import { deleteTask, exitWith, newTask, startTask } from "../tasks/task.ts";
import { runFlags } from "./container-flags.ts";
import { newContainer } from "./container.ts";
import { cittyArgs, parseFlags } from "./flags.ts";

export default defineCommand({
  meta: { name: "run", description: "run a container" },
  args: cittyArgs(runFlags, { image: "Image|RootFS", id: "ID", command: "[COMMAND] [ARG...]" }),
  async run({ rawArgs }) {
    const { flags, set, args } = parseFlags(runFlags, rawArgs);
    const [ref, id, ...cmd] = args;
    if (!ref) throw new UsageError("image ref must be provided");
    if (!id) throw new UsageError("container id must be provided");
    if (flags.rm && flags.detach) {
      throw new UsageError("flags --detach and --rm cannot be specified together");
    }
    const d = daemon();
    await newContainer(d, { ref, id, args: cmd, flags, set });
    const removeAfter = async () => {
      if (flags.rm) await removeContainer(d, id);
    };

    let con: Console | undefined;
    let io: TaskIO | undefined;
    let pid = 0;
    try {
      if (flags.tty) {
        con = currentConsole();
        con.setRaw();
      }
      ({ io, pid } = await newTask(d, id, {
        console: con,
        nullIO: flags["null-io"],
        logURI: flags["log-uri"],
        fifoDir: flags["fifo-dir"],
        noPivot: flags["no-pivot"],
      }));
    } catch (e) {
      con?.reset();
      await removeAfter().catch(() => {});
      throw e;
    }
    let code: number | undefined;
    try {
      code = await startTask(d, id, io, {
        console: con,
        detach: flags.detach,
        pidFile: flags["pid-file"],
        pid,
      });
    } catch (e) {
      con?.reset();
      io.close();
      if (!flags.detach) {
        await deleteTask(d, id).catch(() => {});
        await removeAfter().catch(() => {});
      }
      throw e;
    }
    if (code === undefined) return;
    await removeAfter();
    await exitWith(code);
  },
});

/** `bctr tasks start [flags] CONTAINER`: a task for a created container, with the terminal
 *  its spec asks for; waits and exits with its code unless detached (Go ctr's tasks start). */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { type Console, currentConsole, type TaskIO } from "../../cio/index.ts";
import { deleteTask, exitWith, loadContainer, newTask, startTask } from "./task.ts";

export default defineCommand({
  meta: { name: "start", description: "start a container that has been created" },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER" },
    "null-io": { type: "boolean", description: "send all IO to /dev/null" },
    "log-uri": { type: "string", description: "log uri" },
    "fifo-dir": { type: "string", description: "directory used for storing IO FIFOs" },
    "pid-file": { type: "string", description: "file path to write the task's pid" },
    detach: {
      type: "boolean",
      alias: "d",
      description: "detach from the task after it has started execution",
    },
  },
  async run({ args }) {
    const id = need(args.container, "container id");
    const d = daemon();
    const { spec } = await loadContainer(d, id);
    let con: Console | undefined;
    let io: TaskIO | undefined;
    let pid = 0;
    try {
      if (spec?.process?.terminal) {
        con = currentConsole();
        con.setRaw();
      }
      ({ io, pid } = await newTask(d, id, {
        console: con,
        nullIO: args["null-io"],
        logURI: args["log-uri"],
        fifoDir: args["fifo-dir"],
      }));
    } catch (e) {
      con?.reset();
      throw e;
    }
    let code: number | undefined;
    try {
      code = await startTask(d, id, io, {
        console: con,
        detach: args.detach,
        pidFile: args["pid-file"],
        pid,
      });
    } catch (e) {
      con?.reset();
      io.close();
      if (!args.detach) await deleteTask(d, id).catch(() => {});
      throw e;
    }
    if (code !== undefined) await exitWith(code);
  },
});

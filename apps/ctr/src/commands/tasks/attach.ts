/** `bctr tasks attach CONTAINER`: our stdio joined to a running task's FIFOs (their paths from
 *  Tasks.Get), until it exits; exits with its code. The FIFOs stay (they are the task's). */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { type Console, currentConsole, fifoIO, handleConsoleResize } from "../../cio/index.ts";
import { exitWith, forwardSignals, waitExit } from "./task.ts";

export default defineCommand({
  meta: { name: "attach", description: "attach to the IO of a running container" },
  args: { container: { type: "positional", required: false, description: "CONTAINER" } },
  async run({ args }) {
    const id = need(args.container, "container id");
    const d = daemon();
    const tasks = d.client(Tasks);
    const { process: p } = await tasks.get({ containerId: id });
    if (!p) throw new Error(`no running task found: task ${id} not found: not found`);
    let con: Console | undefined;
    if (p.terminal) {
      con = currentConsole();
      con.setRaw();
    }
    const io = fifoIO({ stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, terminal: p.terminal }, false);
    try {
      const exited = waitExit(d, id);
      io.start();
      const stop = con
        ? handleConsoleResize(con, (width, height) => tasks.resizePty({ containerId: id, width, height }))
        : forwardSignals(d, id);
      const code = await exited;
      stop();
      await Promise.race([io.wait(), Bun.sleep(2000)]);
      io.close();
      con?.reset();
      await exitWith(code);
    } catch (e) {
      io.close();
      con?.reset();
      throw e;
    }
  },
});

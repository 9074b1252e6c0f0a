/** The long-running shim: child subreaper and reaper of everything below it, the task API on its
 *  ttrpc socket, events to the daemon. `start` runs it detached and waits for the line "ok" (or
 *  an error) on its stdout, which is used for nothing else. It exits after a Shutdown that finds
 *  no task left. */
import { writeSync } from "node:fs";
import { createTtrpcServer } from "@bunkerd/ttrpc";
import { TtrpcPublisher } from "./events.ts";
import type { ShimFlags } from "./flags.ts";
import { openShimLog } from "./log.ts";
import { taskDispatch } from "./service.ts";
// sys/ modules one by one, not through sys/index.ts: that would load the cgroup metrics too.
import { watchOOM } from "./sys/oom.ts";
import { Reaper, setSubreaper } from "./sys/reaper.ts";
import { TaskService } from "./tasks.ts";
import { VERSION } from "./version.ts";

/** Tells `start` how the launch went; after this, stdout is never written again. */
function report(line: string): void {
  try {
    writeSync(1, `${line}\n`);
  } catch {
    // start is gone: nobody to tell.
  }
}

export async function serve(flags: ShimFlags): Promise<void> {
  // A client FIFO or the daemon's log going away must not kill the shim.
  process.on("SIGPIPE", () => {});
  const shimLog = openShimLog(process.cwd(), flags.debug);
  const log = shimLog.log;
  let reaper: Reaper | undefined;
  try {
    if (flags.socket === "") throw new Error("-socket is required to serve");
    setSubreaper();
    reaper = new Reaper();
    reaper.start();
  } catch (e) {
    report(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  const r = reaper;
  const publisher = new TtrpcPublisher(process.env.TTRPC_ADDRESS ?? "", flags.namespace, log);
  let exiting = false;
  const tasks = new TaskService({
    namespace: flags.namespace,
    exec: (cmd, opts) => r.exec(cmd, opts),
    wait: (pid) => r.wait(pid),
    forget: (pid) => r.forget(pid),
    publisher,
    log,
    watchOOM,
    // Loaded on the first Stats: the cgroup metrics descriptors cost start-up time and heap.
    readStats: async (pid) => (await import("./sys/cgroups.ts")).readStats(pid),
    version: VERSION,
    shutdown: () => {
      if (exiting) return;
      exiting = true;
      // After the Shutdown answer has gone out.
      setTimeout(async () => {
        log("info", "shim shutting down");
        await server.close({ timeoutMs: 1000 });
        await publisher.close(2000);
        r.stop();
        shimLog.close();
        process.exit(0);
      }, 1);
    },
  });
  const server = createTtrpcServer({ dispatch: taskDispatch(tasks) });
  try {
    await server.listen(flags.socket);
  } catch (e) {
    report(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  log("info", `shim serving on ${flags.socket} (namespace ${flags.namespace}, pid ${process.pid})`);
  report("ok");
}

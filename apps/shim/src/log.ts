/** The shim's log. containerd creates a FIFO named `log` in the bundle and copies what the shim
 *  writes there into its own log; the shim writes logrus-style text lines. Without a reader (a
 *  shim run by hand or by a test) nothing is written: the shim's stderr is /dev/null anyway.
 *  The FIFO is non-blocking, so a daemon that stops reading can never stall the shim. */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { LogFn } from "./events.ts";

export interface ShimLog {
  log: LogFn;
  close(): void;
}

export function openShimLog(dir: string, debug: boolean): ShimLog {
  let fd: number | undefined;
  try {
    fd = openSync(join(dir, "log"), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    fd = process.env.BUNKERD_SHIM_LOG_STDERR ? 2 : undefined;
  }
  return {
    log(level, msg) {
      if (fd === undefined || (level === "debug" && !debug)) return;
      const line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}\n`;
      try {
        writeSync(fd, line);
      } catch {
        // EAGAIN (full) or EPIPE (reader gone): a lost log line, never a stuck shim.
      }
    },
    close() {
      if (fd !== undefined && fd > 2) closeSync(fd);
      fd = undefined;
    },
  };
}

/** The pid file runc writes for a container's init. Apart from init.ts so that `delete`, a
 *  short-lived process, does not load the process and terminal code with it. */
import { readFileSync } from "node:fs";
import { failedPrecondition } from "@bunkerd/plugin-api";

export const INIT_PID_FILE = "init.pid";

export function readPid(path: string): number {
  const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) throw failedPrecondition(`bad pid in ${path}`);
  return pid;
}

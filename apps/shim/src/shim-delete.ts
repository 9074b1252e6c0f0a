/** `delete`: run by the daemon when a shim died without deleting its task (containerd 1.6 also
 *  runs it after every normal shim exit, inside Tasks.Delete, so it must start fast: no protobuf
 *  code is loaded). Forces the container out of runc (with the root and binary the task was
 *  created with, from options.json), unmounts the rootfs, and answers with a DeleteResponse on
 *  stdout: the task counts as killed (exit status 137) now. */
import { join } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";
import { unmountAll } from "@bunkerd/snapshotters/mount";
import { encodeDeleteResponse } from "./delete-response.ts";
import type { ShimFlags } from "./flags.ts";
import { readOptions } from "./options-file.ts";
import { INIT_PID_FILE, readPid } from "./process/pid.ts";
import { type Exec, Runc } from "./runc.ts";

const SIGKILL = 9;

/** Runs a command to completion; no reaper here, Bun collects its own child. */
const exec: Exec = async (cmd, opts = {}) => {
  const p = Bun.spawn(cmd, {
    cwd: opts.cwd,
    stdin: opts.stdin ?? "ignore",
    stdout: opts.stdout ?? "pipe",
    stderr: opts.stderr ?? "pipe",
  });
  const text = (s: unknown) => (s instanceof ReadableStream ? new Response(s).text() : Promise.resolve(""));
  const [code, stdout, stderr] = await Promise.all([p.exited, text(p.stdout), text(p.stderr)]);
  return { code, stdout, stderr };
};

export async function deleteShim(flags: ShimFlags, warn: (msg: string) => void): Promise<Uint8Array> {
  if (flags.namespace === "") throw invalidArgument("shim namespace cannot be empty");
  if (flags.id === "") throw invalidArgument("shim id cannot be empty");
  const bundle = flags.bundle || process.cwd();
  const runc = new Runc(exec, readOptions(bundle), flags.namespace, bundle);
  await runc.delete(flags.id, true).catch((e) => {
    if (!/does not exist|not exist/i.test((e as Error).message))
      warn(`failed to remove runc container: ${e}`);
  });
  await unmountAll(join(bundle, "rootfs"));
  let pid = 0;
  try {
    pid = readPid(join(bundle, INIT_PID_FILE));
  } catch {
    // Never created: no pid.
  }
  return encodeDeleteResponse(pid, 128 + SIGKILL, new Date());
}

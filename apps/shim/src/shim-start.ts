/** `start`: run by the daemon in the bundle directory. Finds the container's group (group.ts);
 *  when a shim of that group already answers on its socket, hands back its address; otherwise
 *  starts the long-running shim detached, in its own session (it outlives this process and the
 *  daemon), waits until it serves, writes `address` in the bundle and returns the address for
 *  stdout. The daemon reads stdout and stderr together, so nothing else may be printed. */
import { invalidArgument } from "@bunkerd/plugin-api";
import { canConnect, ensureSocketDir, socketAddress, socketPath, writeAddress } from "./address.ts";
import type { ShimFlags } from "./flags.ts";
import { groupOf } from "./group.ts";
import { SHIM_NAME } from "./version.ts";

const READY_TIMEOUT_MS = 20_000;

/** How to run this program again: the compiled binary alone, or bun with this entry file. */
export function selfCommand(): string[] {
  return Bun.main.includes("$bunfs") ? [process.execPath] : [process.execPath, Bun.main];
}

export async function startShim(flags: ShimFlags): Promise<string> {
  if (flags.namespace === "") throw invalidArgument("shim namespace cannot be empty");
  if (flags.id === "") throw invalidArgument("shim id cannot be empty");
  const bundle = process.cwd();
  const address = socketAddress(flags.address, flags.namespace, groupOf(bundle, flags.id));
  if (await canConnect(address)) {
    writeAddress(bundle, address);
    return address;
  }
  ensureSocketDir();
  // The shim binds the socket itself and replaces a stale one only when nobody answers on it, so
  // of two starts racing for one group, one binds and the other finds that shim (below).
  const path = socketPath(address);
  const args = [
    ...selfCommand(),
    "-namespace",
    flags.namespace,
    "-id",
    flags.id,
    "-address",
    flags.address,
    "-publish-binary",
    flags.publishBinary,
    "-socket",
    path,
  ];
  if (flags.debug) args.push("-debug");
  const child = Bun.spawn(args, {
    // Named as the shim in ps and /proc/<pid>/cmdline, also when bun runs it from source.
    argv0: SHIM_NAME,
    cwd: bundle,
    detached: true,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "ignore",
    env: process.env,
  });
  child.unref();
  const line = await Promise.race([
    firstLine(child.stdout),
    Bun.sleep(READY_TIMEOUT_MS).then(() => "error: shim did not start serving in time"),
  ]);
  if (line === "ok") {
    writeAddress(bundle, address);
    return address;
  }
  // Another start of the same group won the race for the socket: use that shim.
  if (await canConnect(address)) {
    if (child.exitCode === null) child.kill("SIGKILL");
    writeAddress(bundle, address);
    return address;
  }
  if (child.exitCode === null) child.kill("SIGKILL");
  throw new Error(`start shim: ${line.replace(/^error: /, "") || "shim exited before serving"}`);
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text.trim();
    text += decoder.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl !== -1) {
      reader.releaseLock();
      return text.slice(0, nl).trim();
    }
  }
}

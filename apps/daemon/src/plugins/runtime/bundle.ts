/** A task's bundle, laid out as containerd 1.6 lays it out (checked against containerd 1.6.20):
 *
 *    <state>/<ns>/           0711
 *      <id>/                 0700  the bundle; the shim runs with it as its cwd
 *        config.json               the container's OCI spec, the bytes of its Any value
 *        rootfs/             0711  the shim mounts the snapshot's mounts here
 *        work -> <root>/<ns>/<id>  the shim's work dir (0711)
 *        log                       fifo: the shim's log, read by the daemon
 *        shim-binary-path          which binary started the shim, for `delete` after a restart
 *        address, init.pid, …      written by the shim
 *
 *  Deleting unmounts what is left under rootfs, renames the bundle to a dot name and removes it,
 *  so a crash half-way leaves a name the loader skips and removes. */
import { existsSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { failedPrecondition, invalidArgument, toBunkerError, validateIdentifier } from "@bunkerd/plugin-api";
import { mountsUnder } from "../../sys/process.ts";

export interface Bundle {
  id: string;
  namespace: string;
  /** <state>/<ns>/<id> */
  path: string;
}

export const CONFIG_FILENAME = "config.json";
export const SHIM_BINARY_PATH = "shim-binary-path";

/** Creates the bundle for task `id`; removes what it made when any step fails. */
export function newBundle(
  root: string,
  state: string,
  namespace: string,
  id: string,
  spec: Uint8Array,
): Bundle {
  try {
    validateIdentifier(id);
  } catch (e) {
    throw invalidArgument(`invalid task id ${id}: ${(e as Error).message}`);
  }
  const path = join(state, namespace, id);
  const work = join(root, namespace, id);
  const made: string[] = [];
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
    mkdirSync(path, { mode: 0o700 });
    made.push(path);
    mkdirSync(dirname(work), { recursive: true, mode: 0o711 });
    mkdirSync(join(path, "rootfs"), { mode: 0o711 });
    // A work dir left by a task that was not cleaned up is replaced, as containerd does.
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o711 });
    made.push(work);
    symlinkSync(work, join(path, "work"));
    writeFileSync(join(path, CONFIG_FILENAME), spec, { mode: 0o666 });
    return { id, namespace, path };
  } catch (e) {
    for (const p of made.reverse()) rmSync(p, { recursive: true, force: true });
    throw toBunkerError(e);
  }
}

export function loadBundle(state: string, namespace: string, id: string): Bundle {
  return { id, namespace, path: join(state, namespace, id) };
}

/** Unmounts whatever is still mounted under the bundle's rootfs, deepest first. */
export function unmountRootfs(bundle: Bundle): void {
  for (const m of mountsUnder(join(bundle.path, "rootfs"))) {
    const r = Bun.spawnSync(["umount", m], { stdout: "ignore", stderr: "ignore" });
    if (r.exitCode !== 0) Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
  }
}

/** Removes the bundle and its work dir (after unmounting its rootfs). */
export function deleteBundle(bundle: Bundle): void {
  let work: string | undefined;
  try {
    work = readlinkSync(join(bundle.path, "work"));
  } catch {}
  unmountRootfs(bundle);
  // Removing a tree with a mount still in it would delete the snapshot's files.
  const left = mountsUnder(bundle.path);
  if (left.length > 0) throw failedPrecondition(`unmount rootfs ${left[0]}: still mounted`);
  atomicDelete(bundle.path);
  if (work) atomicDelete(work);
}

function atomicDelete(path: string): void {
  if (!existsSync(path)) return;
  const hidden = join(dirname(path), `.${path.split("/").pop()}`);
  try {
    renameSync(path, hidden);
  } catch {
    rmSync(path, { recursive: true, force: true });
    return;
  }
  rmSync(hidden, { recursive: true, force: true });
}

/** The FIFOs a task's stdio goes through, named as containerd's cio names them:
 *  `<fifo dir>/<random>/<id>-stdin|-stdout|-stderr`. bctr keeps Go ctr's default directory,
 *  /run/containerd/fifo, against either daemon: the FIFOs belong to the client (the shim only
 *  opens the paths it is given), so one directory serves both and both CLIs clean it alike. */
import { dlopen, FFIType, ptr } from "bun:ffi";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  constants as fsc,
  readdirSync,
  rmdirSync,
  rmSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

export const DEFAULT_FIFO_DIR = "/run/containerd/fifo";

let libc: ReturnType<typeof open> | undefined;
const open = () =>
  dlopen("libc.so.6", { mkfifo: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });

export function mkfifo(path: string, mode = 0o700): void {
  libc ??= open();
  const c = Buffer.from(`${path}\0`);
  if (libc.symbols.mkfifo(ptr(c), mode) !== 0) {
    if (existsSync(path)) throw Object.assign(new Error(`mkfifo ${path}: file exists`), { code: "EEXIST" });
    throw new Error(`mkfifo ${path}: failed`);
  }
}

export interface FifoSet {
  /** The per-task directory holding the FIFOs ("" when none was made). */
  dir: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** Makes the FIFOs for `id` in a new random directory below `root`: stdin when wanted, stdout,
 *  and stderr unless a terminal carries both outputs. */
export function newFifoSet(root: string, id: string, o: { stdin: boolean; terminal: boolean }): FifoSet {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(root, `${Math.floor(Math.random() * 1e9)}`));
  const set: FifoSet = {
    dir,
    stdin: o.stdin ? join(dir, `${id}-stdin`) : "",
    stdout: join(dir, `${id}-stdout`),
    stderr: o.terminal ? "" : join(dir, `${id}-stderr`),
    terminal: o.terminal,
  };
  try {
    for (const p of [set.stdin, set.stdout, set.stderr]) if (p) mkfifo(p);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return set;
}

/** Completes any open(2) of `path` still waiting for its other end (ours or the shim's): an
 *  O_RDWR open of a FIFO never blocks and counts as both ends. */
export function unblockFifo(path: string): void {
  if (!path || !existsSync(path)) return;
  try {
    closeSync(openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK));
  } catch {
    // gone or not a FIFO: nothing waits on it
  }
}

/** Removes the FIFOs and their directory (if it is now empty). */
export function removeFifos(paths: readonly string[]): void {
  const dirs = new Set<string>();
  for (const p of paths) {
    if (!p) continue;
    rmSync(p, { force: true });
    dirs.add(dirname(p));
  }
  for (const d of dirs) {
    try {
      if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      // another process's FIFOs still there: leave the directory
    }
  }
}

/** Whether `path` looks like one of our FIFOs (`<root>/<dir>/<id>-std…`), so a command that
 *  only knows a task's stdio paths may remove them. */
export function isFifoPath(path: string, root = DEFAULT_FIFO_DIR): boolean {
  return !!path && dirname(dirname(path)) === root && /-(stdin|stdout|stderr)$/.test(basename(path));
}

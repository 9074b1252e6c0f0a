/** A process's stdio, as containerd's runc shim sets it up from the paths in Create/Exec:
 *
 *  - a FIFO path (no scheme, or `fifo://`): the process gets the FIFO itself. The shim opens it
 *    without ever blocking: stdin through a keep-alive `O_RDWR|O_NONBLOCK` handle (a writer, so
 *    the process sees no EOF before the client has opened its end, and sees it once the client
 *    is done and CloseIO dropped ours), stdout/stderr through a kept `O_RDONLY|O_NONBLOCK`
 *    reader (so a client that goes away blocks the process when the FIFO fills, as with
 *    containerd, instead of killing it with SIGPIPE);
 *  - `binary:///path?k=v`: a logger started with the process's stdout and stderr as fds 3 and 4
 *    and a ready pipe as fd 5, with CONTAINER_ID and CONTAINER_NAMESPACE set;
 *  - `file:///path`: stdout and stderr appended to the file. */
import { closeSync, constants, mkdirSync, openSync, read } from "node:fs";
import { dirname } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";
import type { Subprocess } from "bun";
import { pipe } from "./pipe.ts";
import type { Stdio } from "./runc.ts";

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK, O_APPEND, O_CREAT } = constants;

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ProcessIO {
  /** What runc hands the process. */
  readonly stdio: Stdio;
  /** runc has started the process, which holds its own copies: the shim drops its copies. */
  started(): void;
  /** CloseIO: the client has no more input; the process sees EOF once the client's end closes. */
  closeStdin(): void;
  /** The process is gone: loggers drain and stop, every fd is released. */
  close(): Promise<void>;
}

/** Tracks fds so that a failure halfway leaves nothing open. */
class Fds {
  private readonly open = new Set<number>();
  add(fd: number): number {
    this.open.add(fd);
    return fd;
  }
  close(fd: number | undefined): void {
    if (fd === undefined || !this.open.delete(fd)) return;
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }
  closeAll(): void {
    for (const fd of [...this.open]) this.close(fd);
  }
}

type Target = { kind: "fifo"; path: string } | { kind: "binary"; url: URL } | { kind: "file"; path: string };

/** Parses a stdio path the way containerd does: no scheme means a FIFO. */
export function parseTarget(s: string): Target {
  if (!s.includes("://")) return { kind: "fifo", path: s };
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw invalidArgument(`stdio ${JSON.stringify(s)}: not a path or URI`);
  }
  const path = decodeURIComponent(url.pathname);
  switch (url.protocol) {
    case "fifo:":
      return { kind: "fifo", path };
    case "binary:":
      return { kind: "binary", url };
    case "file:":
      return { kind: "file", path };
    default:
      throw invalidArgument(`unknown STDIO scheme ${url.protocol.replace(/:$/, "")}`);
  }
}

export interface IOContext {
  id: string;
  namespace: string;
}

/** Opens the stdio of a process that has no terminal. */
export async function openProcessIO(paths: StdioPaths, ctx: IOContext): Promise<ProcessIO> {
  const fds = new Fds();
  try {
    const out = paths.stdout === "" ? undefined : parseTarget(paths.stdout);
    if (out && out.kind !== "fifo") return await openLogIO(out, paths, ctx, fds);
    return openFifoIO(paths, fds);
  } catch (e) {
    fds.closeAll();
    throw e;
  }
}

function openFifoIO(paths: StdioPaths, fds: Fds): ProcessIO {
  const fifo = (s: string) => {
    const t = parseTarget(s);
    if (t.kind !== "fifo") throw invalidArgument(`stdio ${JSON.stringify(s)}: expected a FIFO path`);
    return t.path;
  };
  const stdio: Stdio = {};
  const keep: number[] = [];
  let stdinKeep: number | undefined;
  if (paths.stdin !== "") {
    const path = fifo(paths.stdin);
    stdinKeep = fds.add(openFifo(path, O_RDWR | O_NONBLOCK));
    stdio.stdin = fds.add(openFifo(path, O_RDONLY));
  }
  for (const key of ["stdout", "stderr"] as const) {
    if (paths[key] === "") continue;
    const path = fifo(paths[key]);
    keep.push(fds.add(openFifo(path, O_RDONLY | O_NONBLOCK)));
    stdio[key] = fds.add(openFifo(path, O_WRONLY));
  }
  return {
    stdio,
    started() {
      fds.close(stdio.stdin);
      fds.close(stdio.stdout);
      fds.close(stdio.stderr);
    },
    closeStdin() {
      fds.close(stdinKeep);
    },
    async close() {
      fds.closeAll();
    },
  };
}

function openFifo(path: string, flags: number): number {
  try {
    return openSync(path, flags);
  } catch (e) {
    throw invalidArgument(`open fifo ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function openLogIO(out: Target, paths: StdioPaths, ctx: IOContext, fds: Fds): Promise<ProcessIO> {
  if (paths.stdin !== "") throw invalidArgument(`stdin is not supported with ${out.kind}:// stdio`);
  if (out.kind === "file") {
    mkdirSync(dirname(out.path), { recursive: true });
    const fd = fds.add(openSync(out.path, O_WRONLY | O_APPEND | O_CREAT, 0o644));
    return {
      stdio: { stdout: fd, stderr: fd },
      started: () => fds.close(fd),
      closeStdin() {},
      close: async () => fds.closeAll(),
    };
  }
  if (out.kind !== "binary") throw invalidArgument(`unexpected stdio ${paths.stdout}`);
  const o = pipe();
  fds.add(o.r);
  fds.add(o.w);
  const e = pipe();
  fds.add(e.r);
  fds.add(e.w);
  const ready = pipe();
  fds.add(ready.r);
  fds.add(ready.w);
  const args: string[] = [];
  for (const [k, v] of out.url.searchParams) args.push(k, ...(v === "" ? [] : [v]));
  let logger: Subprocess;
  try {
    logger = Bun.spawn([decodeURIComponent(out.url.pathname), ...args], {
      stdio: ["ignore", "ignore", "ignore", o.r, e.r, ready.w],
      env: { ...process.env, CONTAINER_ID: ctx.id, CONTAINER_NAMESPACE: ctx.namespace },
    });
  } catch (err) {
    throw invalidArgument(`start logging binary ${out.url.pathname}: ${(err as Error).message}`);
  }
  fds.close(o.r);
  fds.close(e.r);
  fds.close(ready.w);
  // The logger says it is ready by writing to fd 5 or closing it.
  const ok = await Promise.race([
    new Promise<boolean>((resolve) => read(ready.r, Buffer.alloc(1), 0, 1, null, () => resolve(true))),
    logger.exited.then(() => false),
    Bun.sleep(10_000).then(() => false),
  ]);
  fds.close(ready.r);
  if (!ok) {
    logger.kill("SIGKILL");
    throw invalidArgument(`logging binary ${out.url.pathname} did not become ready`);
  }
  return {
    stdio: { stdout: o.w, stderr: e.w },
    started() {
      fds.close(o.w);
      fds.close(e.w);
    },
    closeStdin() {},
    async close() {
      fds.closeAll();
      // A logger that copies to EOF ends by itself; one that waits for a signal gets SIGTERM, as
      // containerd sends it, and SIGKILL if it is still there 12 s later.
      await Promise.race([logger.exited, Bun.sleep(1000)]);
      if (logger.exitCode === null && logger.signalCode === null) logger.kill("SIGTERM");
      const timer = setTimeout(() => logger.kill("SIGKILL"), 12_000);
      await logger.exited;
      clearTimeout(timer);
    },
  };
}

/** Client-side task IO, as containerd's cio: the stdio paths handed to Tasks.Create/Exec, and
 *  the copying between them and this process's stdin/stdout/stderr.
 *
 *    const io = createFifoIO(id, { stdin: true, terminal: false });   // FIFOs made, read ends held
 *    await tasks.create({ containerId: id, ...io.config });
 *    io.start({ onStdinEnd: () => tasks.closeIO({ containerId: id, stdin: true }) });
 *    …wait for the exit…; await io.wait();  await tasks.delete(…);  io.close();
 *
 *  Output FIFOs are read through Bun.file streams (they wait for the shim's end without holding
 *  the event loop); the stdin FIFO is opened with fs/promises, whose open(2) waits in the
 *  thread pool until the shim has its end. */
import { closeSync, existsSync, constants as fsc, openSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { DEFAULT_FIFO_DIR, type FifoSet, newFifoSet, removeFifos, unblockFifo } from "./fifo.ts";

export interface IOConfig {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface StartOptions {
  /** Source of the task's stdin (this process's stdin by default). */
  stdin?: Readable;
  stdout?: Sink;
  stderr?: Sink;
  /** Called once our stdin reached its end and the FIFO is closed: callers send CloseIO. */
  onStdinEnd?: () => void;
}

export interface TaskIO {
  readonly config: IOConfig;
  /** Starts copying. */
  start(o?: StartOptions): void;
  /** Resolves when stdout and stderr reached their end (the shim closed them). */
  wait(): Promise<void>;
  /** Stops waiting on our ends without removing the FIFOs: what `--detach` leaves behind. */
  detach(): Promise<void>;
  /** Ends all copying and removes FIFOs this IO made. */
  close(): void;
}

/** Where output goes: each chunk is written before the next is read (Bun.write resolves once
 *  the bytes are out, so nothing is lost when the command exits right after). */
export type Sink = (chunk: Uint8Array) => Promise<unknown>;
export const stdoutSink: Sink = (c) => Bun.write(Bun.stdout, c);
export const stderrSink: Sink = (c) => Bun.write(Bun.stderr, c);

async function copyOut(path: string, out: Sink): Promise<void> {
  if (!path || !existsSync(path) || !statSync(path).isFIFO()) return;
  try {
    for await (const chunk of Bun.file(path).stream() as unknown as AsyncIterable<Uint8Array>)
      await out(chunk);
  } catch {
    // the FIFO went away under us (close() during a failure): nothing more to copy
  }
}

/** IO over FIFOs at `paths`; `owned` FIFOs are removed by close(). */
export function fifoIO(paths: FifoSet | IOConfig, owned: boolean): TaskIO {
  const config: IOConfig = {
    stdin: paths.stdin,
    stdout: paths.stdout,
    stderr: paths.stderr,
    terminal: paths.terminal,
  };
  // The shim opens the output FIFOs for writing while it creates the task, and that open(2)
  // waits for a reader: hold a non-blocking read end of each from now until close().
  const held: number[] = [];
  for (const p of [config.stdout, config.stderr]) {
    // Only FIFOs: a task made with a log URI has `file://…` or `binary://…` here.
    if (p && existsSync(p) && statSync(p).isFIFO()) held.push(openSync(p, fsc.O_RDONLY | fsc.O_NONBLOCK));
  }
  const release = () => {
    for (const fd of held.splice(0)) closeSync(fd);
  };
  let outputs: Promise<void> = Promise.resolve();
  let stdinHandle: Promise<Awaited<ReturnType<typeof open>> | undefined> | undefined;
  let stdinSource: Readable | undefined;
  let onData: ((c: Buffer) => void) | undefined;
  let closed = false;

  const openStdin = () => {
    stdinHandle ??= config.stdin
      ? open(config.stdin, "w").catch(() => undefined)
      : Promise.resolve(undefined);
    return stdinHandle;
  };

  const io: TaskIO = {
    config,
    start(o = {}) {
      const stdout = o.stdout ?? stdoutSink;
      const stderr = o.stderr ?? stderrSink;
      outputs = Promise.all([copyOut(config.stdout, stdout), copyOut(config.stderr, stderr)]).then(() => {});
      if (!config.stdin) return;
      const src = o.stdin ?? process.stdin;
      stdinSource = src;
      void openStdin().then((fh) => {
        if (!fh || closed) return;
        let chain = Promise.resolve();
        onData = (c: Buffer) => {
          chain = chain.then(() => fh.write(c).then(() => {})).catch(() => {});
        };
        src.on("data", onData);
        src.once("end", () => {
          void chain.then(async () => {
            await fh.close().catch(() => {});
            o.onStdinEnd?.();
          });
        });
        src.resume();
      });
    },
    wait: () => outputs,
    async detach() {
      const fh = await Promise.race([openStdin(), Bun.sleep(1000).then(() => undefined)]);
      await fh?.close().catch(() => {});
      release();
      closed = true;
    },
    close() {
      closed = true;
      if (stdinSource && onData) stdinSource.off("data", onData);
      stdinSource?.pause();
      // Release any open(2) still waiting on the shim, so no thread or stream is left blocked.
      for (const p of [config.stdin, config.stdout, config.stderr]) unblockFifo(p);
      release();
      if (owned) removeFifos([config.stdin, config.stdout, config.stderr]);
    },
  };
  return io;
}

/** New FIFOs for task or exec `id` in `fifoDir` (containerd's cio.NewCreator). */
export function createFifoIO(id: string, o: { stdin: boolean; terminal: boolean; fifoDir?: string }): TaskIO {
  return fifoIO(newFifoSet(o.fifoDir || DEFAULT_FIFO_DIR, id, o), true);
}

/** No stdio at all: the shim gives the task /dev/null (cio.NullIO). */
export function nullIO(): TaskIO {
  return {
    config: { stdin: "", stdout: "", stderr: "", terminal: false },
    start() {},
    wait: () => Promise.resolve(),
    detach: () => Promise.resolve(),
    close() {},
  };
}

/** Output to a log URI the shim handles itself (cio.LogURI): `binary:///path?args` runs a
 *  logging binary, `file:///path` appends to a file. No copying on our side. */
export function logURIIO(uri: string): TaskIO {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`invalid log uri ${JSON.stringify(uri)}`);
  }
  if (u.protocol !== "binary:" && u.protocol !== "file:") {
    throw new Error(`invalid log uri ${JSON.stringify(uri)}: scheme must be binary or file`);
  }
  return {
    config: { stdin: "", stdout: uri, stderr: uri, terminal: false },
    start() {},
    wait: () => Promise.resolve(),
    detach: () => Promise.resolve(),
    close() {},
  };
}

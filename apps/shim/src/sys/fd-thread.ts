/** Fd copies on the shim's one fd thread (fd.worker.ts), for terminals: Bun cannot copy a pty
 *  master on its event loop. One thread serves them all, started by the first copy: a worker
 *  costs about 2.2 MB RSS here, too much to spend per terminal. */
import type { FdCommand, FdEvent, FdJobSpec } from "./fd.worker.ts";
import { check, ptr, sys } from "./libc.ts";

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

export type FdJob = {
  /** Resolves once the job ended: EOF, an error (logged), or stop(). */
  readonly ended: Promise<void>;
  /** Ends the job. Its fds stay the caller's to close, after `ended`. */
  stop(): void;
};

type Entry = { name: string; done: (error?: string) => void };

class FdLoop {
  static #shared: FdLoop | undefined;
  static get(): FdLoop {
    FdLoop.#shared ??= new FdLoop();
    return FdLoop.#shared;
  }

  readonly #worker: Worker;
  readonly #wake: number;
  readonly #sent = new Int32Array(new SharedArrayBuffer(4));
  readonly #entries = new Map<number, Entry>();
  #nextId = 1;

  private constructor() {
    this.#wake = check(sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
    this.#worker = new Worker(new URL("./fd.worker.ts", import.meta.url).href);
    this.#worker.addEventListener("message", (ev: MessageEvent<FdEvent>) => {
      const e = this.#entries.get(ev.data.id);
      if (!e) return;
      this.#entries.delete(ev.data.id);
      e.done(ev.data.error);
    });
    this.#worker.addEventListener("error", (ev) => {
      // The thread is gone: every job has ended.
      for (const [id, e] of this.#entries) {
        this.#entries.delete(id);
        e.done(`fd thread failed: ${ev.message}`);
      }
      FdLoop.#shared = undefined;
    });
    // Bun's Worker has unref(); the DOM typings do not. Jobs must not keep the process up.
    (this.#worker as unknown as { unref(): void }).unref();
    this.#worker.postMessage({ op: "init", wake: this.#wake, sent: this.#sent } satisfies FdCommand);
  }

  #send(cmd: FdCommand): void {
    Atomics.add(this.#sent, 0, 1);
    this.#worker.postMessage(cmd);
    sys.write(this.#wake, ptr(new BigUint64Array([1n])), 8);
  }

  add(job: FdJobSpec, name: string): FdJob {
    const id = this.#nextId++;
    let over = false;
    const ended = new Promise<void>((resolve) => {
      this.#entries.set(id, {
        name,
        done: (error) => {
          over = true;
          if (error) console.error(`${name}: ${error}`);
          resolve();
        },
      });
    });
    this.#send({ op: "add", id, job });
    return {
      ended,
      stop: () => {
        if (!over && this.#entries.has(id)) this.#send({ op: "stop", id });
      },
    };
  }
}

/** Copies src to dst until src's EOF (or a pty's EIO) or stop(). Makes both fds non-blocking. */
export function copyFd(src: number, dst: number, name = `copy fd ${src} → ${dst}`): FdJob {
  return FdLoop.get().add({ kind: "copy", src, dst }, name);
}

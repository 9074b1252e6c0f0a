/** The shim's log: containerd makes a fifo `log` in the bundle before it starts a shim (the shim
 *  opens it for writing, and blocks until someone reads), opens it read-write so the shim never
 *  sees EOF or EPIPE across a daemon restart, and copies whatever comes out to its own stderr.
 *  We do the same; after a restart the fifo is opened again and copying resumes. */
import { closeSync, constants, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { dlopen, FFIType } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  mkfifo: { args: [FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
});

const cstr = (s: string) => Buffer.from(`${s}\0`);

export interface ShimLog {
  close(): void;
}

/** Creates `<bundle>/log` if needed, opens it and starts copying lines to `sink`. */
export function openShimLog(bundle: string, sink: (chunk: Uint8Array) => void): ShimLog {
  const path = join(bundle, "log");
  if (!existsSync(path) && libc.symbols.mkfifo(cstr(path) as never, 0o700) !== 0 && !existsSync(path)) {
    throw new Error(`mkfifo ${path} failed`);
  }
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  let closed = false;
  const reader = Bun.file(fd).stream().getReader();
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || closed) break;
        if (value && value.length > 0) sink(value);
      }
    } catch {
      // closed under the reader: the shim is gone or the task deleted
    }
  })();
  return {
    close() {
      if (closed) return;
      closed = true;
      // The fd is ours to close, once the stream has stopped reading it (cancel leaves it open).
      reader
        .cancel()
        .catch(() => {})
        .finally(() => {
          try {
            closeSync(fd);
          } catch {}
        });
    },
  };
}

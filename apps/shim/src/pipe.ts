/** pipe2(2), which Bun does not expose: the pipes between a process and a `binary://` logger.
 *  Both ends are close-on-exec, so no other child inherits them; Bun.spawn's stdio entries dup2
 *  them into place for the one child meant to have them. */
import { dlopen, FFIType, ptr, read } from "bun:ffi";

const O_CLOEXEC = 0o2000000;

let libc: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

export interface Pipe {
  r: number;
  w: number;
}

export function pipe(): Pipe {
  libc ??= open();
  const fds = new Int32Array(2);
  if (libc.pipe2(ptr(fds), O_CLOEXEC) !== 0) {
    const at = libc.__errno_location();
    const errno = at === null ? 0 : read.i32(at, 0);
    throw Object.assign(new Error(`pipe2 failed: errno ${errno}`), { syscall: "pipe2", errno: -errno });
  }
  return { r: fds[0]!, w: fds[1]! };
}

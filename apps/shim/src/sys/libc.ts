/** The few libc calls the shim needs that Bun does not expose (subreaper, waitid/waitpid, unix
 *  sockets with SCM_RIGHTS, ioctl, eventfd, poll), bound once through bun:ffi. x86_64 and
 *  aarch64 Linux share every struct layout used here. Failures throw Node-style errno errors
 *  (`code`, `errno`, `syscall`, `path`) so `toBunkerError` maps them like fs errors. */
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { constants } from "node:os";

const { i32, u32, u64, ptr: p } = FFIType;

const lib = dlopen("libc.so.6", {
  __errno_location: { args: [], returns: p },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  waitid: { args: [i32, u32, p, i32], returns: i32 },
  waitpid: { args: [i32, p, i32], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  bind: { args: [i32, p, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  accept4: { args: [i32, p, p, i32], returns: i32 },
  recvmsg: { args: [i32, p, i32], returns: FFIType.i64 },
  ioctl: { args: [i32, u64, p], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  read: { args: [i32, p, u64], returns: FFIType.i64 },
  write: { args: [i32, p, u64], returns: FFIType.i64 },
  close: { args: [i32], returns: i32 },
  poll: { args: [p, u64, i32], returns: i32 },
  fcntl: { args: [i32, i32, i32], returns: i32 },
  inotify_init1: { args: [i32], returns: i32 },
  inotify_add_watch: { args: [i32, p, u32], returns: i32 },
});

export const sys = lib.symbols;

/** errno of the last failed call on this thread; read it right after the call. */
export function errno(): number {
  const at = sys.__errno_location();
  return at === null ? 0 : read.i32(at, 0);
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export const Errno = {
  EINTR: constants.errno.EINTR,
  EAGAIN: constants.errno.EAGAIN,
  ECHILD: constants.errno.ECHILD,
  EIO: constants.errno.EIO,
  EPIPE: constants.errno.EPIPE,
} as const;

export type SysError = Error & { code: string; errno: number; syscall: string; path?: string };

/** A Node-style error for a failed call, named by its errno. */
export function sysError(syscall: string, code = errno(), path?: string): SysError {
  const name = errnoNames.get(code) ?? `E${code}`;
  const e = new Error(`${name}: ${syscall}${path ? ` ${path}` : ""} failed`) as SysError;
  e.code = name;
  e.errno = -code;
  e.syscall = syscall;
  if (path !== undefined) e.path = path;
  return e;
}

/** Returns ret, or throws the errno error when ret is negative. */
export function check<T extends number | bigint>(ret: T, syscall: string, path?: string): T {
  if (ret < 0) throw sysError(syscall, errno(), path);
  return ret;
}

/** A NUL-terminated C string in a buffer that stays alive as long as the caller holds it. */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

export { ptr };

export const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;

export function setNonBlocking(fd: number): void {
  const flags = check(sys.fcntl(fd, F_GETFL, 0), "fcntl");
  check(sys.fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl");
}

export function closeFd(fd: number): void {
  sys.close(fd);
}

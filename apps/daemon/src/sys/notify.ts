/** sd_notify: tell systemd (or any supervisor listening on NOTIFY_SOCKET) that the daemon is
 *  ready or stopping. NOTIFY_SOCKET is a unix datagram socket, which Bun cannot open, so this
 *  goes through libc with bun:ffi. A leading "@" names an abstract socket. */
import { dlopen, FFIType, ptr } from "bun:ffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

let libc: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: {
      args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32],
      returns: FFIType.i64,
    },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
}

/** Sends `state` (e.g. "READY=1") when NOTIFY_SOCKET is set. Returns whether it was sent. */
export function sdNotify(state: string, socketPath = process.env.NOTIFY_SOCKET): boolean {
  if (!socketPath) return false;
  libc ??= open();
  const name = Buffer.from(socketPath.startsWith("@") ? `\0${socketPath.slice(1)}` : socketPath);
  if (name.length > 107) return false;
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  const addrLen = 2 + name.length + (socketPath.startsWith("@") ? 0 : 1);
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const msg = Buffer.from(state);
    return Number(libc.sendto(fd, ptr(msg), msg.length, 0, ptr(addr), addrLen)) === msg.length;
  } finally {
    libc.close(fd);
  }
}

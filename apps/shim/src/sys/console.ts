/** Terminals for processes started with a pty: receiving the master from runc's
 *  `--console-socket`, resizing it, and copying it to and from the process's fifos.
 *
 *  runc passes the master as SCM_RIGHTS ancillary data, which Bun.listen does not expose, so the
 *  socket is driven by socket/bind/listen/accept4/recvmsg through bun:ffi on a non-blocking fd.
 *  Waiting is a short poll: a console socket lives only for one `runc create`/`runc exec` (tens of
 *  milliseconds), and a blocking accept in a worker could not be cancelled when a create fails. */
import { constants, openSync, unlinkSync } from "node:fs";
import { invalidArgument } from "@bunkerd/plugin-api";
import { copyFd } from "./fd-thread.ts";
import { check, closeFd, Errno, errno, O_NONBLOCK, ptr, sys, sysError } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const TIOCSWINSZ = 0x5414;
const SUN_PATH_MAX = 108;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type ReceiveOptions = { signal?: AbortSignal; timeoutMs?: number };

export class ConsoleSocket {
  #fd: number;
  #closed = false;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** Listens on a new unix socket at path (which must not exist). */
  static async listen(path: string): Promise<ConsoleSocket> {
    const name = Buffer.from(path);
    if (name.length === 0 || name.length >= SUN_PATH_MAX) {
      throw invalidArgument(
        `console socket path ${JSON.stringify(path)}: empty or longer than ${SUN_PATH_MAX - 1} bytes`,
      );
    }
    const fd = check(sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket");
    try {
      const addr = Buffer.alloc(2 + SUN_PATH_MAX);
      addr.writeUInt16LE(AF_UNIX, 0);
      name.copy(addr, 2);
      check(sys.bind(fd, ptr(addr), addr.length), "bind", path);
      check(sys.listen(fd, 1), "listen", path);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new ConsoleSocket(path, fd);
  }

  /** Waits for runc to connect and returns the pty master it sends (close-on-exec, owned by you). */
  async receiveMaster(opts: ReceiveOptions = {}): Promise<number> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    const conn = await this.#retry("accept4", opts.signal, deadline, () =>
      sys.accept4(this.#fd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK),
    );
    try {
      return await this.#retry("recvmsg", opts.signal, deadline, () => recvFd(conn));
    } finally {
      closeFd(conn);
    }
  }

  /** Runs call until it stops failing with EAGAIN, backing off from 1 to 20 ms. */
  async #retry(op: string, signal: AbortSignal | undefined, deadline: number, call: () => number) {
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      if (this.#closed) throw new Error(`console socket ${this.path}: closed`);
      signal?.throwIfAborted();
      const r = call();
      if (r >= 0) return r;
      const code = errno();
      if (code !== Errno.EAGAIN && code !== Errno.EINTR) throw sysError(op, code, this.path);
      if (Date.now() > deadline) throw new Error(`console socket ${this.path}: no console received in time`);
      await sleep(delay);
    }
  }

  /** Stops listening and removes the socket file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

/** One recvmsg carrying a single SCM_RIGHTS fd (runc also sends the pty's name as data). */
function recvFd(conn: number): number {
  const data = Buffer.alloc(4096);
  const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.length)]);
  const control = Buffer.alloc(64); // cmsghdr(16) + one int, aligned; room to spare
  // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags (56 bytes on LP64).
  const msg = new DataView(new ArrayBuffer(56));
  msg.setBigUint64(16, BigInt(ptr(iov)), true);
  msg.setBigUint64(24, 1n, true);
  msg.setBigUint64(32, BigInt(ptr(control)), true);
  msg.setBigUint64(40, BigInt(control.length), true);
  const n = Number(sys.recvmsg(conn, ptr(msg), MSG_CMSG_CLOEXEC));
  if (n < 0) return n;
  const controllen = Number(msg.getBigUint64(40, true));
  // cmsghdr: len (size_t), level (int), type (int), then the fds.
  if (controllen < 20 || control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) {
    throw new Error(`console socket: message without a file descriptor (${n} bytes of data)`);
  }
  const fds = (Number(control.readBigUInt64LE(0)) - 16) / 4;
  // More than one fd is not runc's protocol: keep the first, close the rest.
  for (let i = 1; i < fds; i++) closeFd(control.readInt32LE(16 + 4 * i));
  return control.readInt32LE(16);
}

/** Sets the pty's window size (TIOCSWINSZ); the process gets SIGWINCH. */
export function resizePty(fd: number, width: number, height: number): void {
  const clamp = (v: number) => Math.max(0, Math.min(0xffff, Math.trunc(v)));
  const ws = new Uint16Array([clamp(height), clamp(width), 0, 0]); // rows, cols, xpixel, ypixel
  check(sys.ioctl(fd, TIOCSWINSZ, ptr(ws)), "ioctl(TIOCSWINSZ)");
}

export type PtyCopy = {
  /** Resolves when the pty's output has all been copied (the process side closed) or copying stopped. */
  readonly done: Promise<void>;
  /** CloseIO: stop feeding stdin and close the stdin fifo (resolves once closed). */
  closeStdin(): Promise<void>;
  /** Stops both directions and closes the fifos, not the master: its owner closes it. Resolves
   *  once the threads are gone and the fifos closed. */
  close(): Promise<void>;
};

/** Copies the pty output to the stdout fifo and the stdin fifo into the pty on the shim's fd thread
 *  (fd-thread.ts), so a slow reader or writer never stalls the event loop. The stdin fifo is held
 *  open read-write, as containerd's shim does, so a writer that goes away does not end the
 *  copy; only CloseIO (closeStdin) does. */
export function copyPty(masterFd: number, io: { stdin?: string; stdout?: string }): PtyCopy {
  const stdoutFd = io.stdout ? openFifo(io.stdout) : undefined;
  let stdinFd: number | undefined;
  try {
    stdinFd = io.stdin ? openFifo(io.stdin) : undefined;
  } catch (e) {
    if (stdoutFd !== undefined) closeFd(stdoutFd);
    throw e;
  }
  // Each direction closes its fifo fd when it ends, so the stdout reader sees EOF.
  const direction = (src: number, dst: number, own: number, name: string) => {
    const t = copyFd(src, dst, `console copy ${name}`);
    return { stop: () => t.stop(), ended: t.ended.then(() => closeFd(own)) };
  };
  const out = stdoutFd === undefined ? undefined : direction(masterFd, stdoutFd, stdoutFd, "stdout");
  const inp = stdinFd === undefined ? undefined : direction(stdinFd, masterFd, stdinFd, "stdin");
  return {
    done: out?.ended ?? Promise.resolve(),
    closeStdin: () => {
      inp?.stop();
      return inp?.ended ?? Promise.resolve();
    },
    close: () => {
      inp?.stop();
      out?.stop();
      return Promise.all([inp?.ended, out?.ended]).then(() => {});
    },
  };
}

function openFifo(path: string): number {
  return openSync(path, constants.O_RDWR | O_NONBLOCK);
}

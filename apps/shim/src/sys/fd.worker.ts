/** The shim's fd thread, started for the first terminal: copies src → dst (a pty master and a
 *  FIFO, both ways) until src's EOF (a pty master reads EIO once its slave side is closed), every
 *  copy of the process in a single poll(2) loop over non-blocking fds. (Readability watches, the
 *  OOM eventfd and inotify, need no thread: fd-watch.ts.)
 *  While it sits in poll it cannot take messages, so the owner counts each command in shared
 *  memory and pokes a wake eventfd; the loop returns to the event loop until it has them all.
 *  Build note: `bun build --compile` needs this file as an extra entry point. */
import { Errno, errno, ptr, setNonBlocking, sys, sysError } from "./libc.ts";

declare const self: Worker;

export type FdJobSpec = { kind: "copy"; src: number; dst: number };
export type FdCommand =
  | { op: "init"; wake: number; sent: Int32Array }
  | { op: "add"; id: number; job: FdJobSpec }
  | { op: "stop"; id: number };
export type FdEvent = { id: number; end: true; error?: string };

const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLNVAL = 0x20;

type Job = { id: number; kind: "copy"; src: number; dst: number; buf: Buffer; off: number; len: number };

const jobs = new Map<number, Job>();
let wake = -1;
let sent: Int32Array = new Int32Array(1);
let received = 0;
let scheduled = false;

self.onmessage = (ev: MessageEvent<FdCommand>) => {
  const c = ev.data;
  if (c.op === "init") {
    wake = c.wake;
    sent = c.sent;
    return;
  }
  received++;
  if (c.op === "add") add(c.id, c.job);
  else if (jobs.has(c.id)) end(c.id);
  if (received === Atomics.load(sent, 0) && jobs.size > 0 && !scheduled) {
    scheduled = true;
    setTimeout(loop, 0);
  }
};

function add(id: number, spec: FdJobSpec): void {
  try {
    setNonBlocking(spec.src);
    setNonBlocking(spec.dst);
    jobs.set(id, { id, ...spec, buf: Buffer.alloc(32 * 1024), off: 0, len: 0 });
  } catch (e) {
    postMessage({ id, end: true, error: message(e) } satisfies FdEvent);
  }
}

function end(id: number, error?: string): void {
  jobs.delete(id);
  postMessage({ id, end: true, error } satisfies FdEvent);
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function loop(): void {
  scheduled = false;
  const drain = new BigUint64Array(1);
  for (;;) {
    // Commands posted but not yet received: let onmessage run; the last one restarts the loop.
    if (received < Atomics.load(sent, 0) || jobs.size === 0) return;
    const list = [...jobs.values()];
    // struct pollfd { int fd; short events; short revents; } × (wake + one per job)
    const pfds = new DataView(new ArrayBuffer(8 * (list.length + 1)));
    pfds.setInt32(0, wake, true);
    pfds.setInt16(4, POLLIN, true);
    list.forEach((j, i) => {
      const [fd, events] = j.off < j.len ? [j.dst, POLLOUT] : [j.src, POLLIN];
      pfds.setInt32(8 * (i + 1), fd, true);
      pfds.setInt16(8 * (i + 1) + 4, events, true);
    });
    if (sys.poll(ptr(pfds), list.length + 1, -1) < 0) {
      if (errno() === Errno.EINTR) continue;
      for (const j of list) end(j.id, sysError("poll").message);
      return;
    }
    if (pfds.getInt16(6, true) !== 0) sys.read(wake, ptr(drain), 8);
    list.forEach((j, i) => {
      const revents = pfds.getInt16(8 * (i + 1) + 6, true);
      if (revents === 0) return;
      if (revents & POLLNVAL) {
        end(j.id, "fd closed while in use");
        return;
      }
      try {
        serviceCopy(j);
      } catch (e) {
        end(j.id, message(e));
      }
    });
  }
}

function serviceCopy(j: Job): void {
  if (j.off >= j.len) {
    const n = Number(sys.read(j.src, ptr(j.buf), j.buf.length));
    if (n === 0) {
      end(j.id);
      return;
    }
    if (n < 0) {
      const e = errno();
      if (e === Errno.EAGAIN || e === Errno.EINTR) return;
      if (e !== Errno.EIO) throw sysError("read", e);
      end(j.id); // pty master: the slave side is closed
      return;
    }
    j.off = 0;
    j.len = n;
  }
  // Write what we can now; the rest waits for POLLOUT on dst.
  while (j.off < j.len) {
    const w = Number(sys.write(j.dst, ptr(j.buf, j.off), j.len - j.off));
    if (w >= 0) {
      j.off += w;
      continue;
    }
    const e = errno();
    if (e === Errno.EINTR) continue;
    if (e === Errno.EAGAIN) return;
    // The destination went away (a pty whose process exited, a pipe without reader): done.
    if (e === Errno.EIO || e === Errno.EPIPE) {
      end(j.id);
      return;
    }
    throw sysError("write", e);
  }
}

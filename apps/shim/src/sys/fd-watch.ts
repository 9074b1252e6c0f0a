/** Readability watches on the event loop, without a thread: an eventfd (cgroup v1 OOM) or an
 *  inotify fd (cgroup v2 memory.events). `Bun.file(fd).stream()` on such a non-blocking fd reads
 *  until EAGAIN and then waits in Bun's own epoll (measured, Bun 1.4.4: events arrive within a
 *  millisecond, no thread is added, an idle watch costs no CPU, cancel leaves the fd open). The
 *  shim used to start its fd thread (fd-thread.ts, ~2 MB and a JS heap per shim) for every OOM
 *  watch; that thread now serves terminal copies only. */
import type { FdJob } from "./fd-thread.ts";

/** Calls onReadable each time fd became readable (what it read is dropped: the eventfd counter,
 *  the inotify records). The fd must be non-blocking; it stays the caller's to close after `ended`. */
export function watchFd(fd: number, onReadable: () => void, name = `watch fd ${fd}`): FdJob {
  const reader = Bun.file(fd).stream().getReader();
  let over = false;
  const ended = (async () => {
    try {
      for (;;) {
        const { done } = await reader.read();
        if (done || over) return;
        onReadable();
      }
    } catch (e) {
      if (!over) console.error(`${name}: ${(e as Error).message}`);
    } finally {
      over = true;
    }
  })();
  return {
    ended,
    stop: () => {
      if (over) return;
      over = true;
      reader.cancel().catch(() => {});
    },
  };
}

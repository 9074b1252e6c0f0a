/** OOM notifications for a container's memory cgroup, as containerd's shim publishes TaskOOM.
 *  cgroup v1: an eventfd registered on memory.oom_control through cgroup.event_control (the
 *  kernel also signals it when the cgroup is removed, which is told apart by the cgroup being
 *  gone). cgroup v2: inotify on memory.events, firing when its oom_kill counter goes up. */
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cgroupPaths } from "./cgroup-paths.ts";
import { check, closeFd, cstr, ptr, sys } from "./libc.ts";
import { watchFd } from "./fd-watch.ts";

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const IN_MODIFY = 0x2;

export type OomWatch = {
  /** Resolves once the watch stops: close(), or the cgroup was removed. */
  readonly ended: Promise<void>;
  close(): void;
};

/** Calls onOOM each time the OOM killer acts in pid's memory cgroup, until close(). */
export function watchOOM(pid: number, onOOM: () => void): OomWatch {
  const cg = cgroupPaths(pid);
  if (cg.version === 2) return watchMemoryEvents(cg.dir, onOOM);
  const dir = cg.dirs.get("memory");
  if (!dir) throw new Error(`oom watch for pid ${pid}: no memory cgroup`);
  return watchV1(dir, onOOM);
}

function watchV1(dir: string, onOOM: () => void): OomWatch {
  const efd = check(sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  try {
    const control = join(dir, "memory.oom_control");
    const ofd = openSync(control, "r");
    try {
      // The kernel holds its own reference once registered; our fd for the file can go.
      writeFileSync(join(dir, "cgroup.event_control"), `${efd} ${ofd}`);
    } finally {
      closeSync(ofd);
    }
    const w = watchFd(
      efd,
      () => {
        if (existsSync(control)) onOOM();
        else w.stop();
      },
      `oom ${dir}`,
    );
    const ended = w.ended.then(() => closeFd(efd));
    return { ended, close: () => w.stop() };
  } catch (e) {
    closeFd(efd);
    throw e;
  }
}

function oomKills(eventsFile: string): number {
  const m = /^oom_kill (\d+)$/m.exec(readFileSync(eventsFile, "utf8"));
  return m ? Number(m[1]) : 0;
}

function isEmpty(cgroupEvents: string): boolean {
  try {
    return /^populated 0$/m.test(readFileSync(cgroupEvents, "utf8"));
  } catch {
    return true;
  }
}

/** The cgroup v2 watch on dir/memory.events (exported for tests on hosts without cgroup v2 memory). */
export function watchMemoryEvents(dir: string, onOOM: () => void): OomWatch {
  const events = join(dir, "memory.events");
  const ifd = check(sys.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1");
  try {
    check(sys.inotify_add_watch(ifd, ptr(cstr(events)), IN_MODIFY), "inotify_add_watch", events);
    // cgroup.events tells when the cgroup empties: the watch ends then, as containerd's does.
    const cgroupEvents = join(dir, "cgroup.events");
    const watchesEmpty = existsSync(cgroupEvents);
    if (watchesEmpty) {
      check(
        sys.inotify_add_watch(ifd, ptr(cstr(cgroupEvents)), IN_MODIFY),
        "inotify_add_watch",
        cgroupEvents,
      );
    }
    let last = oomKills(events);
    const w = watchFd(
      ifd,
      () => {
        let now: number;
        try {
          now = oomKills(events);
        } catch {
          w.stop(); // the cgroup is gone
          return;
        }
        if (now > last) {
          last = now;
          onOOM();
        }
        if (watchesEmpty && isEmpty(cgroupEvents)) w.stop();
      },
      `oom ${dir}`,
    );
    const ended = w.ended.then(() => closeFd(ifd));
    return { ended, close: () => w.stop() };
  } catch (e) {
    closeFd(ifd);
    throw e;
  }
}

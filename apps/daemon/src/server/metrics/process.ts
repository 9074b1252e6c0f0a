/** The standard process_* metrics (prometheus/client_golang's process collector, which
 *  containerd exports), read from /proc at scrape time. */
import { readdirSync, readFileSync } from "node:fs";
import type { MetricsRegistry } from "./registry.ts";

// procfs reports times in USER_HZ ticks: 100 on Linux, as client_golang assumes too.
const userHz = 100;

/** Seconds since the epoch when this process started. */
export function processStartTime(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command (which may hold spaces) start at ") "; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[22 - 3]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    if (Number.isFinite(startTicks) && Number.isFinite(btime)) return btime + startTicks / userHz;
  } catch {
    // Not Linux: fall through.
  }
  return performance.timeOrigin / 1000;
}

function virtualMemoryBytes(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[23 - 3]);
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (!m) return undefined;
    return m[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

export function processMetrics(registry: MetricsRegistry): void {
  const cpu = registry.counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
  );
  const rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  const vsz = registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  const start = registry.gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
  );
  const fds = registry.gauge("process_open_fds", "Number of open file descriptors.");
  const max = registry.gauge("process_max_fds", "Maximum number of open file descriptors.");
  start.set(processStartTime());
  registry.collect(() => {
    const usage = process.cpuUsage();
    cpu.labels().setTotal((usage.user + usage.system) / 1e6);
    rss.set(process.memoryUsage.rss());
    const v = virtualMemoryBytes();
    if (v !== undefined) vsz.set(v);
    const open = openFds();
    if (open !== undefined) fds.set(open);
    const m = maxFds();
    if (m !== undefined) max.set(m);
  });
}

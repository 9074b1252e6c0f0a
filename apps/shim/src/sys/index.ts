/** The shim's low-level pieces, each over bun:ffi where Bun has no API for it: reaping re-parented
 *  processes, receiving and copying a container's terminal, OOM events and cgroup metrics.
 *  Workers: fd.worker.ts must be an extra entry point of `bun build --compile`. */
export { type AnyMetrics, readMetricsV1, readMetricsV2, readStats } from "./cgroups.ts";
export { type CgroupPaths, cgroupPaths } from "./cgroup-paths.ts";
export { ConsoleSocket, copyPty, type PtyCopy, type ReceiveOptions, resizePty } from "./console.ts";
export { copyFd, type FdJob } from "./fd-thread.ts";
export { watchFd } from "./fd-watch.ts";
export { type OomWatch, watchMemoryEvents, watchOOM } from "./oom.ts";
export {
  type ExecOptions,
  type ExecResult,
  type Exit,
  type ExitListener,
  exitStatus,
  Reaper,
  type ReaperOptions,
  setSubreaper,
} from "./reaper.ts";

/** The v2 runtime: the task manager, bundles, and running shim binaries. */
export { type CreateOpts, type Exit, RuntimeTask, TaskManager } from "./manager.ts";
export { parseShimAddress, shimBinaryName } from "./binary.ts";
export { RUNTIME_WORKER } from "./plugin.ts";

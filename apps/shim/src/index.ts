/** @bunkerd/shim: containerd-shim-bunker-v2, the shim v2 binary for io.containerd.bunker.v2.
 *  Its entry point is main.ts (bin/containerd-shim-bunker-v2); these names are for tests and for
 *  the daemon's runtime, which must find the shim and speak its task API. */
export { SOCKET_DIR, socketAddress } from "./address.ts";
export { GROUP_ANNOTATIONS } from "./group.ts";
export { TASK_SERVICE } from "./service.ts";
export { RUNTIME_TYPE, SHIM_NAME, VERSION } from "./version.ts";

/** bctr's command groups, in Go ctr's order: one line each, `"name,alias,…": loader`.
 *  A group is a folder under commands/ whose index.ts default-exports its command. */
import { notImplemented, type Registry } from "../cli/command.ts";

export const commands: Registry = {
  "plugins,plugin": () => import("./plugins/index.ts"),
  version: () => import("./version/index.ts"),
  content: () => import("./content/index.ts"),
  "events,event": () => import("./events/index.ts"),
  "images,image,i": () => import("./images/index.ts"),
  leases: () => import("./leases/index.ts"),
  "namespaces,namespace,ns": () => import("./namespaces/index.ts"),
  pprof: notImplemented(
    "pprof",
    "provide golang pprof outputs for containerd",
    "bunkerd is not a Go program",
  ),
  "snapshots,snapshot": () => import("./snapshots/index.ts"),
  run: () => import("./run/index.ts"),
  "containers,c,container": () => import("./containers/index.ts"),
  "tasks,t,task": () => import("./tasks/index.ts"),
  install: notImplemented("install", "install a new package", "use images mount, or Go ctr"),
  oci: notImplemented("oci", "OCI tools", "bctr run builds its spec client-side; see test/ctr/bctr-run-spec"),
  shim: notImplemented("shim", "interact with a shim directly", "talk to the daemon's Tasks service instead"),
  completion: () => import("./completion/index.ts"),
};

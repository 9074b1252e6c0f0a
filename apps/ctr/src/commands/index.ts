/** bctr's command groups, in Go ctr's order: one line each, `"name,alias,…": loader`.
 *  A group is a folder under commands/ whose index.ts default-exports its command. */
import type { Registry } from "../cli/command.ts";

export const commands: Registry = {
  "plugins,plugin": () => import("./plugins/index.ts"),
  version: () => import("./version/index.ts"),
  content: () => import("./content/index.ts"),
  "events,event": () => import("./events/index.ts"),
  "images,image,i": () => import("./images/index.ts"),
  leases: () => import("./leases/index.ts"),
  "namespaces,namespace,ns": () => import("./namespaces/index.ts"),
  "snapshots,snapshot": () => import("./snapshots/index.ts"),
  run: () => import("./run/index.ts"),
  "containers,c,container": () => import("./containers/index.ts"),
  "tasks,t,task": () => import("./tasks/index.ts"),
  completion: () => import("./completion/index.ts"),
};

import { group, notImplemented } from "../../cli/command.ts";

export default group("containers", "manage containers", {
  create: () => import("./create.ts"),
  "delete,del,remove,rm": () => import("./delete.ts"),
  info: () => import("./info.ts"),
  "list,ls": () => import("./list.ts"),
  label: () => import("./label.ts"),
  checkpoint: notImplemented(
    "containers checkpoint",
    "checkpoint a container",
    "needs criu; see tasks checkpoint",
  ),
  restore: notImplemented("containers restore", "restore a container from checkpoint", "needs criu"),
});

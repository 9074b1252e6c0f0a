import { group } from "../../cli/command.ts";

export default group("tasks", "manage tasks", {
  attach: () => import("./attach.ts"),
  checkpoint: () => import("./checkpoint.ts"),
  "delete,del,remove,rm": () => import("./delete.ts"),
  exec: () => import("./exec.ts"),
  "list,ls": () => import("./list.ts"),
  kill: () => import("./kill.ts"),
  pause: () => import("./pause.ts"),
  ps: () => import("./ps.ts"),
  resume: () => import("./resume.ts"),
  start: () => import("./start.ts"),
  "metrics,metric": () => import("./metrics.ts"),
});

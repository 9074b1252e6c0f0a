import { group } from "../../cli/command.ts";

export default group("content", "manage content", {
  active: () => import("./active.ts"),
  "delete,del,remove,rm": () => import("./rm.ts"),
  edit: () => import("./edit.ts"),
  fetch: () => import("./fetch.ts"),
  "fetch-object": () => import("./fetch-object.ts"),
  get: () => import("./get.ts"),
  ingest: () => import("./ingest.ts"),
  "list,ls": () => import("./ls.ts"),
  "push-object": () => import("./push-object.ts"),
  label: () => import("./label.ts"),
  prune: () => import("./prune.ts"),
});

import { group } from "../../cli/command.ts";

export default group("namespaces", "manage namespaces", {
  "create,c": () => import("./create.ts"),
  "list,ls": () => import("./ls.ts"),
  "remove,rm": () => import("./rm.ts"),
  label: () => import("./label.ts"),
});

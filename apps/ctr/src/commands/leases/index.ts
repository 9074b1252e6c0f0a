import { group } from "../../cli/command.ts";

export default group("leases", "manage leases", {
  "list,ls": () => import("./ls.ts"),
  create: () => import("./create.ts"),
  "delete,del,remove,rm": () => import("./rm.ts"),
});

import { group } from "../../cli/command.ts";

export default group("plugins", "provides information about containerd plugins", {
  "list,ls": () => import("./ls.ts"),
});

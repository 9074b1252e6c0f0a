import { group } from "../../cli/command.ts";

export default group("images", "manage images", {
  check: () => import("./check.ts"),
  export: () => import("./export.ts"),
  import: () => import("./import.ts"),
  "list,ls": () => import("./ls.ts"),
  mount: () => import("./mount.ts"),
  unmount: () => import("./unmount.ts"),
  pull: () => import("./pull.ts"),
  push: () => import("./push.ts"),
  "delete,del,remove,rm": () => import("./rm.ts"),
  tag: () => import("./tag.ts"),
  label: () => import("./label.ts"),
  convert: () => import("./convert.ts"),
  usage: () => import("./usage.ts"),
});

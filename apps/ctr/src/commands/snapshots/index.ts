/** `bctr snapshots [--snapshotter NAME] <verb>`: the snapshotter flag belongs to the group, as
 *  in Go ctr; verbs read it from ./state.ts. */
import { defineCommand } from "citty";
import { expand } from "../../cli/command.ts";
import { snapshotterArgs } from "../../cli/flags.ts";
import { state } from "./state.ts";

export default defineCommand({
  meta: { name: "snapshots", description: "manage snapshots" },
  args: { ...snapshotterArgs },
  setup({ args }) {
    if (args.snapshotter) state.snapshotter = args.snapshotter;
  },
  subCommands: expand({
    commit: () => import("./commit.ts"),
    diff: () => import("./diff.ts"),
    info: () => import("./info.ts"),
    "list,ls": () => import("./ls.ts"),
    "mounts,m,mount": () => import("./mounts.ts"),
    prepare: () => import("./prepare.ts"),
    "delete,del,remove,rm": () => import("./rm.ts"),
    label: () => import("./label.ts"),
    tree: () => import("./tree.ts"),
    unpack: () => import("./unpack.ts"),
    usage: () => import("./usage.ts"),
    view: () => import("./view.ts"),
  }),
});

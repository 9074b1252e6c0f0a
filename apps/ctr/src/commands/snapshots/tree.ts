/** Snapshots as a tree of parents and children, roots first in list order. */
import { defineCommand } from "citty";
import { write } from "../../cli/output.ts";
import { listSnapshots } from "./ls.ts";

export default defineCommand({
  meta: { name: "tree", description: "display tree view of snapshot branches" },
  async run() {
    const infos = await listSnapshots();
    const names = new Set(infos.map((i) => i.name));
    const children = new Map<string, string[]>();
    const roots: string[] = [];
    for (const i of infos) {
      if (i.parent && names.has(i.parent)) {
        children.set(i.parent, [...(children.get(i.parent) ?? []), i.name]);
      } else roots.push(i.name);
    }
    const print = (name: string, level: number) => {
      write(`${"  ".repeat(level)}${level > 0 ? "\\_" : ""} ${name}\n`);
      for (const c of children.get(name) ?? []) print(c, level + 1);
    };
    for (const r of roots) print(r, 0);
  },
});

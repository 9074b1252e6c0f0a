/** Snapshot filters as containerd matches them (storage/bolt.go adaptSnapshot, filters/filter.go):
 *  fields `kind`, `name`, `parent` and `labels.<key>`. `name`, `kind` and `parent` are always
 *  present (a base snapshot's parent is present and empty); a label is present when set. An
 *  absent field compares as "": `!=` matches it and `~=` tests "". */
import { type Conjunction, parseFilters } from "@bunkerd/plugin-api";
import type { SnapshotInfo } from "../snapshotter.ts";

type Selector = Conjunction[number];

function field(info: SnapshotInfo, path: string[]): { value: string; present: boolean } {
  switch (path[0]) {
    case "kind":
      return { value: info.kind, present: true };
    case "name":
      return { value: info.name, present: true };
    case "parent":
      return { value: info.parent ?? "", present: true };
    case "labels": {
      const key = path.slice(1).join(".");
      if (Object.hasOwn(info.labels, key)) return { value: info.labels[key]!, present: true };
      return { value: "", present: false };
    }
  }
  return { value: "", present: false };
}

function matches(sel: Selector, info: SnapshotInfo): boolean {
  const { value, present } = field(info, sel.path);
  switch (sel.op) {
    case "present":
      return present;
    case "==":
      return present && value === sel.value;
    case "!=":
      return value !== sel.value;
    case "~=":
      return sel.re!.test(value);
  }
}

/** Parses the filters once (InvalidArgument on a bad one) into a predicate: true when any
 *  filter string matches, or when there are none. */
export function compileFilters(filters: readonly string[]): (info: SnapshotInfo) => boolean {
  const parsed = parseFilters(filters);
  if (parsed.length === 0) return () => true;
  return (info) => parsed.some((conj) => conj.every((sel) => matches(sel, info)));
}

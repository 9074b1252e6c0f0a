/** containerd's adaptSnapshot: the fields a snapshot filter reads. A module of its own, free of
 *  the database, so the snapshotter worker can filter what it walks without loading SQLite. */
import type { FieldLookup } from "@bunkerd/plugin-api";

/** A snapshot as filters see it: its key as `name`, its parent's key ("" for none). */
export type FilterableSnapshot = {
  name: string;
  parent?: string;
  kind: string;
  labels: Record<string, string>;
};

/** `name`, `parent`, `kind`, `labels.<key>` (the rest of the path joined with dots). */
export const snapshotFields =
  (info: FilterableSnapshot): FieldLookup =>
  ([field, ...rest]) => {
    switch (field) {
      case "name":
        return info.name;
      case "parent":
        return info.parent ?? "";
      case "kind":
        return info.kind;
      case "labels": {
        const key = rest.join(".");
        return Object.hasOwn(info.labels, key) ? info.labels[key] : undefined;
      }
      default:
        return undefined;
    }
  };

/** Per-snapshotter metadata: ids, parent chains, kinds, labels and recorded usage in
 *  `<root>/metadata.db` (containerd's snapshots/storage). */
export { compileFilters } from "./filters.ts";
export { MetaStore } from "./metastore.ts";
export type { StoredSnapshot, Transaction } from "./transaction.ts";

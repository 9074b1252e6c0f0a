/** The metadata store: the SQLite database that holds what containerd keeps in its bolt file
 *  (namespaces, images, containers, content and snapshot records, leases), its schema and
 *  migrations, and the per-table stores that services call inside one transaction. */
export {
  knownSchemaVersion,
  MIGRATIONS_FOLDER,
  type MetadataDb,
  type MetadataTx,
  type OpenOptions,
  openMetadata,
  read,
  schemaVersion,
  write,
} from "./db.ts";
export {
  createNamespace,
  deleteNamespace,
  ensureNamespace,
  listNamespaces,
  type Namespace,
  namespaceContents,
  namespaceLabels,
  setNamespaceLabel,
} from "./namespaces.ts";
export * as schema from "./schema.ts";
export { type ContainerExtension, GcLabel, type Labels, type SnapshotKind } from "./schema.ts";
export { goQuote, validateLabel, validateLabels } from "./validate.ts";

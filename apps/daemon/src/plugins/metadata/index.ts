/** The metadata store: the SQLite database that holds what containerd keeps in its bolt file
 *  (namespaces, images, containers, content and snapshot records, leases), its schema and
 *  migrations, the per-table stores that services call inside one transaction, the content and
 *  snapshot records the content and snapshotter workers reach by proxy, and the notices writers
 *  send the collector. */
export {
  knownSchemaVersion,
  type MetadataDb,
  type MetadataTx,
  type OpenOptions,
  openMetadata,
  read,
  schemaVersion,
  write,
} from "./db.ts";
export {
  backendRefOf,
  type CommitRecord,
  type ContentInfo,
  ContentRecords,
  contentFields,
  INGEST_EXPIRY_MS,
  type IngestRecord,
  type StartIngestOptions,
} from "./content-records.ts";
export {
  type AnyValue,
  type ContainerInput,
  type ContainerRecord,
  containerFields,
  containerProblem,
  createContainer,
  deleteContainer,
  findContainer,
  getContainer,
  listContainers,
  updateContainer,
} from "./containers.ts";
export { type Deletion, type GcNotifier, gcNotifier, noGc } from "./gc-notify.ts";
export {
  createImage,
  deleteImage,
  findImage,
  getImage,
  type Image,
  type ImageInput,
  type ImageTarget,
  imageFields,
  listImages,
  updateImage,
  validateImage,
} from "./images.ts";
export {
  addLeaseResource,
  attachToLease,
  createLease,
  deleteLease,
  deleteLeaseResource,
  detachFromLease,
  findLease,
  type Lease,
  type LeaseResource,
  leaseFields,
  listLeaseResources,
  listLeases,
  parseLeaseResource,
  ResourceType,
  snapshotResource,
} from "./leases.ts";
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
export {
  type ContainerExtension,
  GcLabel,
  type Labels,
  type SnapshotKind,
  type SnapshotPending,
} from "./schema.ts";
export {
  type AbortOptions,
  backendNameOf,
  type CommitRequest,
  type CommitReservation,
  type CreateRequest,
  type CreateReservation,
  type PendingSnapshot,
  type Reservation,
  SNAPSHOT_REF_LABEL,
  type SnapshotRecord,
  SnapshotRecords,
} from "./snapshot-records.ts";
export { type FilterableSnapshot, snapshotFields } from "./snapshot-fields.ts";
export { digestProblem, goQuote, storedLabels, validateLabel, validateLabels } from "./validate.ts";

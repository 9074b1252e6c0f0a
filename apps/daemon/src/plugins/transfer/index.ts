/** The transfer pipeline: registry → image store pulls (fetch into content, unpack into a
 *  snapshotter, image records), image store → registry pushes, archive imports and exports,
 *  and the ingest sessions they drive in the content worker. */
export { type ArchiveContents, cleanName, JSON_LIMIT, maybeGunzip, readArchive } from "./archive-read.ts";
export { chainId, chainIds } from "@bunkerd/registry";
export { type TransferConfig, defaultConfig, parseConfig } from "./config.ts";
export { type FetchContext, fetchBlob, type IngestApi, Inflight, WRITE_CHUNK } from "./fetch.ts";
export { dockerIndex, ociReferenceName } from "./docker-archive.ts";
export { type ExportServices, exportStream } from "./export.ts";
export { refTranslator, storeNames } from "./image-names.ts";
export { importStream, storeImage } from "./import.ts";
export { IngestSessions, type Opened, type OpenOptions } from "./ingest.ts";
export { appendSource, childrenLabels, distributionSource, Label, refKey } from "@bunkerd/registry";
export { DEFAULT_SNAPSHOTTER, ingestSessions, TRANSFER_WORKER, transferLocal } from "./plugin.ts";
export { type ProgressEvent, type ProgressFn, ProgressTracker } from "./progress.ts";
export { type ImageRecord, LEASE_EXPIRY_MS, type PullServices, pull } from "./pull.ts";
export { type PushServices, push } from "./push.ts";
export { TarReader, type TarEntry } from "./tar-reader.ts";
export { LocalTransfer, type TransferServices } from "./transfer.ts";
export type * from "./types.ts";
export { describeObject } from "./types.ts";
export { parseImageConfig, unpack } from "./unpack.ts";
export { writeBlob, writeBytes } from "./write-blob.ts";

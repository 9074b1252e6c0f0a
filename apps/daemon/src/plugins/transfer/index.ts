/** The transfer pipeline: registry → image store pulls (fetch into content, unpack into a
 *  snapshotter, image records), and the ingest sessions it drives in the content worker. */
export { chainId, chainIds } from "./chainid.ts";
export { type TransferConfig, defaultConfig, parseConfig } from "./config.ts";
export { type FetchContext, fetchBlob, type IngestApi, Inflight, WRITE_CHUNK } from "./fetch.ts";
export { IngestSessions, type Opened, type OpenOptions } from "./ingest.ts";
export { appendSource, childrenLabels, distributionSource, Label, refKey } from "./labels.ts";
export { DEFAULT_SNAPSHOTTER, ingestSessions, TRANSFER_WORKER, transferLocal } from "./plugin.ts";
export { type ProgressEvent, type ProgressFn, ProgressTracker } from "./progress.ts";
export { type ImageRecord, LEASE_EXPIRY_MS, type PullServices, pull } from "./pull.ts";
export { LocalTransfer } from "./transfer.ts";
export type * from "./types.ts";
export { describeObject } from "./types.ts";
export { parseImageConfig, unpack } from "./unpack.ts";

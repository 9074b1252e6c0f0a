/** The local content store (containerd's `content/local`): blobs under blobs/<algorithm>,
 *  resumable writes under ingest/, laid out on disk exactly as containerd 1.6 does. */
export { type Algorithm, CANONICAL, digestProblem, parseDigest } from "./digest.ts";
export type { Status } from "./ingest.ts";
export { BlobReader, CHUNK_SIZE, ReaderAt } from "./reader.ts";
export { type IngestEntry, type Info, LocalStore, type WriterOptions } from "./store.ts";
export { Writer } from "./writer.ts";

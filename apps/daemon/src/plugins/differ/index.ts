/** The differ: layer apply (tar → snapshot) and compare (two snapshots → layer), containerd's
 *  `archive`, `archive/compression`, `diff/apply` and `diff/walking`, on Bun. */
export {
  type ApplyOptions,
  type CompareOptions,
  type CompareResult,
  type Descriptor,
  overlayUpperdir,
  WalkingDiffer,
} from "./differ.ts";
export { DIFFER_WORKER, hostPlatform } from "./plugin.ts";
export { type Mount, readonlyMounts, withReadonlyTempMount, withTempMount } from "./mount.ts";
export { type DiffCompression, diffCompression, MediaType } from "./mediatype.ts";

// Building blocks, for other bunkerd code (the unpacker, tests, benchmarks).
export {
  type ApplyResult,
  type ApplyTarget,
  applyTar,
  applyTarget,
  applyToMounts,
  type WhiteoutMode,
} from "./apply.ts";
export {
  type Compression,
  defaultMaxUncompressed,
  detectCompression,
  type LayerStream,
  openLayer,
} from "./decompress.ts";
export { type LayerCompression, type LayerDigests, LayerOutput } from "./diff.ts";
export { isHeaderOnly, type TarHeader, TarReader, type TarSink, TypeFlag, xattrsOf } from "./tar.ts";
export { TarWriter, type WriteHeader } from "./tar-writer.ts";

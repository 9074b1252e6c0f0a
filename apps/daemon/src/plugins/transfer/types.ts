/** The transfer objects as plain data: what containerd.types.transfer.OCIRegistry and
 *  ImageStore carry, parsed at the API edge (services/transfer) into these. */
import type { CredentialsFn, Platform } from "@bunkerd/registry";
import type { ProgressFn } from "./progress.ts";

/** A registry reference to pull from (containerd.types.transfer.OCIRegistry). */
export interface RegistrySource {
  kind: "registry";
  reference: string;
  /** hosts.toml directory (`config_path` layout); the plugin's `config_path` when empty. */
  hostDir?: string;
  /** "http" for plain http where hosts.toml says nothing (ctr's `--plain-http`). */
  defaultScheme?: string;
  headers: Record<string, string>;
  /** The Streaming stream on which credentials are asked for, when the client offers one. */
  authStream?: string;
}

export interface ImageReference {
  name: string;
  isPrefix: boolean;
  allowOverwrite: boolean;
  addDigest: boolean;
  skipNamedDigest: boolean;
}

export interface UnpackConfiguration {
  /** Undefined: the host's default platform. */
  platform?: Platform;
  /** Empty: the default snapshotter. */
  snapshotter: string;
}

/** The local image store as a destination (containerd.types.transfer.ImageStore). */
export interface ImageStoreTarget {
  kind: "image-store";
  name: string;
  labels: Record<string, string>;
  /** Content to fetch: these platforms; none means all of them (as containerd reads it). */
  platforms: Platform[];
  /** Manifests and configs of every platform, layers only for the selected ones. */
  allMetadata: boolean;
  /** At most this many manifests of an index (0: no limit). */
  manifestLimit: number;
  extraReferences: ImageReference[];
  unpacks: UnpackConfiguration[];
}

/** An archive the client streams in (containerd.types.transfer.ImageImportStream). */
export interface ImportStreamSource {
  kind: "import-stream";
  stream: string;
  mediaType: string;
  forceCompress: boolean;
  /** The archive's bytes, as they arrive (set by the service from the named stream). */
  bytes: AsyncIterable<Uint8Array>;
}

/** Where an export's bytes go: the client's stream, as its window allows. */
export interface ByteSink {
  write(bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/** An archive streamed back to the client (containerd.types.transfer.ImageExportStream). */
export interface ExportStreamTarget {
  kind: "export-stream";
  stream: string;
  mediaType: string;
  platforms: Platform[];
  allPlatforms: boolean;
  skipCompatibilityManifest: boolean;
  skipNonDistributable: boolean;
  sink: ByteSink;
}

export type TransferSource = RegistrySource | ImportStreamSource | ImageStoreTarget;
export type TransferDestination = ImageStoreTarget | RegistrySource | ExportStreamTarget;

export interface TransferOptions {
  ns: string;
  /** The caller's `containerd-lease`: used instead of a lease of the operation's own. */
  lease?: string;
  signal: AbortSignal;
  progress?: ProgressFn;
  credentials?: CredentialsFn;
}

/** How containerd names the objects in messages ("OCI Registry (ref)", "Local Image Store (name)"). */
export function describeObject(o: TransferSource | TransferDestination): string {
  switch (o.kind) {
    case "registry":
      return `OCI Registry (${o.reference})`;
    case "image-store":
      return `Local Image Store (${o.name})`;
    case "import-stream":
      return `Image Import Stream (${o.stream})`;
    case "export-stream":
      return `Image Export Stream (${o.stream})`;
  }
}

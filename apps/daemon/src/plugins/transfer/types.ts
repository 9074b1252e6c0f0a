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

export type TransferSource = RegistrySource;
export type TransferDestination = ImageStoreTarget;

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
  return o.kind === "registry" ? `OCI Registry (${o.reference})` : `Local Image Store (${o.name})`;
}

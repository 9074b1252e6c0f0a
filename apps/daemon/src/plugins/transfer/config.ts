/** `[plugins."io.containerd.transfer.v1.local"]`: the keys of containerd 1.7's transfer plugin
 *  that a pull reads. */
import { invalidArgument } from "@bunkerd/plugin-api";
import { MAX_CONCURRENT_DOWNLOADS } from "@bunkerd/registry";

export interface TransferConfig {
  /** Descriptors handled (downloaded) at once per pull. */
  max_concurrent_downloads: number;
  /** hosts.toml directory for requests that name none (containerd's `config_path`). */
  config_path: string;
}

export const defaultConfig: TransferConfig = {
  max_concurrent_downloads: MAX_CONCURRENT_DOWNLOADS,
  config_path: "",
};

export function parseConfig(raw: Record<string, unknown>): TransferConfig {
  const n = raw.max_concurrent_downloads ?? defaultConfig.max_concurrent_downloads;
  const downloads = typeof n === "bigint" ? Number(n) : n;
  if (typeof downloads !== "number" || !Number.isInteger(downloads) || downloads < 1) {
    throw invalidArgument("max_concurrent_downloads: must be a positive integer");
  }
  const path = raw.config_path ?? "";
  if (typeof path !== "string") throw invalidArgument("config_path: must be a string");
  return { max_concurrent_downloads: downloads, config_path: path };
}

/**
 * The daemon's configuration: containerd's version 2 `config.toml`, read with containerd 1.6's
 * rules (imports, merging, plugin URIs) so one file starts either daemon; bunkerd's own defaults
 * keep the two apart (/var/lib/bunkerd, /run/bunkerd, /run/bunkerd/bunkerd.sock).
 *
 * Startup: `loadConfig(path, { explicit, pluginDefaults })` → log its warnings →
 * `applyFlags(config, flags)` → listen on `config.grpc.address` and `effectiveTtrpc(config).address`.
 */
export type {
  CgroupConfig,
  Config,
  DebugConfig,
  GrpcConfig,
  LogFormat,
  LogLevel,
  MetricsConfig,
  PluginConfig,
  ProxyPlugin,
  StreamProcessor,
  TtrpcConfig,
} from "./types.ts";
export { LOG_FORMATS, LOG_LEVELS } from "./types.ts";
export {
  DEFAULT_ADDRESS,
  DEFAULT_CONFIG_PATH,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_ROOT,
  DEFAULT_STATE,
  DEFAULT_TIMEOUTS,
  defaultConfig,
  type PluginDefaults,
} from "./defaults.ts";
export { type LoadOptions, type LoadResult, loadConfig } from "./load.ts";
export { applyFlags, effectiveTtrpc, type Flags } from "./flags.ts";
export { defaultConfigToml, dumpConfigToml } from "./dump.ts";
export { ConfigError, type ConfigErrorLocation } from "./errors.ts";
export { parseDuration } from "./duration.ts";
export { locateKey } from "./locate.ts";

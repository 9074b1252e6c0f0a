/**
 * The daemon's configuration: containerd's version 2 `config.toml`, key for key. Property names are
 * the TOML keys themselves, so a key in the file, in an error message and in code is one string.
 * See containerd's services/server/config/config.go (release/1.6).
 */
import type { TomlTable } from "./toml.ts";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface GrpcConfig {
  /** Unix socket of the gRPC API. */
  address: string;
  /** Optional TCP listener ("host:port"), TLS when the three files below are set. */
  tcp_address: string;
  tcp_tls_ca: string;
  tcp_tls_cert: string;
  tcp_tls_key: string;
  /** Owner of the socket file. */
  uid: number;
  gid: number;
  max_recv_message_size: number;
  max_send_message_size: number;
}

export interface TtrpcConfig {
  /** "" means `<grpc.address>.ttrpc` with grpc's uid and gid: read it through `effectiveTtrpc`. */
  address: string;
  uid: number;
  gid: number;
}

export interface DebugConfig {
  /** pprof/expvar listener: a unix socket path, or "host:port". "" = off. */
  address: string;
  uid: number;
  gid: number;
  level: LogLevel;
  format: LogFormat;
}

export interface MetricsConfig {
  /** Prometheus `/v1/metrics` listener ("host:port"). "" = off. */
  address: string;
  grpc_histogram: boolean;
}

export interface CgroupConfig {
  /** Cgroup the daemon moves itself into. "" = leave it where it is. */
  path: string;
}

/** An external plugin reached over gRPC. Kept and written back; bunkerd does not load them. */
export interface ProxyPlugin {
  type: string;
  address: string;
  platform?: string;
  exports?: Record<string, string>;
  capabilities?: string[];
}

/** A binary that decodes layer media types (ocicrypt). Kept and written back; bunkerd does not run them. */
export interface StreamProcessor {
  accepts: string[];
  returns: string;
  path: string;
  args: string[];
  env: string[];
}

/** A plugin's section, `[plugins."<type>.<id>"]`: its defaults with the file's keys laid over them. */
export type PluginConfig = TomlTable;

export interface Config {
  /** Always 2 once loaded: bunkerd reads containerd's version 2 format only. */
  version: number;
  /** Persistent data, `<root>/<plugin URI>/…`. */
  root: string;
  /** Transient data (sockets, bundles), `<state>/<plugin URI>/…`. */
  state: string;
  /** Directory for temporary files ("" = the system's). */
  temp: string;
  plugin_dir: string;
  /** Plugin URIs (`io.containerd.snapshotter.v1.zfs`) not to load. */
  disabled_plugins: string[];
  /** Plugin URIs whose failure stops the daemon. */
  required_plugins: string[];
  /** The daemon's own /proc/self/oom_score_adj, -1000..1000. */
  oom_score: number;
  /** After loading: every file read, in merge order, the main file first (as containerd records it). */
  imports: string[];
  grpc: GrpcConfig;
  ttrpc: TtrpcConfig;
  debug: DebugConfig;
  metrics: MetricsConfig;
  cgroup: CgroupConfig;
  /** `io.containerd.timeout.*` name → Go duration ("5s"); read with `parseDuration`. */
  timeouts: Record<string, string>;
  /** Plugin URI → its effective config table. */
  plugins: Record<string, PluginConfig>;
  proxy_plugins: Record<string, ProxyPlugin>;
  stream_processors: Record<string, StreamProcessor>;
}

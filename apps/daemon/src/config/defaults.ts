/**
 * bunkerd's defaults. Paths differ from containerd's so both daemons can run side by side;
 * a user who wants a drop-in replacement sets containerd's paths in the file.
 */
import { cloneValue, type TomlTable } from "./toml.ts";
import type { Config } from "./types.ts";

export const DEFAULT_CONFIG_PATH = "/etc/bunkerd/config.toml";
export const DEFAULT_ROOT = "/var/lib/bunkerd";
export const DEFAULT_STATE = "/run/bunkerd";
export const DEFAULT_ADDRESS = "/run/bunkerd/bunkerd.sock";
/** containerd's defaults.DefaultMaxRecvMsgSize / DefaultMaxSendMsgSize: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 << 20;

/** The timeouts containerd registers and bunkerd's runtime honours (bolt.open has no SQLite twin). */
export const DEFAULT_TIMEOUTS: Readonly<Record<string, string>> = {
  "io.containerd.timeout.shim.cleanup": "5s",
  "io.containerd.timeout.shim.load": "5s",
  "io.containerd.timeout.shim.shutdown": "3s",
  "io.containerd.timeout.task.state": "2s",
};

/** Plugin URI → that plugin's default config table (`{}` for a plugin without config). */
export type PluginDefaults = Record<string, object>;

/** A fresh default config; `plugins` holds a copy of each plugin's defaults. */
export function defaultConfig(pluginDefaults: PluginDefaults = {}): Config {
  const plugins: Config["plugins"] = {};
  for (const [uri, table] of Object.entries(pluginDefaults)) plugins[uri] = cloneValue(table as TomlTable);
  return {
    version: 2,
    root: DEFAULT_ROOT,
    state: DEFAULT_STATE,
    temp: "",
    plugin_dir: "",
    disabled_plugins: [],
    required_plugins: [],
    oom_score: 0,
    imports: [],
    grpc: {
      address: DEFAULT_ADDRESS,
      tcp_address: "",
      tcp_tls_ca: "",
      tcp_tls_cert: "",
      tcp_tls_key: "",
      uid: 0,
      gid: 0,
      max_recv_message_size: DEFAULT_MAX_MESSAGE_SIZE,
      max_send_message_size: DEFAULT_MAX_MESSAGE_SIZE,
    },
    ttrpc: { address: "", uid: 0, gid: 0 },
    debug: { address: "", uid: 0, gid: 0, level: "info", format: "text" },
    metrics: { address: "", grpc_histogram: false },
    cgroup: { path: "" },
    timeouts: { ...DEFAULT_TIMEOUTS },
    plugins,
    proxy_plugins: {},
    stream_processors: {},
  };
}

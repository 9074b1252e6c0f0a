/**
 * One config file → a Layer: its values typed and checked, unknown keys reported as warnings.
 * Merging layers (containerd's rules) is merge.ts's business; a layer only says what one file set.
 */
import { isAbsolute } from "node:path";
import { parseDuration } from "./duration.ts";
import { describe, Invalid } from "./errors.ts";
import { type Source, warningAt } from "./locate.ts";
import { isTable, type KeyPath, normalize, type TomlTable, type TomlValue } from "./toml.ts";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type PluginConfig,
  type ProxyPlugin,
  type StreamProcessor,
} from "./types.ts";

export type Scalar = string | number | boolean;
export type ListKey = "disabled_plugins" | "required_plugins" | "imports";

export interface Layer extends Source {
  /** Scalars the file sets, zero values included: merge.ts decides what a zero value means. */
  scalars: { path: [string] | [string, string]; value: Scalar }[];
  lists: Record<ListKey, string[]>;
  plugins: Record<string, PluginConfig>;
  timeouts: Record<string, string>;
  proxy_plugins: Record<string, ProxyPlugin>;
  stream_processors: Record<string, StreamProcessor>;
}

type Reader = (value: TomlValue, path: KeyPath) => Scalar;

function refuse(path: KeyPath, expected: string, value: TomlValue): never {
  // Integers arrive as BigInt, so a number here is a float: show it as one.
  const got = typeof value === "number" && Number.isInteger(value) ? `${value}.0` : describe(value);
  throw new Invalid(path, `${expected}, got ${got}`);
}

const text: Reader = (v, path) => (typeof v === "string" ? v : refuse(path, "must be a string", v));

const flag: Reader = (v, path) => (typeof v === "boolean" ? v : refuse(path, "must be true or false", v));

/** An integer in [min, max]; 0 always passes, since 0 means "not set" when files merge. */
const integer =
  (min: bigint, max: bigint, expected: string, tooLarge = expected): Reader =>
  (v, path) => {
    if (typeof v !== "bigint") return refuse(path, expected, v);
    if (v > max) return refuse(path, tooLarge, v);
    if (v !== 0n && v < min) return refuse(path, expected, v);
    return Number(v);
  };

const absolutePath: Reader = (v, path) => {
  const s = text(v, path) as string;
  return s === "" || isAbsolute(s) ? s : refuse(path, "must be an absolute path", v);
};

const id = integer(0n, 0xffff_ffffn, "must be an integer between 0 and 4294967295");
const size = integer(
  1n,
  BigInt(Number.MAX_SAFE_INTEGER),
  "must be a positive integer",
  `must be at most ${Number.MAX_SAFE_INTEGER}`,
);

const logLevel: Reader = (v, path) => {
  const s = (text(v, path) as string).toLowerCase();
  return s === "" || (LOG_LEVELS as readonly string[]).includes(s)
    ? s
    : refuse(path, `must be one of ${LOG_LEVELS.join(", ")}`, v);
};

const logFormat: Reader = (v, path) => {
  const s = text(v, path) as string;
  return s === "" || (LOG_FORMATS as readonly string[]).includes(s)
    ? s
    : refuse(path, 'must be "text" or "json"', v);
};

const topScalars: Record<string, Reader> = {
  version: integer(-(2n ** 63n), 2n ** 63n - 1n, "must be an integer"),
  root: absolutePath,
  state: absolutePath,
  temp: text,
  plugin_dir: text,
  oom_score: integer(-1000n, 1000n, "must be an integer between -1000 and 1000"),
};

const sections: Record<string, Record<string, Reader>> = {
  grpc: {
    address: text,
    tcp_address: text,
    tcp_tls_ca: text,
    tcp_tls_cert: text,
    tcp_tls_key: text,
    uid: id,
    gid: id,
    max_recv_message_size: size,
    max_send_message_size: size,
  },
  ttrpc: { address: text, uid: id, gid: id },
  debug: { address: text, uid: id, gid: id, level: logLevel, format: logFormat },
  metrics: { address: text, grpc_histogram: flag },
  cgroup: { path: text },
};

const lists: readonly ListKey[] = ["disabled_plugins", "required_plugins", "imports"];
const maps = ["timeouts", "plugins", "proxy_plugins", "stream_processors"] as const;

function table(v: TomlValue, path: KeyPath): TomlTable {
  return isTable(v) ? v : refuse(path, "must be a table", v);
}

function strings(v: TomlValue, path: KeyPath): string[] {
  if (!Array.isArray(v)) return refuse(path, "must be an array of strings", v);
  return v.map((item, i) =>
    typeof item === "string" ? item : refuse([...path, i], "must be a string", item),
  );
}

/** Checks and types one parsed file. Throws Invalid (with a key path) for a bad value. */
export function decodeLayer(source: Source, raw: TomlTable, warnings: string[]): Layer {
  const layer: Layer = {
    ...source,
    scalars: [],
    lists: { disabled_plugins: [], required_plugins: [], imports: [] },
    plugins: {},
    timeouts: {},
    proxy_plugins: {},
    stream_processors: {},
  };
  const unknown = (path: KeyPath) => warnings.push(warningAt(source, path, "unknown key, ignored"));

  for (const [key, value] of Object.entries(raw)) {
    const scalar = topScalars[key];
    const section = sections[key];
    if (scalar) {
      layer.scalars.push({ path: [key], value: scalar(value, [key]) });
    } else if (section) {
      for (const [k, v] of Object.entries(table(value, [key]))) {
        const read = section[k];
        if (read) layer.scalars.push({ path: [key, k], value: read(v, [key, k]) });
        else unknown([key, k]);
      }
    } else if ((lists as readonly string[]).includes(key)) {
      layer.lists[key as ListKey] = strings(value, [key]);
    } else if ((maps as readonly string[]).includes(key)) {
      decodeMap(key as (typeof maps)[number], table(value, [key]), layer, source, warnings);
    } else {
      unknown([key]);
    }
  }
  return layer;
}

function decodeMap(
  key: (typeof maps)[number],
  entries: TomlTable,
  layer: Layer,
  source: Source,
  warnings: string[],
): void {
  for (const [name, value] of Object.entries(entries)) {
    const path = [key, name];
    switch (key) {
      case "timeouts": {
        const d = text(value, path) as string;
        let ms: number;
        try {
          ms = parseDuration(d);
        } catch {
          refuse(path, 'must be a duration such as "5s" or "1m30s"', value);
        }
        if (ms < 0) refuse(path, "must not be negative", value);
        layer.timeouts[name] = d;
        break;
      }
      case "plugins":
        layer.plugins[name] = normalize(table(value, path)) as PluginConfig;
        break;
      case "proxy_plugins":
        layer.proxy_plugins[name] = decodeProxyPlugin(table(value, path), path, source, warnings);
        warnings.push(warningAt(source, path, "bunkerd does not load proxy plugins; kept for containerd"));
        break;
      case "stream_processors":
        layer.stream_processors[name] = decodeStreamProcessor(table(value, path), path, source, warnings);
        warnings.push(warningAt(source, path, "bunkerd does not run stream processors; kept for containerd"));
        break;
    }
  }
}

function decodeProxyPlugin(t: TomlTable, path: KeyPath, source: Source, warnings: string[]): ProxyPlugin {
  const out: ProxyPlugin = { type: "", address: "" };
  for (const [k, v] of Object.entries(t)) {
    const p = [...path, k];
    if (k === "type" || k === "address" || k === "platform") out[k] = text(v, p) as string;
    else if (k === "capabilities") out.capabilities = strings(v, p);
    else if (k === "exports") {
      out.exports = {};
      for (const [ek, ev] of Object.entries(table(v, p))) out.exports[ek] = text(ev, [...p, ek]) as string;
    } else warnings.push(warningAt(source, p, "unknown key, ignored"));
  }
  return out;
}

function decodeStreamProcessor(
  t: TomlTable,
  path: KeyPath,
  source: Source,
  warnings: string[],
): StreamProcessor {
  const out: StreamProcessor = { accepts: [], returns: "", path: "", args: [], env: [] };
  for (const [k, v] of Object.entries(t)) {
    const p = [...path, k];
    if (k === "returns" || k === "path") out[k] = text(v, p) as string;
    else if (k === "accepts" || k === "args" || k === "env") out[k] = strings(v, p);
    else warnings.push(warningAt(source, p, "unknown key, ignored"));
  }
  return out;
}

/**
 * Version 2 names plugins by URI (`<type>.<id>`, at least four dotted parts); containerd 1.6
 * refuses anything shorter in `disabled_plugins`, `required_plugins` and `[plugins]`.
 */
export function checkPluginUris(layer: Layer): void {
  const valid = (uri: string) => uri.split(".").length >= 4;
  const reason = (uri: string) =>
    `invalid plugin URI ${JSON.stringify(uri)}, expected <type>.<id> such as io.containerd.grpc.v1.cri`;
  for (const key of ["disabled_plugins", "required_plugins"] as const) {
    layer.lists[key].forEach((uri, i) => {
      if (!valid(uri)) throw new Invalid([key, i], reason(uri));
    });
  }
  for (const uri of Object.keys(layer.plugins)) {
    if (!valid(uri)) throw new Invalid(["plugins", uri], reason(uri));
  }
}

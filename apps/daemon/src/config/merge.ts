/**
 * Layers merged the way containerd's mergeConfig does (mergo.WithOverride + WithAppendSlice):
 *
 *   scalars           a later file's value wins, except a zero value ("", 0, false), which never
 *                     overrides: `oom_score = 0` in an import leaves an earlier -500 in place
 *   disabled_plugins  appended, file after file (duplicates dropped)
 *   required_plugins
 *   plugins           per plugin: a later `[plugins."x"]` replaces the whole earlier section
 *   timeouts, proxy_plugins, stream_processors   per key, replaced
 *
 * Checked against containerd 1.6.20's `config dump` (see imports.test.ts).
 */
import type { Layer, Scalar } from "./decode.ts";
import { warningAt } from "./locate.ts";
import { formatKey } from "./toml.ts";
import type { Config } from "./types.ts";

export interface Merged {
  config: Config;
  /** Dotted scalar key → the layer whose value is in `config`. */
  setBy: Map<string, Layer>;
  /** Plugin URI → the layer whose section is in `config.plugins`. */
  pluginSource: Map<string, Layer>;
}

const isZero = (v: Scalar) => v === "" || v === 0 || v === false;

const show = (v: Scalar) => (typeof v === "string" ? JSON.stringify(v) : String(v));

/** Lays `layers` over `base` in order; `base` is not modified. */
export function mergeLayers(base: Config, layers: readonly Layer[], warnings: string[]): Merged {
  const config = structuredClone(base);
  const setBy = new Map<string, Layer>();
  const pluginSource = new Map<string, Layer>();
  const fields = config as unknown as Record<string, unknown>;

  for (const layer of layers) {
    for (const { path, value } of layer.scalars) {
      const key = formatKey(path);
      const [section, name] = path;
      const holder = (name === undefined ? fields : fields[section]) as Record<string, Scalar>;
      const field = name ?? section;
      const earlier = setBy.get(key);
      if (isZero(value)) {
        const current = holder[field]!;
        if (earlier && !isZero(current) && value !== current) {
          warnings.push(
            warningAt(
              layer,
              path,
              `${show(value)} does not override ${show(current)} from ${earlier.file}: ` +
                "containerd ignores zero values when merging files",
            ),
          );
        }
        continue;
      }
      holder[field] = value;
      setBy.set(key, layer);
    }
    for (const key of ["disabled_plugins", "required_plugins"] as const) {
      for (const uri of layer.lists[key]) if (!config[key].includes(uri)) config[key].push(uri);
    }
    for (const [uri, section] of Object.entries(layer.plugins)) {
      config.plugins[uri] = section;
      pluginSource.set(uri, layer);
    }
    Object.assign(config.timeouts, layer.timeouts);
    Object.assign(config.proxy_plugins, layer.proxy_plugins);
    Object.assign(config.stream_processors, layer.stream_processors);
  }
  return { config, setBy, pluginSource };
}

/**
 * loadConfig: the main file, then its imports breadth-first (each file once, even in a cycle),
 * merged in that order onto bunkerd's defaults with containerd's rules (merge.ts), then checked
 * as a whole: version, plugin URIs, root ≠ state, plugin sections against the plugins' defaults.
 * Nothing is half-applied: either a whole Config comes back or a ConfigError is thrown.
 * Synchronous: it runs once at startup, before anything else could use the time.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { TomlError } from "smol-toml";
import { checkPluginUris, decodeLayer, type Layer } from "./decode.ts";
import { DEFAULT_CONFIG_PATH, defaultConfig, type PluginDefaults } from "./defaults.ts";
import { ConfigError, Invalid } from "./errors.ts";
import { type Import, resolveImports } from "./imports.ts";
import { at, keyLines, type Source, warningAt } from "./locate.ts";
import { mergeLayers } from "./merge.ts";
import { resolvePlugins } from "./plugins.ts";
import { checkInt64, parseRaw } from "./toml.ts";
import type { Config } from "./types.ts";

export interface LoadOptions {
  /**
   * The path was named on the command line (--config): a missing file is an error. Otherwise a
   * missing file means "use the defaults", as for containerd's /etc/containerd/config.toml.
   */
  explicit?: boolean;
  /** Every plugin bunkerd registers: URI → its default config (`{}` when it has none). */
  pluginDefaults?: PluginDefaults;
}

export interface LoadResult {
  config: Config;
  /** `file:line: key: message`, for the daemon to log; none of them stops it. */
  warnings: string[];
}

export function loadConfig(path: string = DEFAULT_CONFIG_PATH, options: LoadOptions = {}): LoadResult {
  const pluginDefaults = options.pluginDefaults ?? {};
  const warnings: string[] = [];
  const main = resolve(path);
  const layers: Layer[] = [];
  const loaded = new Set<string>();
  const pending: (Import | { file: string; from?: undefined })[] = [{ file: main }];

  while (pending.length > 0) {
    const next = pending.shift()!;
    if (loaded.has(next.file)) continue;
    let text: string;
    try {
      text = readFileSync(next.file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!next.from && code === "ENOENT" && !options.explicit) {
        const config = defaultConfig(pluginDefaults);
        return { config, warnings };
      }
      const reason = code === "ENOENT" ? "no such file or directory" : (e as Error).message;
      if (next.from) {
        throw new ConfigError(at(next.from, ["imports", next.index]), `${next.file}: ${reason}`, {
          cause: e,
        });
      }
      throw new ConfigError({ file: next.file }, reason, { cause: e });
    }
    const layer = parseFile(next.file, text, warnings);
    layers.push(layer);
    loaded.add(next.file);
    pending.push(...resolveImports(layer, warnings));
  }

  // Version 0 = not set by any file; plugin defaults are laid under the sections at the end.
  const base = { ...defaultConfig(), version: 0, plugins: {} };
  const { config, setBy, pluginSource } = mergeLayers(base, layers, warnings);
  const first = layers[0]!;

  config.version = checkVersion(config.version, setBy.get("version"), layers, warnings);
  for (const layer of layers) located(layer, () => checkPluginUris(layer));
  if (config.root === config.state) {
    const source = setBy.get("state") ?? setBy.get("root") ?? first;
    throw new ConfigError(
      at(source, [setBy.has("state") ? "state" : "root"]),
      `root and state must be different paths, both are ${JSON.stringify(config.root)}`,
    );
  }
  config.plugins = located(
    first,
    () => resolvePlugins(config.plugins, pluginSource, pluginDefaults, warnings),
    pluginSource,
  );
  config.imports = [...loaded];
  return { config, warnings };
}

function parseFile(file: string, text: string, warnings: string[]): Layer {
  let raw: ReturnType<typeof parseRaw>;
  try {
    raw = parseRaw(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
    throw new ConfigError({ file, line: e.line, column: e.column }, `invalid TOML: ${reason}`, { cause: e });
  }
  const source: Source = { file, lines: keyLines(text) };
  return located(source, () => {
    checkInt64(raw);
    return decodeLayer(source, raw, warnings);
  });
}

/**
 * Runs `check`, turning an Invalid it throws into a ConfigError at the key's line. For plugin
 * sections the blamed file is the one that supplied the section.
 */
function located<T>(source: Source, check: () => T, pluginSource?: Map<string, Source>): T {
  try {
    return check();
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    const [top, uri] = e.path;
    const blamed = (top === "plugins" && typeof uri === "string" && pluginSource?.get(uri)) || source;
    throw new ConfigError(at(blamed, e.path), e.reason, { cause: e });
  }
}

/**
 * containerd 1.6 reads a file without `version` as version 1, whose plugin names are short ids
 * ("cri"), and migrates it. bunkerd reads version 2 only, so: version 1 is refused; a file with
 * no version is refused when it names plugins (it would mean different things to the two
 * daemons) and read as version 2, with a warning, when it does not (it means the same to both).
 */
function checkVersion(
  version: number,
  source: Layer | undefined,
  layers: readonly Layer[],
  warnings: string[],
): number {
  const where = () => at(source!, ["version"]);
  if (version === 2) return 2;
  if (version === 1) {
    throw new ConfigError(
      where(),
      "version 1 configs are not supported; convert to version 2: set `version = 2` and name plugins " +
        'by URI ("cri" → "io.containerd.grpc.v1.cri"), as `containerd config default` prints them',
    );
  }
  if (version !== 0) {
    throw new ConfigError(
      where(),
      `config version ${version} is not supported; bunkerd reads version 2, the format of containerd 1.6 and 1.7`,
    );
  }
  const main = layers[0]!;
  const namesPlugins = layers.some(
    (l) =>
      Object.keys(l.plugins).length > 0 ||
      l.lists.disabled_plugins.length > 0 ||
      l.lists.required_plugins.length > 0,
  );
  if (namesPlugins) {
    throw new ConfigError(
      { file: main.file, key: "version" },
      "not set, and containerd reads a file without `version` as version 1, which bunkerd does not " +
        "support; add `version = 2` and name plugins by URI",
    );
  }
  warnings.push(
    warningAt(
      main,
      ["version"],
      "not set; read as version 2 (containerd 1.6 reads it as version 1): add `version = 2`",
    ),
  );
  return 2;
}

/**
 * Config → TOML text that both bunkerd and containerd 1.6 read (containerd.test.ts runs the real
 * `containerd config dump` on it). Layout follows `containerd config default`.
 */
import { defaultConfig, type PluginDefaults } from "./defaults.ts";
import { stringifyToml, type TomlTable } from "./toml.ts";
import type { Config } from "./types.ts";

/** Every section with bunkerd's defaults, and a `[plugins."<uri>"]` section per plugin default. */
export function defaultConfigToml(pluginDefaults: PluginDefaults = {}): string {
  return `# bunkerd default configuration (containerd version 2 format)\n${render(defaultConfig(pluginDefaults))}`;
}

/**
 * The effective config. `imports` is written empty: the values of the imported files are already
 * merged in, and importing them again would append their plugin lists twice. The files read are
 * listed in a comment instead.
 */
export function dumpConfigToml(config: Config): string {
  const header = config.imports.map((f) => `#   ${f}`).join("\n");
  return `# bunkerd effective configuration${header ? `, merged from:\n${header}` : ""}\n${render(config)}`;
}

function render(config: Config): string {
  const table = { ...config, imports: [] } as unknown as TomlTable;
  return stringifyToml(table);
}

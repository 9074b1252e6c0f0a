import { expect, test } from "bun:test";
import type { PluginDefaults } from "./defaults.ts";
import { defaultConfig } from "./defaults.ts";
import { defaultConfigToml, dumpConfigToml } from "./dump.ts";
import { applyFlags } from "./flags.ts";
import { loadConfig } from "./load.ts";
import { configDir, RICH_CONFIG, SCHEDULER_DEFAULTS } from "./testkit.ts";
import type { Config } from "./types.ts";

const { write } = configDir();

const pluginDefaults: PluginDefaults = {
  "io.containerd.gc.v1.scheduler": SCHEDULER_DEFAULTS,
  "io.bunkerd.test.v1.other": { path: "", limit: 10, ratio: 0.5, on: false, list: ["x"], sub: { a: "" } },
};

const body = (toml: string) => toml.replace(/^#.*\n/gm, "");
const withoutImports = (c: Config): Config => ({ ...c, imports: [] });

test("defaultConfigToml round-trips to the defaults", () => {
  const file = write("", defaultConfigToml(pluginDefaults));
  const { config, warnings } = loadConfig(file, { explicit: true, pluginDefaults });
  expect(warnings).toEqual([]);
  expect(withoutImports(config)).toEqual(defaultConfig(pluginDefaults));
});

test("defaultConfigToml has every section", () => {
  const toml = defaultConfigToml(pluginDefaults);
  for (const section of [
    "cgroup",
    "debug",
    "grpc",
    "metrics",
    "plugins",
    "proxy_plugins",
    "stream_processors",
    "timeouts",
    "ttrpc",
  ]) {
    expect(toml).toContain(`\n[${section}]\n`);
  }
  expect(toml).toContain('\n    [plugins."io.bunkerd.test.v1.other".sub]\n');
  expect(toml).toContain('root = "/var/lib/bunkerd"\n');
  expect(toml).toContain("version = 2\n");
});

test("dumpConfigToml round-trips a config using every section, values and types intact", () => {
  const file = write("", ...RICH_CONFIG);
  const first = loadConfig(file, { pluginDefaults });
  const dump = dumpConfigToml(first.config);
  const again = loadConfig(write("", dump), { pluginDefaults });
  expect(withoutImports(again.config)).toEqual(withoutImports(first.config));
  expect(body(dumpConfigToml(again.config))).toBe(body(dump));
  expect(again.warnings.length).toBe(first.warnings.length);
  // The values most easily lost on the way.
  expect(dump).toContain("    pause_threshold = 1.0\n");
  expect(dump).toContain("    small_float = 2.0\n");
  expect(dump).toContain("    big = 9223372036854775807\n");
  expect(dump).toContain('    text = "tab\\t quote\\" backslash\\\\ bell\\u0007 é 日本"\n');
  expect(dump).toContain("imports = []\n");
  expect(dump).toStartWith(`# bunkerd effective configuration, merged from:\n#   ${file}\n`);
});

test("dumpConfigToml shows flags and the plugin defaults that applied", () => {
  const file = write(
    "",
    "version = 2",
    '[plugins."io.containerd.gc.v1.scheduler"]',
    "deletion_threshold = 5",
  );
  const { config } = loadConfig(file, { pluginDefaults });
  applyFlags(config, { root: "/flag/root", logLevel: "trace" });
  const dump = dumpConfigToml(config);
  expect(dump).toContain('root = "/flag/root"\n');
  expect(dump).toContain('  level = "trace"\n');
  expect(dump).toContain(
    "    deletion_threshold = 5\n    mutation_threshold = 100\n    pause_threshold = 0.02\n",
  );
});

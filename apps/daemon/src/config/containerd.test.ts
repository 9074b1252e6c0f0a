/**
 * The same files through the real containerd 1.6 (/usr/bin/containerd): what bunkerd writes,
 * containerd reads, and both read the same values. Skipped where containerd is not installed.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { defaultConfig, type PluginDefaults } from "./defaults.ts";
import { defaultConfigToml, dumpConfigToml } from "./dump.ts";
import { loadConfig } from "./load.ts";
import { CONTAINERD, configDir, RICH_CONFIG, SCHEDULER_DEFAULTS, writeMergeTree } from "./testkit.ts";
import type { Config } from "./types.ts";

const { dir, write } = configDir();
const SCHEDULER = "io.containerd.gc.v1.scheduler";
const pluginDefaults: PluginDefaults = {
  [SCHEDULER]: SCHEDULER_DEFAULTS,
  "io.bunkerd.test.v1.only": { path: "/x", limit: 10 },
};

type Table = Record<string, unknown> & { plugins?: Record<string, unknown> };

function containerd(...args: string[]): string {
  const r = Bun.spawnSync([CONTAINERD, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`containerd ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** containerd's view of a file: `containerd --config FILE config dump`, parsed. */
const containerdDump = (file: string): Table =>
  parse(containerd("--config", file, "config", "dump"), { integersAsBigInt: "asNeeded" }) as Table;

/** The part of our Config that containerd 1.6's Config struct also has, as containerd dumps it. */
function topLevel(c: Config) {
  const { plugins: _p, imports: _i, proxy_plugins, ...rest } = c;
  return {
    ...rest,
    proxy_plugins: Object.fromEntries(
      Object.entries(proxy_plugins).map(([k, v]) => [k, { type: v.type, address: v.address }]),
    ),
  };
}

describe.skipIf(!existsSync(CONTAINERD))("containerd 1.6 compatibility", () => {
  test("containerd's own `config default` loads", () => {
    const file = write("containerd-default.toml", containerd("config", "default"));
    const { config, warnings } = loadConfig(file, { explicit: true, pluginDefaults });
    expect(config.root).toBe("/var/lib/containerd");
    expect(config.state).toBe("/run/containerd");
    expect(config.grpc.address).toBe("/run/containerd/containerd.sock");
    expect(config.plugins["io.containerd.grpc.v1.cri"]).toMatchObject({ sandbox_image: expect.any(String) });
    expect(config.plugins[SCHEDULER]).toEqual(SCHEDULER_DEFAULTS);
    expect(Object.keys(config.stream_processors).length).toBeGreaterThan(0);
    for (const w of warnings) {
      expect(w).toMatch(/no bunkerd plugin reads this section|bunkerd does not run stream processors/);
    }
  });

  test("containerd reads bunkerd's defaultConfigToml, and the same values", () => {
    const file = write("bunkerd-default.toml", defaultConfigToml(pluginDefaults));
    const theirs = containerdDump(file);
    const ours = defaultConfig(pluginDefaults);
    expect(theirs).toMatchObject(topLevel(ours));
    expect(theirs.plugins?.[SCHEDULER]).toEqual(SCHEDULER_DEFAULTS);
  });

  test("containerd reads bunkerd's dump of a config using every section, and the same values", () => {
    const { config } = loadConfig(write("rich.toml", ...RICH_CONFIG), { pluginDefaults });
    const theirs = containerdDump(write("rich-dump.toml", dumpConfigToml(config)));
    expect(theirs).toMatchObject(topLevel(config));
    expect(theirs.plugins?.[SCHEDULER]).toEqual({
      ...SCHEDULER_DEFAULTS,
      pause_threshold: 1,
      deletion_threshold: 3,
      schedule_delay: "1s",
    });
  });

  test("containerd's default config, through bunkerd's dump, means the same to containerd", () => {
    const original = write("cd-default.toml", containerd("config", "default"));
    const { config } = loadConfig(original, { pluginDefaults });
    const viaBunkerd = containerdDump(write("cd-default-dump.toml", dumpConfigToml(config)));
    const direct = containerdDump(original);
    // Only the log defaults differ: containerd's "" leaves bunkerd's "info"/"text" in place.
    for (const t of [viaBunkerd, direct]) {
      delete t.imports;
      delete (t.debug as Record<string, unknown>).level;
      delete (t.debug as Record<string, unknown>).format;
    }
    expect(viaBunkerd).toEqual(direct);
  });

  test("containerd and bunkerd merge imports alike", () => {
    const tree = writeMergeTree("merge", write, join(dir, "merge/conf.d/*.toml"));
    const theirs = containerdDump(tree.main);
    const { config: ours } = loadConfig(tree.main, { pluginDefaults });
    expect([...(theirs.imports as string[])].sort()).toEqual([...ours.imports].sort());
    // The keys the tree sets (the daemons' defaults differ by design).
    const pick = (c: Table | Config) => {
      const t = c as Table & Pick<Config, "grpc" | "timeouts">;
      return {
        oom_score: t.oom_score,
        root: t.root,
        state: t.state,
        uid: t.grpc.uid,
        gid: t.grpc.gid,
        disabled_plugins: t.disabled_plugins,
        load: t.timeouts["io.containerd.timeout.shim.load"],
        cleanup: t.timeouts["io.containerd.timeout.shim.cleanup"],
        scheduler: t.plugins?.[SCHEDULER],
      };
    };
    expect(pick(theirs)).toEqual(pick(ours));
    expect(pick(ours)).toMatchObject({ oom_score: 10, uid: 1000, gid: 5, load: "9s", cleanup: "7s" });
  });
});

/**
 * Merge rules, checked by hand against containerd 1.6.20's `config dump` on the same tree
 * (containerd.test.ts runs that comparison when the binary is installed).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { glob } from "./imports.ts";
import { loadConfig } from "./load.ts";
import { configDir, thrown, writeMergeTree } from "./testkit.ts";

const { dir, write } = configDir();

const scheduler = { pause_threshold: 0.02, deletion_threshold: 0, mutation_threshold: 100 };

describe("imports", () => {
  const tree = writeMergeTree("tree", write, "conf.d/*.toml");

  test("files merge breadth-first, later files winning, as containerd merges them", () => {
    const { config } = loadConfig(tree.main, {
      pluginDefaults: { "io.containerd.gc.v1.scheduler": scheduler },
    });
    expect(config.imports).toEqual([tree.main, tree.a, tree.b, tree.one, tree.two]);
    expect(config.oom_score).toBe(10); // -500, not overridden by a's 0, then b's 10
    expect(config.root).toBe("/from/one");
    expect(config.state).toBe("/from/two");
    expect(config.grpc.uid).toBe(1000); // a's uid = 0 is a zero value: it does not override
    expect(config.grpc.gid).toBe(5);
    expect(config.disabled_plugins).toEqual([
      "io.containerd.snapshotter.v1.zfs",
      "io.containerd.snapshotter.v1.btrfs",
    ]);
    // a's section replaces main's whole section: deletion_threshold and pause_threshold fall back.
    expect(config.plugins["io.containerd.gc.v1.scheduler"]).toEqual({ ...scheduler, mutation_threshold: 50 });
    expect(config.timeouts).toMatchObject({
      "io.containerd.timeout.shim.load": "9s",
      "io.containerd.timeout.shim.cleanup": "7s",
      "io.containerd.timeout.shim.shutdown": "3s",
    });
  });

  test("warnings: a zero value that does not override, a relative glob", () => {
    const { warnings } = loadConfig(tree.main);
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^${tree.main}:4: imports\\[0\\]: containerd 1.6 matches the relative pattern`),
      ),
      `${tree.a}:1: oom_score: 0 does not override -500 from ${tree.main}: containerd ignores zero values when merging files`,
      `${tree.a}:4: grpc.uid: 0 does not override 1000 from ${tree.main}: containerd ignores zero values when merging files`,
    ]);
  });

  test("an absolute glob needs no warning", () => {
    const main = write(
      "abs/main.toml",
      "version = 2",
      `imports = [${JSON.stringify(join(dir, "tree/conf.d/*.toml"))}]`,
    );
    const { config, warnings } = loadConfig(main);
    expect(config.imports).toEqual([main, tree.a, tree.b]);
    expect(warnings.filter((w) => w.includes("pattern"))).toEqual([]);
  });

  test("a glob that matches nothing is not an error", () => {
    const main = write("none/main.toml", "version = 2", 'imports = ["nothing/*.toml"]');
    expect(loadConfig(main).config.imports).toEqual([main]);
  });

  test("a missing import is an error at the importing line", () => {
    const main = write("missing/main.toml", "version = 2", "", 'imports = ["x.toml"]');
    const e = thrown(() => loadConfig(main)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
      `${main}:3: imports[0]: ${join(dir, "missing/x.toml")}: no such file or directory`,
    );
  });

  test("an error in an imported file names that file", () => {
    const main = write("bad/main.toml", "version = 2", 'imports = ["bad.toml"]');
    const bad = write("bad/bad.toml", "[debug]", 'level = "loud"');
    const e = thrown(() => loadConfig(main)) as ConfigError;
    expect([e.file, e.key, e.line]).toEqual([bad, "debug.level", 2]);
  });

  test("a plugin section's error names the file that supplied the section", () => {
    const main = write("plug/main.toml", "version = 2", 'imports = ["p.toml"]');
    const p = write("plug/p.toml", "", '[plugins."io.containerd.gc.v1.scheduler"]', 'pause_threshold = "x"');
    const e = thrown(() =>
      loadConfig(main, { pluginDefaults: { "io.containerd.gc.v1.scheduler": scheduler } }),
    );
    expect((e as ConfigError).message).toBe(
      `${p}:3: plugins."io.containerd.gc.v1.scheduler".pause_threshold: must be a number, got "x"`,
    );
  });

  test("the version may come from an import", () => {
    const main = write(
      "ver/main.toml",
      'imports = ["v.toml"]',
      'disabled_plugins = ["io.containerd.a.v1.b"]',
    );
    write("ver/v.toml", "version = 2");
    const { config, warnings } = loadConfig(main);
    expect(config.version).toBe(2);
    expect(warnings).toEqual([]);
  });
});

describe("glob", () => {
  test("Go's filepath.Glob: sorted, *, ?, [..], dotfiles included, only existing paths", () => {
    for (const f of ["g/b.toml", "g/a.toml", "g/.h.toml", "g/c1.toml", "g/c2.toml", "g/d/e.toml"])
      write(f, "");
    const g = (p: string) => glob(join(dir, p)).map((f) => f.slice(dir.length + 1));
    expect(g("g/*.toml")).toEqual(["g/.h.toml", "g/a.toml", "g/b.toml", "g/c1.toml", "g/c2.toml"]);
    expect(g("g/c?.toml")).toEqual(["g/c1.toml", "g/c2.toml"]);
    expect(g("g/c[^1].toml")).toEqual(["g/c2.toml"]);
    expect(g("g/[ab].toml")).toEqual(["g/a.toml", "g/b.toml"]);
    expect(g("*/d/*.toml")).toEqual(["g/d/e.toml"]);
    expect(g("g/*/missing.toml")).toEqual([]);
  });
});

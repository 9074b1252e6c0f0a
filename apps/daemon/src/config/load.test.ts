import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_MAX_MESSAGE_SIZE, defaultConfig } from "./defaults.ts";
import { ConfigError } from "./errors.ts";
import { effectiveTtrpc } from "./flags.ts";
import { loadConfig } from "./load.ts";
import { configDir, thrown } from "./testkit.ts";

const { dir, write } = configDir();

const scheduler = {
  pause_threshold: 0.02,
  deletion_threshold: 0,
  mutation_threshold: 100,
  schedule_delay: "0s",
  startup_delay: "100ms",
};
const registry = { config_path: "", mirrors: {} };
const pluginDefaults = {
  "io.containerd.gc.v1.scheduler": scheduler,
  "io.containerd.grpc.v1.cri": { registry, sandbox_image: "pause" },
};

describe("defaults", () => {
  test("bunkerd's paths, not containerd's", () => {
    const c = defaultConfig();
    expect(c.root).toBe("/var/lib/bunkerd");
    expect(c.state).toBe("/run/bunkerd");
    expect(c.grpc.address).toBe("/run/bunkerd/bunkerd.sock");
    expect(c.grpc.max_recv_message_size).toBe(16777216);
    expect(c.grpc.max_send_message_size).toBe(DEFAULT_MAX_MESSAGE_SIZE);
    expect(c.oom_score).toBe(0);
    expect(c.debug).toMatchObject({ level: "info", format: "text" });
    expect(c.version).toBe(2);
    expect(effectiveTtrpc(c)).toEqual({ address: "/run/bunkerd/bunkerd.sock.ttrpc", uid: 0, gid: 0 });
  });

  test("a missing file at the default path means the defaults", () => {
    const r = loadConfig(join(dir, "absent.toml"), { explicit: false, pluginDefaults });
    expect(r.warnings).toEqual([]);
    expect(r.config).toEqual(defaultConfig(pluginDefaults));
  });

  test("a missing file named with --config is an error", () => {
    const file = join(dir, "absent.toml");
    const e = thrown(() => loadConfig(file, { explicit: true }));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe(`${file}: no such file or directory`);
    expect((e as ConfigError).file).toBe(file);
  });

  test("a minimal file keeps every other default; plugin sections lie over the plugin's defaults", () => {
    const file = write(
      "",
      "version = 2",
      'root = "/data/bunkerd"',
      '[plugins."io.containerd.gc.v1.scheduler"]',
      "  pause_threshold = 0.5",
    );
    const { config, warnings } = loadConfig(file, { explicit: true, pluginDefaults });
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      ...defaultConfig(pluginDefaults),
      root: "/data/bunkerd",
      imports: [file],
      plugins: {
        "io.containerd.gc.v1.scheduler": { ...scheduler, pause_threshold: 0.5 },
        "io.containerd.grpc.v1.cri": { registry, sandbox_image: "pause" },
      },
    });
  });

  test("integers beyond 2^53 in plugin sections load exactly, as BigInt", () => {
    const file = write(
      "",
      "version = 2",
      '[plugins."io.bunkerd.x.v1.y"]',
      "big = 9223372036854775807",
      "small = 5",
    );
    const { config } = loadConfig(file);
    expect(config.plugins["io.bunkerd.x.v1.y"]).toEqual({ big: 9223372036854775807n, small: 5 });
  });
});

describe("version", () => {
  test("version 1 is refused", () => {
    const file = write("", "# old", "version = 1", 'root = "/x"');
    const e = thrown(() => loadConfig(file)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect([e.file, e.key, e.line]).toEqual([file, "version", 2]);
    expect(e.message).toStartWith(`${file}:2: version: version 1 configs are not supported`);
  });

  test("a version above 2 is refused", () => {
    const file = write("", "version = 3");
    const e = thrown(() => loadConfig(file)) as ConfigError;
    expect([e.key, e.line]).toEqual(["version", 1]);
    expect(e.reason).toContain("config version 3 is not supported");
  });

  test("no version, naming plugins: refused (containerd would read it as version 1)", () => {
    const file = write("", 'disabled_plugins = ["io.containerd.snapshotter.v1.zfs"]');
    const e = thrown(() => loadConfig(file)) as ConfigError;
    expect([e.file, e.key, e.line]).toEqual([file, "version", undefined]);
    expect(e.message).toStartWith(`${file}: version: not set`);
  });

  test("no version, naming no plugins: read as version 2, with a warning", () => {
    const file = write("", 'root = "/data"');
    const { config, warnings } = loadConfig(file);
    expect(config.version).toBe(2);
    expect(config.root).toBe("/data");
    expect(warnings).toEqual([
      `${file}: version: not set; read as version 2 (containerd 1.6 reads it as version 1): add \`version = 2\``,
    ]);
  });

  test("an empty file is the defaults, with the same warning", () => {
    const file = write("", "");
    const { config, warnings } = loadConfig(file);
    expect({ ...config, imports: [] as string[] }).toEqual(defaultConfig());
    expect(warnings).toHaveLength(1);
  });
});

describe("bad values name the file, the key and its line", () => {
  const cases: [name: string, lines: string[], key: string, line: number, reason: string][] = [
    [
      "a size that is not a number",
      ["version = 2", "[grpc]", '  max_recv_message_size = "abc"'],
      "grpc.max_recv_message_size",
      3,
      'must be a positive integer, got "abc"',
    ],
    [
      "a negative size",
      ["version = 2", "", "[grpc]", "  address = '/x'", "  max_send_message_size = -5"],
      "grpc.max_send_message_size",
      5,
      "must be a positive integer, got -5",
    ],
    [
      "a size beyond 2^53",
      ["version = 2", "[grpc]", "max_recv_message_size = 9007199254740993"],
      "grpc.max_recv_message_size",
      3,
      "must be at most 9007199254740991, got 9007199254740993",
    ],
    [
      "a dotted key at the top level",
      ["version = 2", 'grpc.max_recv_message_size = "abc"'],
      "grpc.max_recv_message_size",
      2,
      'must be a positive integer, got "abc"',
    ],
    [
      "an inline table",
      ["version = 2", "", 'grpc = { address = "/x", max_recv_message_size = "abc" }'],
      "grpc.max_recv_message_size",
      3,
      'must be a positive integer, got "abc"',
    ],
    [
      "oom_score above 1000",
      ["version = 2", "oom_score = 1001"],
      "oom_score",
      2,
      "must be an integer between -1000 and 1000, got 1001",
    ],
    [
      "oom_score below -1000",
      ["oom_score = -1001", "version = 2"],
      "oom_score",
      1,
      "must be an integer between -1000 and 1000, got -1001",
    ],
    [
      "oom_score beyond 2^53",
      ["version = 2", "oom_score = 9007199254740993"],
      "oom_score",
      2,
      "must be an integer between -1000 and 1000, got 9007199254740993",
    ],
    [
      "an unknown log level",
      ["version = 2", "[debug]", '  level = "loud"'],
      "debug.level",
      3,
      'must be one of trace, debug, info, warn, warning, error, fatal, panic, got "loud"',
    ],
    [
      "an unknown log format",
      ["version = 2", "[debug]", '  format = "xml"'],
      "debug.format",
      3,
      'must be "text" or "json", got "xml"',
    ],
    [
      "a bad duration",
      ["version = 2", "[timeouts]", '  "io.containerd.timeout.shim.load" = "5 seconds"'],
      'timeouts."io.containerd.timeout.shim.load"',
      3,
      'must be a duration such as "5s" or "1m30s", got "5 seconds"',
    ],
    [
      "a negative duration",
      ["version = 2", "[timeouts]", '  "io.containerd.timeout.shim.load" = "-1s"'],
      'timeouts."io.containerd.timeout.shim.load"',
      3,
      'must not be negative, got "-1s"',
    ],
    ["a number for a path", ["version = 2", "root = 5"], "root", 2, "must be a string, got 5"],
    [
      "a relative root",
      ["version = 2", 'root = "var/lib/x"'],
      "root",
      2,
      'must be an absolute path, got "var/lib/x"',
    ],
    [
      "a negative uid",
      ["version = 2", "[grpc]", "uid = -1"],
      "grpc.uid",
      3,
      "must be an integer between 0 and 4294967295, got -1",
    ],
    [
      "a float for an integer",
      ["version = 2", "[ttrpc]", "gid = 5.0"],
      "ttrpc.gid",
      3,
      "must be an integer between 0 and 4294967295, got 5.0",
    ],
    [
      "a string for a boolean",
      ["version = 2", "[metrics]", 'grpc_histogram = "yes"'],
      "metrics.grpc_histogram",
      3,
      'must be true or false, got "yes"',
    ],
    ["a section that is not a table", ["version = 2", 'grpc = "x"'], "grpc", 2, 'must be a table, got "x"'],
    [
      "a list item that is not a string",
      ["version = 2", "disabled_plugins = [", '  "io.containerd.a.v1.b",', "  5,", "]"],
      "disabled_plugins[1]",
      2,
      "must be a string, got 5",
    ],
    [
      "a short plugin name in disabled_plugins",
      ["version = 2", 'disabled_plugins = ["cri"]'],
      "disabled_plugins[0]",
      2,
      'invalid plugin URI "cri", expected <type>.<id> such as io.containerd.grpc.v1.cri',
    ],
    [
      "a short plugin name as a section",
      ["version = 2", "", "[plugins.cri]", "  x = 1"],
      "plugins.cri",
      3,
      'invalid plugin URI "cri", expected <type>.<id> such as io.containerd.grpc.v1.cri',
    ],
    [
      "a plugin section that is not a table",
      ["version = 2", "[plugins]", '"io.containerd.a.v1.b" = 5'],
      'plugins."io.containerd.a.v1.b"',
      3,
      "must be a table, got 5",
    ],
    [
      "a plugin value of the wrong kind",
      ["version = 2", '[plugins."io.containerd.gc.v1.scheduler"]', '  mutation_threshold = "many"'],
      'plugins."io.containerd.gc.v1.scheduler".mutation_threshold',
      3,
      'must be a number, got "many"',
    ],
    [
      "an integer where the plugin wants a float",
      ["version = 2", '[plugins."io.containerd.gc.v1.scheduler"]', "  pause_threshold = 1"],
      'plugins."io.containerd.gc.v1.scheduler".pause_threshold',
      3,
      "must be a float (write 1.0), got 1",
    ],
    [
      "a nested plugin value of the wrong kind",
      ["version = 2", '[plugins."io.containerd.grpc.v1.cri".registry]', "  config_path = false"],
      'plugins."io.containerd.grpc.v1.cri".registry.config_path',
      3,
      "must be a string, got false",
    ],
    [
      "an integer beyond 64 bits",
      ["version = 2", '[plugins."io.bunkerd.x.v1.y"]', "  n = 99999999999999999999"],
      'plugins."io.bunkerd.x.v1.y".n',
      3,
      "integer 99999999999999999999 does not fit in 64 bits",
    ],
    [
      "root and state the same",
      ["version = 2", 'root = "/x"', 'state = "/x"'],
      "state",
      3,
      'root and state must be different paths, both are "/x"',
    ],
  ];

  test.each(cases)("%s", (_name, lines, key, line, reason) => {
    const file = write("", ...lines);
    const e = thrown(() => loadConfig(file, { pluginDefaults })) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect({ file: e.file, key: e.key, line: e.line, reason: e.reason }).toEqual({ file, key, line, reason });
    expect(e.message).toBe(`${file}:${line}: ${key}: ${reason}`);
  });
});

describe("broken TOML", () => {
  test.each([
    ["an unclosed header", ["version = 2", "[grpc", 'address = "/x"'], 2],
    ["a duplicate key", ["version = 2", 'root = "/a"', 'root = "/b"'], 3],
    ["a missing value", ["version = 2", "", "oom_score ="], 3],
  ])("%s names the file, line and column", (_name, lines, line) => {
    const file = write("", ...lines);
    const e = thrown(() => loadConfig(file)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.file).toBe(file);
    expect(e.line).toBe(line);
    expect(e.column).toBeNumber();
    expect(e.message).toStartWith(`${file}:${line}:${e.column}: invalid TOML: `);
    expect(e.message).not.toContain("\n");
  });
});

describe("warnings", () => {
  test("unknown keys are named with their line, and ignored", () => {
    const file = write(
      "",
      "version = 2",
      "bogus = 1",
      "[grpc]",
      '  address = "/run/x.sock"',
      "  nope = 2",
      "[metrics.extra]",
      "  a = 1",
      '[plugins."io.containerd.gc.v1.scheduler"]',
      "  extra_knob = 1",
      '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]',
      '  endpoint = ["https://mirror"]',
    );
    const { config, warnings } = loadConfig(file, { pluginDefaults });
    expect(config.grpc.address).toBe("/run/x.sock");
    expect(warnings).toEqual([
      `${file}:2: bogus: unknown key, ignored`,
      `${file}:5: grpc.nope: unknown key, ignored`,
      `${file}:6: metrics.extra: unknown key, ignored`,
      `${file}:9: plugins."io.containerd.gc.v1.scheduler".extra_knob: unknown key, the plugin does not read it`,
    ]);
    // Free-form maps (a default of {}) take any key.
    expect(config.plugins["io.containerd.grpc.v1.cri"]).toMatchObject({
      registry: { mirrors: { "docker.io": { endpoint: ["https://mirror"] } } },
    });
  });

  test("sections for plugins bunkerd does not have are kept, with a warning", () => {
    const file = write("", "version = 2", '[plugins."io.containerd.snapshotter.v1.zfs"]', '  root_path = ""');
    const { config, warnings } = loadConfig(file, { pluginDefaults });
    expect(config.plugins["io.containerd.snapshotter.v1.zfs"]).toEqual({ root_path: "" });
    expect(warnings).toEqual([
      `${file}:2: plugins."io.containerd.snapshotter.v1.zfs": no bunkerd plugin reads this section; kept for containerd`,
    ]);
  });

  test("proxy plugins and stream processors are kept, with a warning", () => {
    const file = write(
      "",
      "version = 2",
      "[proxy_plugins.stargz]",
      '  type = "snapshot"',
      '  address = "/run/stargz.sock"',
      '[stream_processors."io.containerd.ocicrypt.decoder.v1.tar"]',
      '  accepts = ["application/vnd.oci.image.layer.v1.tar+encrypted"]',
      '  returns = "application/vnd.oci.image.layer.v1.tar"',
      '  path = "ctd-decoder"',
    );
    const { config, warnings } = loadConfig(file);
    expect(config.proxy_plugins).toEqual({ stargz: { type: "snapshot", address: "/run/stargz.sock" } });
    expect(config.stream_processors["io.containerd.ocicrypt.decoder.v1.tar"]).toEqual({
      accepts: ["application/vnd.oci.image.layer.v1.tar+encrypted"],
      returns: "application/vnd.oci.image.layer.v1.tar",
      path: "ctd-decoder",
      args: [],
      env: [],
    });
    expect(warnings).toEqual([
      `${file}:2: proxy_plugins.stargz: bunkerd does not load proxy plugins; kept for containerd`,
      `${file}:5: stream_processors."io.containerd.ocicrypt.decoder.v1.tar": bunkerd does not run stream processors; kept for containerd`,
    ]);
  });
});

/** Test helpers: a temporary directory of config files, removed after the suite. */
import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const CONTAINERD = "/usr/bin/containerd";

/** A fresh directory for this test file; `write("a/b.toml", ...lines)` returns the absolute path. */
export function configDir(): { dir: string; write: (name: string, ...lines: string[]) => string } {
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    dir,
    write(name: string, ...lines: string[]) {
      const path = join(dir, name === "" ? `t${++n}.toml` : name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${lines.join("\n")}\n`);
      return path;
    },
  };
}

/** Runs a function expected to throw and returns what it threw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, nothing was thrown");
}

/** The tree of the containerd experiment: main → conf.d/*.toml (a, b), sub/one.toml → two.toml. */
export function writeMergeTree(
  root: string,
  put: (name: string, ...lines: string[]) => string,
  glob: string,
) {
  const main = put(
    `${root}/main.toml`,
    "version = 2",
    "oom_score = -500",
    'disabled_plugins = ["io.containerd.snapshotter.v1.zfs"]',
    `imports = [${JSON.stringify(glob)}, "sub/one.toml"]`,
    "[grpc]",
    "  uid = 1000",
    '[plugins."io.containerd.gc.v1.scheduler"]',
    "  pause_threshold = 0.05",
    "  deletion_threshold = 7",
    "[timeouts]",
    '  "io.containerd.timeout.shim.load" = "9s"',
  );
  const a = put(
    `${root}/conf.d/a.toml`,
    "oom_score = 0",
    'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs"]',
    "[grpc]",
    "  uid = 0",
    "  gid = 5",
    '[plugins."io.containerd.gc.v1.scheduler"]',
    "  mutation_threshold = 50",
  );
  const b = put(
    `${root}/conf.d/b.toml`,
    "oom_score = 10",
    "[timeouts]",
    '  "io.containerd.timeout.shim.cleanup" = "7s"',
  );
  put(`${root}/conf.d/skipped.conf`, "oom_score = 99");
  const one = put(`${root}/sub/one.toml`, 'root = "/from/one"', 'imports = ["two.toml"]');
  const two = put(`${root}/sub/two.toml`, 'state = "/from/two"', 'imports = ["../main.toml"]');
  return { main, a, b, one, two };
}

/** A config using every section, with the values that are easy to lose: floats, big integers, escapes. */
export const RICH_CONFIG = [
  "version = 2",
  'root = "/data/root"',
  'state = "/data/state"',
  'temp = "/data/tmp"',
  'plugin_dir = "/data/plugins"',
  "oom_score = -999",
  'disabled_plugins = ["io.containerd.snapshotter.v1.zfs"]',
  'required_plugins = ["io.containerd.grpc.v1.cri"]',
  "[grpc]",
  '  address = "/data/run/grpc.sock"',
  '  tcp_address = "127.0.0.1:10010"',
  '  tcp_tls_ca = "/etc/ca.pem"',
  '  tcp_tls_cert = "/etc/cert.pem"',
  '  tcp_tls_key = "/etc/key.pem"',
  "  uid = 1000",
  "  gid = 1001",
  "  max_recv_message_size = 1048576",
  "  max_send_message_size = 2097152",
  "[ttrpc]",
  '  address = "/data/run/ttrpc.sock"',
  "  uid = 1002",
  "[debug]",
  '  address = "/data/run/debug.sock"',
  '  level = "debug"',
  '  format = "json"',
  "[metrics]",
  '  address = "127.0.0.1:1338"',
  "  grpc_histogram = true",
  "[cgroup]",
  '  path = "/bunkerd"',
  "[timeouts]",
  '  "io.containerd.timeout.shim.load" = "1m30s"',
  '  "io.containerd.timeout.bolt.open" = "0s"',
  '[plugins."io.containerd.gc.v1.scheduler"]',
  "  pause_threshold = 1.0",
  "  deletion_threshold = 3",
  '  schedule_delay = "1s"',
  '[plugins."io.bunkerd.test.v1.values"]',
  '  text = "tab\\t quote\\" backslash\\\\ bell\\u0007 é 日本"',
  "  big = 9223372036854775807",
  "  small_float = 2.0",
  "  fraction = 0.125",
  "  when = 1979-05-27T07:32:00Z",
  '  list = ["a", "b"]',
  '  tables = [{ name = "x", weight = 1.0 }, { name = "y" }]',
  "  empty = {}",
  '  [plugins."io.bunkerd.test.v1.values".nested."dotted.key"]',
  "    on = true",
  "[proxy_plugins.stargz]",
  '  type = "snapshot"',
  '  address = "/run/stargz.sock"',
  "[stream_processors.decoder]",
  '  accepts = ["application/x-in"]',
  '  returns = "application/x-out"',
  '  path = "decoder"',
  '  args = ["--key", "/k"]',
  '  env = ["A=1"]',
];

/** The same containerd-style scheduler defaults everywhere: containerd decodes them with its own types. */
export const SCHEDULER_DEFAULTS = {
  pause_threshold: 0.02,
  deletion_threshold: 0,
  mutation_threshold: 100,
  schedule_delay: "0s",
  startup_delay: "100ms",
};

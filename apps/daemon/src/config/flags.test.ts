import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { defaultConfig } from "./defaults.ts";
import { ConfigError } from "./errors.ts";
import { applyFlags, effectiveTtrpc } from "./flags.ts";
import { loadConfig } from "./load.ts";
import { configDir, thrown } from "./testkit.ts";

const { write } = configDir();

const file = write(
  "",
  "version = 2",
  'root = "/file/root"',
  'state = "/file/state"',
  "[grpc]",
  '  address = "/file/grpc.sock"',
  "  uid = 7",
  "  gid = 8",
  "[debug]",
  '  level = "warn"',
);

test("flags override the file", () => {
  const { config } = loadConfig(file);
  const out = applyFlags(config, {
    address: "/flag.sock",
    root: "/flag/root",
    state: "/flag/state",
    logLevel: "debug",
  });
  expect(out).toBe(config); // applied in place, like containerd's applyFlags
  expect([out.root, out.state, out.grpc.address, out.debug.level]).toEqual([
    "/flag/root",
    "/flag/state",
    "/flag.sock",
    "debug",
  ]);
});

test("flags not given leave the file's values", () => {
  const { config } = loadConfig(file);
  applyFlags(config, { address: "", logLevel: undefined });
  expect([config.root, config.state, config.grpc.address, config.debug.level]).toEqual([
    "/file/root",
    "/file/state",
    "/file/grpc.sock",
    "warn",
  ]);
});

test("--root and --state are made absolute", () => {
  const config = applyFlags(defaultConfig(), { root: "rel/root", state: "./rel/state" });
  expect([config.root, config.state]).toEqual([resolve("rel/root"), resolve("rel/state")]);
});

test("--address moves the derived ttrpc socket, owned like the gRPC socket", () => {
  const { config } = loadConfig(file);
  expect(effectiveTtrpc(config)).toEqual({ address: "/file/grpc.sock.ttrpc", uid: 7, gid: 8 });
  applyFlags(config, { address: "/flag.sock" });
  expect(effectiveTtrpc(config)).toEqual({ address: "/flag.sock.ttrpc", uid: 7, gid: 8 });
  expect(config.ttrpc.address).toBe(""); // still derived: a dump keeps containerd's meaning
});

test("--address leaves a ttrpc address the file sets", () => {
  const withTtrpc = write("", "version = 2", "[ttrpc]", '  address = "/file/ttrpc.sock"', "  uid = 3");
  const { config } = loadConfig(withTtrpc);
  applyFlags(config, { address: "/flag.sock" });
  expect(effectiveTtrpc(config)).toEqual({ address: "/file/ttrpc.sock", uid: 3, gid: 0 });
});

test("a bad --log-level is refused and nothing is applied", () => {
  const config = defaultConfig();
  const e = thrown(() => applyFlags(config, { root: "/elsewhere", logLevel: "loud" })) as ConfigError;
  expect(e).toBeInstanceOf(ConfigError);
  expect(e.message).toBe(
    'command line: --log-level: must be one of trace, debug, info, warn, warning, error, fatal, panic, got "loud"',
  );
  expect(config).toEqual(defaultConfig());
});

test("--log-level is case-insensitive, like logrus", () => {
  expect(applyFlags(defaultConfig(), { logLevel: "WARNING" }).debug.level).toBe("warning");
});

test("--root equal to state is refused", () => {
  const e = thrown(() => applyFlags(defaultConfig(), { root: "/run/bunkerd" })) as ConfigError;
  expect(e.message).toBe(
    'command line: --root: root and state must be different paths, both are "/run/bunkerd"',
  );
});

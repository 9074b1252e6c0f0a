/**
 * Command-line flags over the file, as containerd's applyFlags: a flag that is given wins.
 * The ttrpc socket is derived afterwards (effectiveTtrpc), so --address moves it too unless the
 * file sets `ttrpc.address` (containerd main.go: `if config.TTRPC.Address == ""`).
 */
import { resolve } from "node:path";
import { ConfigError } from "./errors.ts";
import { LOG_LEVELS, type Config, type LogLevel, type TtrpcConfig } from "./types.ts";

export interface Flags {
  /** --address: the gRPC socket. */
  address?: string;
  /** --root, made absolute. */
  root?: string;
  /** --state, made absolute. */
  state?: string;
  /** --log-level */
  logLevel?: string;
}

const FLAGS = "command line";

/**
 * Applies the given flags to `config` in place and returns it; empty strings count as not given.
 * All flags are checked before any is applied, so a refused flag leaves `config` unchanged.
 */
export function applyFlags(config: Config, flags: Flags): Config {
  let level: LogLevel | undefined;
  if (flags.logLevel) {
    const lower = flags.logLevel.toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(lower)) {
      throw new ConfigError(
        { file: FLAGS, key: "--log-level" },
        `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(flags.logLevel)}`,
      );
    }
    level = lower as LogLevel;
  }
  const root = flags.root ? resolve(flags.root) : config.root;
  const state = flags.state ? resolve(flags.state) : config.state;
  if (root === state) {
    throw new ConfigError(
      { file: FLAGS, key: flags.state ? "--state" : "--root" },
      `root and state must be different paths, both are ${JSON.stringify(root)}`,
    );
  }
  if (level) config.debug.level = level;
  config.root = root;
  config.state = state;
  if (flags.address) config.grpc.address = flags.address;
  return config;
}

/** The ttrpc listener: `ttrpc.address`, or `<grpc.address>.ttrpc` owned like the gRPC socket. */
export function effectiveTtrpc(config: Config): TtrpcConfig {
  if (config.ttrpc.address !== "") return { ...config.ttrpc };
  return { address: `${config.grpc.address}.ttrpc`, uid: config.grpc.uid, gid: config.grpc.gid };
}

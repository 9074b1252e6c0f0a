/** The global options (ctr's, before the command: `--address`, `--namespace`, `--timeout`,
 *  `--connect-timeout`, `--debug`), parsed once in main and read by every command. */
import { parseDuration } from "./units.ts";
import { UsageError } from "./errors.ts";

export const DEFAULT_ADDRESS = "/run/bunkerd/bunkerd.sock";

export interface Globals {
  address: string;
  namespace: string;
  /** Total timeout for the command, 0 for none. */
  timeoutMs: number;
  connectTimeoutMs: number;
  debug: boolean;
}

export const globals: Globals = {
  address: process.env.CONTAINERD_ADDRESS || DEFAULT_ADDRESS,
  namespace: process.env.CONTAINERD_NAMESPACE || "default",
  timeoutMs: 0,
  connectTimeoutMs: 0,
  debug: false,
};

type Spec = { key: keyof Globals; kind: "string" | "duration" | "boolean" };
const flags: Record<string, Spec> = {
  "--address": { key: "address", kind: "string" },
  "-a": { key: "address", kind: "string" },
  "--namespace": { key: "namespace", kind: "string" },
  "-n": { key: "namespace", kind: "string" },
  "--timeout": { key: "timeoutMs", kind: "duration" },
  "--connect-timeout": { key: "connectTimeoutMs", kind: "duration" },
  "--debug": { key: "debug", kind: "boolean" },
};

/** Consumes the global flags before the first command word, as Go ctr does (a global flag
 *  after the command belongs to the command), and returns the rest. */
export function parseGlobals(argv: string[]): string[] {
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-") || arg === "--") break;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = flags[name];
    if (!spec) break; // --help, --version, or a typo: citty reports it
    let value: string | undefined;
    if (spec.kind === "boolean") value = eq > 0 ? arg.slice(eq + 1) : "true";
    else if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`flag needs an argument: ${name}`);
    }
    const g = globals as unknown as Record<string, unknown>;
    if (spec.kind === "boolean") g[spec.key] = value !== "false";
    else if (spec.kind === "duration") g[spec.key] = parseDuration(value, name);
    else g[spec.key] = value;
  }
  return argv.slice(i);
}

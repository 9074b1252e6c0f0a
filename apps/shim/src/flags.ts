/** The shim's command line, as containerd passes it (Go's `flag` package): single-dash flags,
 *  `-name value` or `-name=value`, booleans without a value, and the action (`start`, `delete`,
 *  or none for the long-running shim) as the first argument that is not a flag. */
import { invalidArgument } from "@bunkerd/plugin-api";

export interface ShimFlags {
  namespace: string;
  id: string;
  /** The daemon's gRPC socket (`-address`). */
  address: string;
  publishBinary: string;
  bundle: string;
  socket: string;
  debug: boolean;
  version: boolean;
  action: "" | "start" | "delete";
}

const STRING_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: "namespace",
  id: "id",
  address: "address",
  "publish-binary": "publishBinary",
  bundle: "bundle",
  socket: "socket",
};
const BOOL_FLAGS: Record<string, keyof ShimFlags> = { debug: "debug", v: "version" };

export function parseFlags(argv: readonly string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: "",
    id: "",
    address: "",
    publishBinary: "",
    bundle: "",
    socket: "",
    debug: false,
    version: false,
    action: "",
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const bool = BOOL_FLAGS[name];
    if (bool) {
      const v = eq === -1 ? "true" : body.slice(eq + 1);
      (flags as unknown as Record<string, unknown>)[bool] = v === "true" || v === "1";
      continue;
    }
    const key = STRING_FLAGS[name];
    // Unknown flags are ignored: newer containerd versions pass flags older shims do not know.
    let value: string | undefined;
    if (eq !== -1) value = body.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined) throw invalidArgument(`flag needs an argument: -${name}`);
      i++;
    }
    if (key) (flags as unknown as Record<string, unknown>)[key] = value;
  }
  const action = argv[i] ?? "";
  if (action !== "" && action !== "start" && action !== "delete") {
    throw invalidArgument(`unknown shim action ${JSON.stringify(action)}`);
  }
  flags.action = action;
  return flags;
}

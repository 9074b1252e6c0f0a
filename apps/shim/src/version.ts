/** The shim's version, reported by `-v` and in ConnectResponse. */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
export const SHIM_NAME = "containerd-shim-bunker-v2";
export const RUNTIME_TYPE = "io.containerd.bunker.v2";

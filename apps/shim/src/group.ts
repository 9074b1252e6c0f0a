/** Which shim a container goes to. Containers whose OCI spec carries the same group annotation
 *  share one shim process, as with containerd's runc shim: `io.containerd.runc.v2.group` first
 *  (the Go ctr copies `--label`s into annotations), then Kubernetes' sandbox id for a pod. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";

export const GROUP_ANNOTATIONS = ["io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"] as const;

/** Opt-in density setting: containers without a group annotation share the shim of this group
 *  (per daemon and namespace) instead of getting one each. A shim is a Bun process (~10 MB of
 *  its own memory); one shim for 20 `sleep` containers measured 42 MB PSS in all, 20 shims 229 MB. */
export const DEFAULT_GROUP_ENV = "BUNKERD_SHIM_GROUP";

/** The group of the container whose bundle is `bundle`: an annotation's value, else the default
 *  group when one is set, else its id. */
export function groupOf(bundle: string, id: string, defaultGroup = process.env[DEFAULT_GROUP_ENV]): string {
  let spec: { annotations?: Record<string, unknown> };
  const path = join(bundle, "config.json");
  try {
    spec = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw invalidArgument(`read OCI spec ${path}: ${(e as Error).message}`);
  }
  for (const key of GROUP_ANNOTATIONS) {
    const v = spec.annotations?.[key];
    if (typeof v === "string" && v !== "") return v;
  }
  return defaultGroup || id;
}

/** Which shim a container goes to. Containers whose OCI spec carries the same group annotation
 *  share one shim process, as with containerd's runc shim: `io.containerd.runc.v2.group` first
 *  (the Go ctr copies `--label`s into annotations), then Kubernetes' sandbox id for a pod. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";

export const GROUP_ANNOTATIONS = ["io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"] as const;

/** The group of the container whose bundle is `bundle`: an annotation's value, else its id. */
export function groupOf(bundle: string, id: string): string {
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
  return id;
}

/** io.containerd.differ.v1.walking: applies layers onto snapshot mounts and produces layers
 *  from two sets of mounts, in its own worker. Callers pass plain data (descriptors, mounts,
 *  paths): `apply(desc, mounts, { blobPath, tmpMountsDir })` and
 *  `compare(lower, upper, { mediaType, tmpMountsDir, write })`. */
import { definePlugin, type Platform, PluginType } from "@bunkerd/plugin-api";
import type { WalkingDiffer } from "./differ.ts";

export const DIFFER_WORKER = PluginType.Differ;

/** containerd's platforms.DefaultSpec for this host. */
export function hostPlatform(arch: string = process.arch): Platform {
  switch (arch) {
    case "x64":
      return { os: "linux", architecture: "amd64" };
    case "arm64":
      return { os: "linux", architecture: "arm64", variant: "v8" };
    case "arm":
      return { os: "linux", architecture: "arm", variant: "v7" };
    case "ia32":
      return { os: "linux", architecture: "386" };
    default:
      return { os: "linux", architecture: arch };
  }
}

export default definePlugin<unknown, WalkingDiffer>({
  type: PluginType.Differ,
  id: "walking",
  worker: DIFFER_WORKER,
  platforms: [hostPlatform()],
  async init(ctx) {
    const { WalkingDiffer } = await import("./differ.ts");
    return new WalkingDiffer(ctx.log);
  },
});

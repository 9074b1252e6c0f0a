/** The snapshotter plugins: io.containerd.snapshotter.v1.overlayfs and .native, both in the
 *  snapshotter worker. Cheap to import (the host reads records on its main thread); `init` loads
 *  the implementation. Config keys and defaults are containerd's; the root is `root_path`, or
 *  the plugin's own `<root>/io.containerd.snapshotter.v1.<id>`, exported as `root` as containerd
 *  does. overlayfs mounts a small overlay at init and is skipped, with the reason, when that fails. */
import { definePlugin, invalidArgument, type Platform, PluginType, skipPlugin } from "@bunkerd/plugin-api";
import type { Snapshotter } from "./snapshotter.ts";

/** Both snapshotters share one worker, named after their type. */
export const SNAPSHOTTER_WORKER = PluginType.Snapshotter;

/** `[plugins."io.containerd.snapshotter.v1.overlayfs"]` */
export interface OverlayConfig {
  /** Where the snapshots live; "" for the plugin's root. */
  root_path: string;
  /** Label every snapshot with its upper directory (containerd.io/snapshot/overlay.upperdir). */
  upperdir_label: boolean;
  /** Remove a snapshot's directories with its record, not at the next cleanup. */
  sync_remove: boolean;
  /** Options appended to overlay mounts (not bind mounts). */
  mount_options: string[];
}

/** `[plugins."io.containerd.snapshotter.v1.native"]` */
export interface NativeConfig {
  root_path: string;
}

export const overlayDefaults: OverlayConfig = {
  root_path: "",
  upperdir_label: false,
  sync_remove: false,
  mount_options: [],
};

export const nativeDefaults: NativeConfig = { root_path: "" };

// Node's process.arch → the OCI / Go name, as containerd's platforms.DefaultSpec() reports it.
const ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: "amd64" },
  arm64: { architecture: "arm64", variant: "v8" },
  arm: { architecture: "arm", variant: "v7" },
  ia32: { architecture: "386" },
  ppc64: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
  riscv64: { architecture: "riscv64" },
  loong64: { architecture: "loong64" },
  mips64el: { architecture: "mips64le" },
};

/** This host's platform in OCI naming (linux/amd64, linux/arm64/v8, …). */
export function hostPlatform(): Platform {
  const a = ARCH[process.arch] ?? { architecture: process.arch };
  return a.variant
    ? { os: "linux", architecture: a.architecture, variant: a.variant }
    : { os: "linux", ...a };
}

export function parseOverlayConfig(raw: Record<string, unknown>): OverlayConfig {
  return {
    root_path: str(raw, "root_path", overlayDefaults.root_path),
    upperdir_label: bool(raw, "upperdir_label", overlayDefaults.upperdir_label),
    sync_remove: bool(raw, "sync_remove", overlayDefaults.sync_remove),
    mount_options: strings(raw, "mount_options", overlayDefaults.mount_options),
  };
}

export function parseNativeConfig(raw: Record<string, unknown>): NativeConfig {
  return { root_path: str(raw, "root_path", nativeDefaults.root_path) };
}

export const overlayPlugin = definePlugin<OverlayConfig, Snapshotter>({
  type: PluginType.Snapshotter,
  id: "overlayfs",
  worker: SNAPSHOTTER_WORKER,
  config: overlayDefaults,
  parseConfig: parseOverlayConfig,
  platforms: [hostPlatform()],
  async init(ctx) {
    const root = ctx.config.root_path || ctx.root;
    ctx.exports.root = root;
    const { OverlaySnapshotter, overlaySupport } = await import("./overlay/index.ts");
    const reason = await overlaySupport(root);
    if (reason !== undefined) throw skipPlugin(`overlayfs not supported on ${root}: ${reason}`);
    return OverlaySnapshotter.open(root, {
      upperdirLabel: ctx.config.upperdir_label,
      syncRemove: ctx.config.sync_remove,
      mountOptions: ctx.config.mount_options,
      log: ctx.log,
    });
  },
});

export const nativePlugin = definePlugin<NativeConfig, Snapshotter>({
  type: PluginType.Snapshotter,
  id: "native",
  worker: SNAPSHOTTER_WORKER,
  config: nativeDefaults,
  parseConfig: parseNativeConfig,
  platforms: [hostPlatform()],
  async init(ctx) {
    const root = ctx.config.root_path || ctx.root;
    ctx.exports.root = root;
    const { NativeSnapshotter } = await import("./native/index.ts");
    return NativeSnapshotter.open(root, { log: ctx.log });
  },
});

export default [overlayPlugin, nativePlugin];

function value(raw: Record<string, unknown>, key: string, fallback: unknown): unknown {
  return Object.hasOwn(raw, key) ? raw[key] : fallback;
}

function str(raw: Record<string, unknown>, key: string, fallback: string): string {
  const v = value(raw, key, fallback);
  if (typeof v !== "string") throw invalidArgument(`${key}: must be a string, got ${show(v)}`);
  return v;
}

function bool(raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = value(raw, key, fallback);
  if (typeof v !== "boolean") throw invalidArgument(`${key}: must be a boolean, got ${show(v)}`);
  return v;
}

function strings(raw: Record<string, unknown>, key: string, fallback: string[]): string[] {
  const v = value(raw, key, fallback);
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw invalidArgument(`${key}: must be an array of strings, got ${show(v)}`);
  }
  return [...v];
}

const show = (v: unknown) => (typeof v === "bigint" ? `${v}` : (JSON.stringify(v) ?? String(v)));

/** OCI runtime specs made client-side, as containerd's `oci` package and ctr make them. */
export * from "./spec.ts";
export * from "./opts.ts";
export { type ImageRunConfig, withImageConfig, DEFAULT_PATH_ENV } from "./image-config.ts";
export * from "./user.ts";
export { CAPABILITIES, capsFromMask, currentCaps, deviceFromPath, devicesAt, hostDevices } from "./host.ts";
export { orderProcess, orderSpec, processBytes, specBytes } from "./marshal.ts";
export {
  directoryFiles,
  lazyRootfs,
  readonlyMount,
  rootPath,
  type SnapshotMount,
  withReadonlyMount,
} from "./rootfs.ts";

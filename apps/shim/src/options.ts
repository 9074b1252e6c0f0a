/** Runtime options: how a task's runc is run. They arrive as a protobuf `Any` in Create
 *  (`containerd.runc.v1.Options`, or the older `containerd.linux.runc.CreateOptions` /
 *  `RuncOptions`), are kept in `<bundle>/options.json` so that `delete` after a dead shim finds
 *  the same runc root and binary, and default to containerd's runc shim's values. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "@bunkerd/plugin-api";
import {
  CreateOptionsSchema,
  RuncOptionsSchema,
} from "@bunkerd/proto/containerd/runtime/linux/runctypes/runc_pb.ts";
import { OptionsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";

export interface RuncOptions {
  binaryName: string;
  /** runc's --root parent; the namespace is appended. */
  root: string;
  systemdCgroup: boolean;
  noPivotRoot: boolean;
  noNewKeyring: boolean;
  ioUid: number;
  ioGid: number;
  shimCgroup: string;
  criuPath: string;
}

export const DEFAULT_RUNC_ROOT = "/run/containerd/runc";

export const defaultOptions = (): RuncOptions => ({
  binaryName: "runc",
  root: DEFAULT_RUNC_ROOT,
  systemdCgroup: false,
  noPivotRoot: false,
  noNewKeyring: false,
  ioUid: 0,
  ioGid: 0,
  shimCgroup: "",
  criuPath: "",
});

const bareName = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf("/") + 1);

/** The options in an `Any` (absent or empty means the defaults); an unknown type is refused. */
export function parseOptions(any: Any | undefined): RuncOptions {
  const o = defaultOptions();
  if (!any || any.typeUrl === "") return o;
  const name = bareName(any.typeUrl);
  try {
    switch (name) {
      case "containerd.runc.v1.Options": {
        const m = fromBinary(OptionsSchema, any.value);
        o.binaryName = m.binaryName || o.binaryName;
        o.root = m.root || o.root;
        o.systemdCgroup = m.systemdCgroup;
        o.noPivotRoot = m.noPivotRoot;
        o.noNewKeyring = m.noNewKeyring;
        o.ioUid = m.ioUid;
        o.ioGid = m.ioGid;
        o.shimCgroup = m.shimCgroup;
        o.criuPath = m.criuPath;
        return o;
      }
      case "containerd.linux.runc.CreateOptions": {
        const m = fromBinary(CreateOptionsSchema, any.value);
        o.noPivotRoot = m.noPivotRoot;
        o.noNewKeyring = m.noNewKeyring;
        o.ioUid = m.ioUid;
        o.ioGid = m.ioGid;
        o.shimCgroup = m.shimCgroup;
        return o;
      }
      case "containerd.linux.runc.RuncOptions": {
        const m = fromBinary(RuncOptionsSchema, any.value);
        o.binaryName = m.runtime || o.binaryName;
        o.root = m.runtimeRoot || o.root;
        o.systemdCgroup = m.systemdCgroup;
        o.criuPath = m.criuPath;
        return o;
      }
    }
  } catch (e) {
    throw invalidArgument(`runtime options ${name}: ${(e as Error).message}`);
  }
  throw invalidArgument(`runtime options: unsupported type ${JSON.stringify(any.typeUrl)}`);
}

/** Kept with containerd's option names, so a person reading the bundle recognises them. */
export function writeOptions(bundle: string, o: RuncOptions): void {
  const json = {
    binary_name: o.binaryName,
    root: o.root,
    systemd_cgroup: o.systemdCgroup,
    no_pivot_root: o.noPivotRoot,
    no_new_keyring: o.noNewKeyring,
    io_uid: o.ioUid,
    io_gid: o.ioGid,
    shim_cgroup: o.shimCgroup,
    criu_path: o.criuPath,
  };
  writeFileSync(join(bundle, "options.json"), JSON.stringify(json), { mode: 0o600 });
}

/** The options a task was created with; the defaults when the bundle has none (never created). */
export function readOptions(bundle: string): RuncOptions {
  const o = defaultOptions();
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(join(bundle, "options.json"), "utf8"));
  } catch {
    return o;
  }
  const str = (k: string, d: string) => (typeof j[k] === "string" && j[k] !== "" ? (j[k] as string) : d);
  o.binaryName = str("binary_name", o.binaryName);
  o.root = str("root", o.root);
  o.systemdCgroup = j.systemd_cgroup === true;
  o.noPivotRoot = j.no_pivot_root === true;
  o.noNewKeyring = j.no_new_keyring === true;
  o.criuPath = str("criu_path", "");
  return o;
}

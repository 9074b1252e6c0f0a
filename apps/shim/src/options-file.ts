/** The runtime options a task was created with, kept in `<bundle>/options.json` so that `delete`
 *  after a dead shim finds the same runc root and binary. Apart from options.ts (which decodes
 *  them from protobuf) so that `delete`, a short-lived process, loads no protobuf code. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

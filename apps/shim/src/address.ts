/** Where a shim listens. containerd 1.6 names a shim's socket
 *  `unix:///run/containerd/s/<hex sha256(daemon address/namespace/group)>`, so every container of
 *  one group, for one daemon and namespace, finds the same socket. Ours live in /run/bunkerd/s
 *  (BUNKERD_SHIM_SOCKET_DIR overrides it), beside containerd's, never inside them. */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SOCKET_DIR = process.env.BUNKERD_SHIM_SOCKET_DIR || "/run/bunkerd/s";

/** `unix://<dir>/<hash>` for a group of containers of one daemon and namespace. */
export function socketAddress(daemonAddress: string, namespace: string, group: string): string {
  // Go's filepath.Join cleans the path: no double or trailing slashes.
  const key = join(daemonAddress, namespace, group);
  return `unix://${join(SOCKET_DIR, createHash("sha256").update(key).digest("hex"))}`;
}

export const socketPath = (address: string): string => address.replace(/^unix:\/\//, "");

export function ensureSocketDir(): void {
  mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o711 });
}

/** Writes `address` in `dir` (the bundle) atomically, as containerd's shim.WriteAddress. */
export function writeAddress(dir: string, address: string): void {
  const tmp = join(dir, ".address");
  writeFileSync(tmp, address, { mode: 0o644 });
  renameSync(tmp, join(dir, "address"));
}

export function readAddress(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, "address"), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Whether something answers on the socket (a live shim), as containerd's shim.CanConnect. */
export async function canConnect(address: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: socketPath(address), socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

/** containerd's `userns.RunningInUserNS`: in a user namespace unless uid_map is the identity
 *  map over the whole range. Device nodes cannot be created there, and overlay whiteouts
 *  (char 0/0) neither. */
import { readFileSync } from "node:fs";

let cached: boolean | undefined;

export function runningInUserNS(): boolean {
  if (cached === undefined) {
    try {
      const line = readFileSync("/proc/self/uid_map", "utf8").trim();
      const [a, b, c] = line.split(/\s+/);
      cached = !(a === "0" && b === "0" && c === "4294967295");
    } catch {
      cached = false;
    }
  }
  return cached;
}

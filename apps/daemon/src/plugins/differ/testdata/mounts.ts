/** Mount points at or below a directory, from /proc/self/mountinfo: tests assert that
 *  nothing they mounted is left behind. */
import { readFileSync } from "node:fs";

export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const target = line.split(" ")[4];
    if (!target) continue;
    const path = target.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out;
}

/** Where a process's cgroups are: the v1 directory of each controller, or its one cgroup v2
 *  directory. A host in hybrid mode (v1 controllers plus an empty cgroup2 tree, as here) counts as
 *  v1, as containerd's cgroups.Mode() does: runc puts the limits in the v1 controllers. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type CgroupPaths = { version: 1; dirs: Map<string, string> } | { version: 2; dir: string };

type Mount = { root: string; point: string; fstype: string; superOptions: string[] };

function cgroupMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const [fstype, , superOpts = ""] = right.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const f = left.split(" ");
    mounts.push({
      root: unescapeOctal(f[3] ?? "/"),
      point: unescapeOctal(f[4] ?? ""),
      fstype,
      superOptions: superOpts.split(","),
    });
  }
  return mounts;
}

// mountinfo escapes space, tab, newline and backslash as octal.
const unescapeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

function under(m: Mount, path: string): string {
  const rel = m.root !== "/" && path.startsWith(m.root) ? path.slice(m.root.length) : path;
  return join(m.point, rel);
}

/** Reads /proc/<pid>/cgroup and resolves it against this process's cgroup mounts. */
export function cgroupPaths(pid: number): CgroupPaths {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch (e) {
    throw Object.assign(new Error(`cgroups of pid ${pid}: process not found`), { code: "ENOENT", cause: e });
  }
  const mounts = cgroupMounts();
  const dirs = new Map<string, string>();
  let unified: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers = "", path = "/"] = m;
    if (controllers === "") {
      const mount = mounts.find((x) => x.fstype === "cgroup2");
      if (mount) unified = under(mount, path);
      continue;
    }
    for (const c of controllers.split(",")) {
      if (c.startsWith("name=")) continue;
      const mount = mounts.find((x) => x.fstype === "cgroup" && x.superOptions.includes(c));
      if (mount) dirs.set(c, under(mount, path));
    }
  }
  if (dirs.size > 0) return { version: 1, dirs };
  if (unified !== undefined) return { version: 2, dir: unified };
  throw new Error(`cgroups of pid ${pid}: no cgroup mount found for it`);
}

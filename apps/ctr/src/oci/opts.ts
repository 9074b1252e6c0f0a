/** Spec options: each changes a spec the way the containerd `oci` option of the same name does
 *  (WithEnv, WithTTY, WithMounts, WithPrivileged, …). Pure functions on the spec; what needs
 *  the host (devices, capabilities) is passed in. */
import type { Device, Mount, Namespace, Process, Spec } from "./spec.ts";

const proc = (s: Spec): Process => {
  s.process ??= { user: { uid: 0, gid: 0 }, cwd: "" };
  return s.process;
};
const linux = (s: Spec) => {
  s.linux ??= {};
  return s.linux;
};
const resources = (s: Spec) => {
  const l = linux(s);
  l.resources ??= {};
  return l.resources;
};

/** containerd's replaceOrAppendEnvValues: each override replaces the default with its key, or is
 *  appended; `KEY` without `=` removes KEY. An appended key is not looked up again, so a key
 *  given twice stays twice, as in containerd 1.6. */
export function replaceOrAppendEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const results = [...defaults];
  const index = new Map<string, number>();
  defaults.forEach((e, i) => {
    index.set(e.split("=", 1)[0]!, i);
  });
  const removed = new Set<number>();
  for (const v of overrides) {
    const key = v.split("=", 1)[0]!;
    const at = index.get(key);
    if (!v.includes("=")) {
      if (at !== undefined) removed.add(at);
      continue;
    }
    if (at !== undefined) results[at] = v;
    else results.push(v);
  }
  return results.filter((e, i) => !removed.has(i) && e !== "");
}

export function withEnv(s: Spec, env: readonly string[]): void {
  if (env.length > 0) proc(s).env = replaceOrAppendEnv(proc(s).env ?? [], env);
}

/** WithEnvFile: one variable per line. */
export function envFileLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

export function withProcessArgs(s: Spec, args: readonly string[]): void {
  proc(s).args = [...args];
}

export function withProcessCwd(s: Spec, cwd: string): void {
  proc(s).cwd = cwd;
}

export function withTTY(s: Spec): void {
  const p = proc(s);
  p.terminal = true;
  p.env = [...(p.env ?? []), "TERM=xterm"];
}

export function withRootfsReadonly(s: Spec): void {
  s.root = { ...(s.root ?? { path: "rootfs" }), readonly: true };
}

export function withMounts(s: Spec, mounts: readonly Mount[]): void {
  s.mounts = [...(s.mounts ?? []), ...mounts];
}

/** WithHostNamespace: drop the namespace so the container shares the host's. */
export function withHostNamespace(s: Spec, type: string): void {
  const l = linux(s);
  l.namespaces = (l.namespaces ?? []).filter((n) => n.type !== type);
}

/** WithLinuxNamespace: set the namespace's path, adding the namespace if absent. */
export function withLinuxNamespace(s: Spec, ns: Namespace): void {
  const l = linux(s);
  const list = l.namespaces ?? [];
  const i = list.findIndex((n) => n.type === ns.type);
  if (i >= 0) list[i] = { ...ns };
  else list.push({ ...ns });
  l.namespaces = list;
}

const hostFile = (path: string): Mount => ({
  destination: path,
  type: "bind",
  source: path,
  options: ["rbind", "ro"],
});
export const withHostHostsFile = (s: Spec) => withMounts(s, [hostFile("/etc/hosts")]);
export const withHostResolvconf = (s: Spec) => withMounts(s, [hostFile("/etc/resolv.conf")]);

export function withMemoryLimit(s: Spec, limit: number): void {
  const r = resources(s);
  r.memory = { ...r.memory, limit };
}

export function withCPUCFS(s: Spec, quota: number, period: number): void {
  const r = resources(s);
  r.cpu = { ...r.cpu, quota, period };
}

export function withCPUShares(s: Spec, shares: number): void {
  const r = resources(s);
  r.cpu = { ...r.cpu, shares };
}

/** WithAddedCapabilities: each cap joins the bounding, effective and permitted sets. */
export function withAddedCapabilities(s: Spec, caps: readonly string[]): void {
  const p = proc(s);
  p.capabilities ??= {};
  const c = p.capabilities;
  for (const key of ["bounding", "effective", "permitted"] as const) {
    const set = c[key] ?? [];
    for (const cap of caps) if (!set.includes(cap)) set.push(cap);
    c[key] = set;
  }
}

/** WithDroppedCapabilities: each cap leaves every set. */
export function withDroppedCapabilities(s: Spec, caps: readonly string[]): void {
  const c = proc(s).capabilities;
  if (!c) return;
  for (const key of ["bounding", "effective", "permitted", "inheritable", "ambient"] as const) {
    if (c[key]) c[key] = c[key]!.filter((x) => !caps.includes(x));
  }
}

/** WithDevices: the nodes join linux.devices, each allowed in the device cgroup. */
export function withDevices(s: Spec, devices: readonly Device[], access: string): void {
  const l = linux(s);
  const r = resources(s);
  for (const d of devices) {
    l.devices = [...(l.devices ?? []), d];
    r.devices = [...(r.devices ?? []), { allow: true, type: d.type, major: d.major, minor: d.minor, access }];
  }
}

/** `--cpus`: a CFS quota of cpus × 100 ms per 100 ms period. */
export function withCPUs(s: Spec, cpus: number): void {
  withCPUCFS(s, Math.trunc(cpus * 100000), 100000);
}

export function withAnnotations(s: Spec, annotations: Record<string, string>): void {
  if (Object.keys(annotations).length === 0) return;
  s.annotations = { ...(s.annotations ?? {}), ...annotations };
}

/** WithPrivileged: every capability this process has, no masked or read-only paths, a writable
 *  /sys (and cgroupfs); with WithHostDevices + WithAllDevicesAllowed as ctr adds them. */
export function withPrivileged(
  s: Spec,
  currentCaps: readonly string[],
  hostDevices: readonly Device[],
): void {
  const p = proc(s);
  p.capabilities = { bounding: [...currentCaps], effective: [...currentCaps], permitted: [...currentCaps] };
  const l = linux(s);
  l.maskedPaths = undefined;
  l.readonlyPaths = undefined;
  for (const m of s.mounts ?? []) {
    if (m.type === "sysfs" || m.type === "cgroup") {
      m.options = (m.options ?? []).map((o) => (o === "ro" ? "rw" : o));
    }
  }
  p.selinuxLabel = undefined;
  p.apparmorProfile = undefined;
  l.seccomp = undefined;
  l.devices = [...(l.devices ?? []), ...hostDevices];
  resources(s).devices = [{ allow: true, access: "rwm" }];
}

/** ctr's `--mount type=bind,src=/a,dst=/b,options=rbind:ro` (a CSV record of key=value). */
export function parseMountFlag(value: string): Mount {
  const m: Mount = { destination: "" };
  for (const field of splitCsv(value)) {
    const eq = field.indexOf("=");
    if (eq < 0) throw new Error("invalid mount specification: expected key=val");
    const key = field.slice(0, eq);
    const val = field.slice(eq + 1);
    switch (key) {
      case "type":
        m.type = val;
        break;
      case "source":
      case "src":
        m.source = val;
        break;
      case "destination":
      case "dst":
        m.destination = val;
        break;
      case "options":
        m.options = val.split(":");
        break;
      default:
        throw new Error(`mount option ${JSON.stringify(key)} not supported`);
    }
  }
  return m;
}

/** One CSV record: commas separate, double quotes group (Go's encoding/csv). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const NAMESPACE_TYPES = new Set(["pid", "network", "uts", "mount", "user", "ipc", "cgroup"]);

/** ctr's `--with-ns nstype:path`. */
export function parseWithNs(value: string): Namespace {
  const parts = value.split(":");
  if (parts.length !== 2)
    throw new Error("joining a Linux namespace using --with-ns requires the format 'nstype:path'");
  if (!NAMESPACE_TYPES.has(parts[0]!)) {
    throw new Error(`the Linux namespace type specified in --with-ns is not valid: ${parts[0]}`);
  }
  return { type: parts[0]!, path: parts[1]! };
}

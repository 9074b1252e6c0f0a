/** The spec as Go's encoding/json writes runtime-spec structs: keys in struct-field order,
 *  `omitempty` fields dropped when empty, map keys sorted. containerd stores the JSON bytes the
 *  client sends, so a spec bctr makes reads byte-for-byte like one the Go ctr makes. */

/** A field: its JSON key, the type of its value (another entry of `types`, `[]` suffix for a
 *  list of them), and whether Go writes it even when empty (no `omitempty`). */
type Field = readonly [key: string, type?: string, always?: true];

const types: Record<string, readonly Field[]> = {
  spec: [
    ["ociVersion", undefined, true],
    ["process", "process"],
    ["root", "root"],
    ["hostname"],
    ["mounts", "mount[]"],
    ["hooks"],
    ["annotations", "map"],
    ["linux", "linux"],
    ["solaris"],
    ["windows"],
    ["vm"],
  ],
  process: [
    ["terminal"],
    ["consoleSize", "box"],
    ["user", "user", true],
    ["args"],
    ["commandLine"],
    ["env"],
    ["cwd", undefined, true],
    ["capabilities", "caps"],
    ["rlimits", "rlimit[]"],
    ["noNewPrivileges"],
    ["apparmorProfile"],
    ["oomScoreAdj"],
    ["selinuxLabel"],
  ],
  box: [
    ["height", undefined, true],
    ["width", undefined, true],
  ],
  user: [["uid", undefined, true], ["gid", undefined, true], ["umask"], ["additionalGids"], ["username"]],
  caps: [["bounding"], ["effective"], ["inheritable"], ["permitted"], ["ambient"]],
  rlimit: [
    ["type", undefined, true],
    ["hard", undefined, true],
    ["soft", undefined, true],
  ],
  root: [["path", undefined, true], ["readonly"]],
  mount: [["destination", undefined, true], ["type"], ["source"], ["options"]],
  linux: [
    ["uidMappings"],
    ["gidMappings"],
    ["sysctl", "map"],
    ["resources", "resources"],
    ["cgroupsPath"],
    ["namespaces", "namespace[]"],
    ["devices", "device[]"],
    ["seccomp"],
    ["rootfsPropagation"],
    ["maskedPaths"],
    ["readonlyPaths"],
    ["mountLabel"],
    ["intelRdt"],
    ["personality"],
  ],
  resources: [
    ["devices", "rule[]"],
    ["memory", "memory"],
    ["cpu", "cpu"],
    ["pids", "pids"],
    ["blockIO"],
    ["hugepageLimits"],
    ["network"],
    ["rdma"],
    ["unified", "map"],
  ],
  rule: [["allow", undefined, true], ["type"], ["major"], ["minor"], ["access"]],
  memory: [
    ["limit"],
    ["reservation"],
    ["swap"],
    ["kernel"],
    ["kernelTCP"],
    ["swappiness"],
    ["disableOOMKiller"],
    ["useHierarchy"],
  ],
  cpu: [["shares"], ["quota"], ["period"], ["realtimeRuntime"], ["realtimePeriod"], ["cpus"], ["mems"]],
  pids: [["limit", undefined, true]],
  namespace: [["type", undefined, true], ["path"]],
  device: [
    ["path", undefined, true],
    ["type", undefined, true],
    ["major", undefined, true],
    ["minor", undefined, true],
    ["fileMode"],
    ["uid"],
    ["gid"],
  ],
};

// Pointer fields (`*uint64`, `*bool`) keep a zero value: Go omits only nil pointers there.
const pointerFields = new Set([
  "memory.limit",
  "memory.swap",
  "memory.reservation",
  "cpu.shares",
  "cpu.quota",
  "cpu.period",
  "device.fileMode",
  "device.uid",
  "device.gid",
  "rule.major",
  "rule.minor",
  "memory.swappiness",
  "memory.kernel",
  "memory.kernelTCP",
  "memory.disableOOMKiller",
  "memory.useHierarchy",
  "user.umask",
  "process.oomScoreAdj",
  "pids.limit",
]);

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === null ||
  v === false ||
  v === 0 ||
  v === "" ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0);

function order(value: unknown, type: string | undefined): unknown {
  if (value === undefined || value === null) return value;
  if (type?.endsWith("[]")) {
    const t = type.slice(0, -2);
    return (value as unknown[]).map((v) => order(v, t));
  }
  if (type === "map") {
    const m = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(m)
        .sort()
        .map((k) => [k, m[k]]),
    );
  }
  const fields = type ? types[type] : undefined;
  if (!fields || typeof value !== "object") return value;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, t, always] of fields) {
    const v = src[key];
    if (v === undefined) continue;
    if (!always && !pointerFields.has(`${type}.${key}`) && isEmpty(v)) continue;
    out[key] = order(v, t);
  }
  // Keys this table does not know (a newer spec field) keep their place after the known ones.
  for (const k of Object.keys(src))
    if (!(k in out) && !fields.some(([f]) => f === k) && src[k] !== undefined) out[k] = src[k];
  return out;
}

/** The spec with Go's field order and omissions. */
export const orderSpec = <T>(spec: T): T => order(spec, "spec") as T;
/** A process spec (for exec) with Go's field order and omissions. */
export const orderProcess = <T>(p: T): T => order(p, "process") as T;

/** Go's json.Marshal escapes these inside strings (they only occur inside strings in JSON). */
const goEscape = (json: string) =>
  json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** The bytes containerd stores: compact JSON, as Go's json.Marshal writes it. */
export const specBytes = (spec: unknown) =>
  new TextEncoder().encode(goEscape(JSON.stringify(orderSpec(spec))));
export const processBytes = (p: unknown) =>
  new TextEncoder().encode(goEscape(JSON.stringify(orderProcess(p))));

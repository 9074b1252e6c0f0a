/** The OCI runtime spec (runtime-spec 1.0.2, the version containerd 1.6 writes) as plain data,
 *  and the default Linux spec containerd's `oci.populateDefaultUnixSpec` starts every container
 *  from. Fields a Go client leaves out (`omitempty`) stay undefined here. */

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface Device {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface Namespace {
  type: string;
  path?: string;
}

export interface Resources {
  devices?: DeviceRule[];
  memory?: { limit?: number; reservation?: number; swap?: number; kernel?: number; kernelTCP?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  [key: string]: unknown;
}

export interface Linux {
  uidMappings?: unknown[];
  gidMappings?: unknown[];
  sysctl?: Record<string, string>;
  resources?: Resources;
  cgroupsPath?: string;
  namespaces?: Namespace[];
  devices?: Device[];
  seccomp?: unknown;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  [key: string]: unknown;
}

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: Mount[];
  hooks?: unknown;
  annotations?: Record<string, string>;
  linux?: Linux;
  [key: string]: unknown;
}

/** The version string containerd 1.6 vendors (runtime-spec v1.0.2-dev). */
export const OCI_VERSION = "1.0.2-dev";

/** The capabilities a default container keeps (containerd's defaultUnixCaps), in its order. */
export const DEFAULT_CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

export const DEFAULT_MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
];

export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** /dev/null, zero, full, tty, random, urandom, console, pts/*, ptmx: the character devices a
 *  default container may use (containerd's defaultUnixDevices rules), after denying all. */
const allowC = (major: number, minor?: number): DeviceRule => ({
  allow: true,
  type: "c",
  major,
  ...(minor === undefined ? {} : { minor }),
  access: "rwm",
});
export const defaultDeviceRules = (): DeviceRule[] => [
  { allow: false, access: "rwm" },
  allowC(1, 3),
  allowC(1, 8),
  allowC(1, 7),
  allowC(5, 0),
  allowC(1, 5),
  allowC(1, 9),
  allowC(5, 1),
  allowC(136),
  allowC(5, 2),
];

export const defaultMounts = (): Mount[] => [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  {
    destination: "/run",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
];

/** The spec every Linux container starts from; its cgroup is `/<namespace>/<id>`. */
export function defaultSpec(namespace: string, id: string): Spec {
  return {
    ociVersion: OCI_VERSION,
    root: { path: "rootfs" },
    process: {
      user: { uid: 0, gid: 0 },
      cwd: "/",
      noNewPrivileges: true,
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
    },
    mounts: defaultMounts(),
    linux: {
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      cgroupsPath: `/${namespace}/${id}`,
      resources: { devices: defaultDeviceRules() },
      namespaces: ["pid", "ipc", "uts", "mount", "network"].map((type) => ({ type })),
    },
  };
}

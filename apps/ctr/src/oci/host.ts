/** What privileged containers take from the host: this process's effective capabilities
 *  (containerd's cap.Current) and every device node under /dev (oci.HostDevices). */
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Device } from "./spec.ts";

/** Capability names by number, as Linux 5.9+ defines them (the list containerd 1.6 knows). */
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Names of the capabilities set in a CapEff-style hex mask, in number order. */
export function capsFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

export function currentCaps(): string[] {
  const status = readFileSync("/proc/self/status", "utf8");
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? capsFromMask(m[1]!) : [];
}

// Directories getDevices does not descend into; a node named "console" is left out too.
const SKIP_DIRS = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** glibc's major()/minor() of a dev_t. */
const major = (dev: bigint) => Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
const minor = (dev: bigint) => Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));

/** The device node at `path` (not following a symlink), or undefined when it is none. */
export function deviceFromPath(path: string): Device | undefined {
  const st = lstatSync(path, { bigint: true });
  const fmt = Number(st.mode) & S_IFMT;
  if (fmt !== S_IFCHR && fmt !== S_IFBLK) return undefined;
  return {
    path,
    type: fmt === S_IFCHR ? "c" : "b",
    major: major(st.rdev),
    minor: minor(st.rdev),
    fileMode: Number(st.mode) & ~S_IFMT,
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** containerd's getDevices: the node at `path`, or every node below a directory in lexical
 *  order (symlinks not followed), named as on the host. */
export function devicesAt(path: string): Device[] {
  if (!statSync(path).isDirectory()) {
    const dev = deviceFromPath(path);
    if (!dev) throw new Error(`${path}: not a device node`);
    return [dev];
  }
  const out: Device[] = [];
  for (const name of readdirSync(path).sort()) {
    const full = join(path, name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(full);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) out.push(...devicesAt(full));
      continue;
    }
    if (name === "console") continue;
    const dev = deviceFromPath(full);
    if (dev) out.push(dev);
  }
  return out;
}

/** Every device node under /dev (containerd's HostDevices), for privileged containers. */
export const hostDevices = (dir = "/dev"): Device[] => devicesAt(dir);

/** Test bundles: a busybox root filesystem (Debian's static /bin/busybox and a symlink per
 *  applet) in a directory of its own, and an OCI config.json shaped like `runc spec`'s. The
 *  rootfs is handed to the shim as a bind mount in Create, so the shim's mount and unmount run. */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

/** A busybox root filesystem under `dir`. */
export function makeRootfs(dir: string): string {
  for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "root"])
    mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  const list = Bun.spawnSync([BUSYBOX, "--list"], { stdout: "pipe" });
  for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
    if (applet && applet !== "busybox") symlinkSync("busybox", join(dir, "bin", applet));
  }
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  return dir;
}

export interface SpecOptions {
  args: string[];
  terminal?: boolean;
  annotations?: Record<string, string>;
  env?: string[];
  /** Leave out the pid namespace (processes share the host's). */
  hostPid?: boolean;
  /** A memory limit in bytes (swap limited to the same). */
  memoryLimit?: number;
}

/** A runc-spec-like config.json for busybox. */
export function ociSpec(o: SpecOptions): object {
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: o.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: o.args,
      env: o.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: false },
    hostname: "shimtest",
    annotations: o.annotations ?? {},
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
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
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        ...(o.memoryLimit ? { memory: { limit: o.memoryLimit, swap: o.memoryLimit } } : {}),
      },
      namespaces: [
        ...(o.hostPid ? [] : [{ type: "pid" }]),
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "network" },
      ],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/sys"],
    },
  };
}

/** A bundle directory (config.json, an empty rootfs mount point) under `parent`. */
export function makeBundle(parent: string, id: string, spec: SpecOptions): string {
  const bundle = join(parent, id);
  mkdirSync(join(bundle, "rootfs"), { recursive: true });
  writeFileSync(join(bundle, "config.json"), JSON.stringify(ociSpec(spec), null, 2));
  return bundle;
}

export function mkfifos(dir: string, name: string): { stdin: string; stdout: string; stderr: string } {
  const paths = {
    stdin: join(dir, `${name}-stdin`),
    stdout: join(dir, `${name}-stdout`),
    stderr: join(dir, `${name}-stderr`),
  };
  for (const p of Object.values(paths)) {
    const r = Bun.spawnSync(["mkfifo", p]);
    if (r.exitCode !== 0) throw new Error(`mkfifo ${p} failed`);
  }
  return paths;
}

export const tempDir = (prefix: string) => mkdtempSync(join("/tmp", prefix));

/** The flags of `run` and `containers create`, named and described as Go ctr 1.6 names them
 *  (cmd/ctr/commands ContainerFlags + run's own), plus bctr's `--user`. */
import type { FlagTable } from "./flags.ts";

export const containerFlags = {
  snapshotter: {
    kind: "string",
    description: "snapshotter name. Empty value stands for the default value.",
    env: "CONTAINERD_SNAPSHOTTER",
  },
  "snapshotter-label": {
    kind: "strings",
    description: "labels added to the new snapshot for this container.",
  },
  cwd: { kind: "string", description: "specify the working directory of the process" },
  env: { kind: "strings", description: "specify additional container environment variables (e.g. FOO=bar)" },
  "env-file": {
    kind: "string",
    description: "specify additional container environment variables in a file(e.g. FOO=bar, one per line)",
  },
  label: { kind: "strings", description: "specify additional labels (e.g. foo=bar)" },
  mount: {
    kind: "strings",
    description: "specify additional container mount (e.g. type=bind,src=/tmp,dst=/host,options=rbind:ro)",
  },
  "net-host": { kind: "bool", description: "enable host networking for the container" },
  privileged: { kind: "bool", description: "run privileged container" },
  "read-only": { kind: "bool", description: "set the containers filesystem as readonly" },
  runtime: { kind: "string", description: "runtime name", default: "io.containerd.runc.v2" },
  tty: { kind: "bool", alias: "t", description: "allocate a TTY for the container" },
  "with-ns": {
    kind: "strings",
    description: "specify existing Linux namespaces to join at container runtime (format '<nstype>:<path>')",
  },
  user: {
    kind: "string",
    alias: "u",
    description: "username or user id, group optional (format: <name|uid>[:<group|gid>])",
  },
  "memory-limit": { kind: "number", description: "memory limit (in bytes) for the container" },
  "allow-new-privs": { kind: "bool", description: "turn off OCI spec's NoNewPrivileges feature flag" },
  annotation: { kind: "strings", description: "specify additional OCI annotations (e.g. foo=bar)" },
  device: {
    kind: "strings",
    description:
      "file path to a device to add to the container; or a path to a directory tree of devices to add to the container",
  },
  "cap-add": { kind: "strings", description: "add Linux capabilities (Set capabilities with 'CAP_' prefix)" },
  "cap-drop": {
    kind: "strings",
    description: "drop Linux capabilities (Set capabilities with 'CAP_' prefix)",
  },
  "cpu-quota": { kind: "number", description: "Limit CPU CFS quota", default: -1 },
  "cpu-period": { kind: "number", description: "Limit CPU CFS period", default: 0 },
  "rootfs-propagation": { kind: "string", description: "set the propagation of the container rootfs" },
  "pid-file": { kind: "string", description: "file path to write the task's pid" },
  rootfs: { kind: "bool", description: "use custom rootfs that is not managed by containerd snapshotter" },
  platform: { kind: "string", description: "run image for specific platform" },
} as const satisfies FlagTable;

export const runFlags = {
  rm: { kind: "bool", description: "remove the container after running, cannot be used with --detach" },
  "null-io": { kind: "bool", description: "send all IO to /dev/null" },
  "log-uri": { kind: "string", description: "log uri" },
  detach: {
    kind: "bool",
    alias: "d",
    description: "detach from the task after it has started execution, cannot be used with --rm",
  },
  "fifo-dir": { kind: "string", description: "directory used for storing IO FIFOs" },
  "runc-binary": { kind: "string", description: "specify runc-compatible binary" },
  "runc-root": { kind: "string", description: "specify runc-compatible root" },
  "runc-systemd-cgroup": { kind: "bool", description: "start runc with systemd cgroup manager" },
  cgroup: { kind: "string", description: 'cgroup path (To disable use of cgroup, set to "" explicitly)' },
  cpus: { kind: "number", description: "set the CFS cpu quota", default: 0 },
  "cpu-shares": { kind: "number", description: "set the cpu shares", default: 1024 },
  "no-pivot": { kind: "bool", description: "disable use of pivot-root (linux only)" },
  ...containerFlags,
} as const satisfies FlagTable;

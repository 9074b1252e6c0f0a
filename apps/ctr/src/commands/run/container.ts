/** Creating a container the way Go ctr's `run`/`containers create` do (run_unix.go
 *  NewContainer + the client's NewContainer): under a lease, the image is unpacked if needed, a
 *  snapshot `id` is prepared on the image's chain ID, the spec is generated client-side (the
 *  image config's user resolved from the snapshot's own /etc/passwd), and Containers.Create
 *  stores the record. */
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { OptionsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { platforms } from "@bunkerd/registry";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Daemon } from "../../cli/client.ts";
import { isNotFound } from "../../cli/errors.ts";
import { unpackImage } from "../../image/unpack.ts";
import { imageChainId, toDescriptor } from "../../image/walk.ts";
import {
  currentCaps,
  defaultSpec,
  devicesAt,
  directoryFiles,
  envFileLines,
  hostDevices,
  type ImageRunConfig,
  lazyRootfs,
  parseMountFlag,
  parseWithNs,
  type RootfsFiles,
  type Spec,
  specBytes,
  withAdditionalGIDs,
  withAddedCapabilities,
  withAnnotations,
  withCPUCFS,
  withCPUShares,
  withCPUs,
  withDevices,
  withDroppedCapabilities,
  withEnv,
  withHostHostsFile,
  withHostNamespace,
  withHostResolvconf,
  withImageConfig,
  withLinuxNamespace,
  withMemoryLimit,
  withMounts,
  withPrivileged,
  withProcessArgs,
  withProcessCwd,
  withRootfsReadonly,
  withTTY,
  withUser,
} from "../../oci/index.ts";
import type { containerFlags, runFlags } from "./container-flags.ts";
import { type FlagValues, labelArgs } from "./flags.ts";

export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
export const RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options";
export const RUNC_V2 = "io.containerd.runc.v2";
export const STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal";
const DEFAULT_SNAPSHOTTER_LABEL = "containerd.io/defaults/snapshotter";

type ContainerFlagValues = FlagValues<typeof containerFlags> & Partial<FlagValues<typeof runFlags>>;

export interface NewContainerInput {
  ref: string;
  id: string;
  args: string[];
  flags: ContainerFlagValues;
  /** Flags the command line named (for those whose default differs from "unset"). */
  set: Set<string>;
}

/** The snapshotter: the flag (or $CONTAINERD_SNAPSHOTTER), the namespace's default label, then
 *  overlayfs, as containerd's client resolves it. */
export async function resolveSnapshotter(d: Daemon, flag: string | undefined): Promise<string> {
  if (flag) return flag;
  try {
    const { namespace } = await d.client(Namespaces).get({ name: d.namespace });
    const label = namespace?.labels[DEFAULT_SNAPSHOTTER_LABEL];
    if (label) return label;
  } catch {
    // no namespace record yet: the built-in default applies
  }
  return "overlayfs";
}

/** ctr's getRuntimeOptions: runc options for the runc v2 runtime, none for others. */
export function runtimeOptions(flags: ContainerFlagValues) {
  const runtime = flags.runtime ?? RUNC_V2;
  if ((flags["runc-binary"] || flags["runc-systemd-cgroup"]) && runtime !== RUNC_V2) {
    throw new Error(
      `specifying runc-binary and runc-systemd-cgroup is only supported for "${RUNC_V2}" runtime`,
    );
  }
  if (runtime !== RUNC_V2) return undefined;
  if (flags["runc-systemd-cgroup"] && !flags.cgroup) {
    throw new Error(
      'option --runc-systemd-cgroup requires --cgroup to be set, e.g. "user.slice:foo:deadbeef"',
    );
  }
  const options = create(OptionsSchema, {
    binaryName: flags["runc-binary"] ?? "",
    root: flags["runc-root"] ?? "",
    systemdCgroup: flags["runc-systemd-cgroup"] ?? false,
  });
  return create(AnySchema, { typeUrl: RUNC_OPTIONS_TYPE_URL, value: toBinary(OptionsSchema, options) });
}

/** The spec for the flags, in the order ctr 1.6 applies its options. `config` is the image's
 *  (none with --rootfs, whose directory becomes the spec's root path). */
export async function buildSpec(
  namespace: string,
  input: NewContainerInput,
  config: ImageRunConfig | undefined,
  root: RootfsFiles,
  rootfsPath?: string,
): Promise<Spec> {
  const { flags, args, set } = input;
  const s = defaultSpec(namespace, input.id);
  if (flags["env-file"]) withEnv(s, envFileLines(await Bun.file(flags["env-file"]).text()));
  withEnv(s, flags.env);
  withMounts(s, flags.mount.map(parseMountFlag));
  if (rootfsPath) s.root = { path: rootfsPath };
  if (config) await withImageConfig(s, config, root);
  if (flags["read-only"]) withRootfsReadonly(s);
  if (args.length > 0) withProcessArgs(s, args);
  if (flags.cwd) withProcessCwd(s, flags.cwd);
  if (flags.user) {
    await withUser(s, root, flags.user);
    await withAdditionalGIDs(s, root, flags.user);
  }
  if (flags.tty) withTTY(s);
  if (flags.privileged) withPrivileged(s, currentCaps(), hostDevices());
  if (flags["net-host"]) {
    withHostNamespace(s, "network");
    withHostHostsFile(s);
    withHostResolvconf(s);
    withEnv(s, [`HOSTNAME=${hostname()}`]);
  }
  if (flags.annotation.length) withAnnotations(s, annotationArgs(flags.annotation));
  if (flags["cap-add"].length) withAddedCapabilities(s, capabilityArgs(flags["cap-add"]));
  if (flags["cap-drop"].length) withDroppedCapabilities(s, capabilityArgs(flags["cap-drop"]));
  if (flags.cpus) withCPUs(s, flags.cpus);
  if (flags["cpu-shares"] && flags["cpu-shares"] > 0) withCPUShares(s, flags["cpu-shares"]);
  const quota = flags["cpu-quota"] ?? -1;
  const period = flags["cpu-period"] ?? 0;
  if (quota !== -1 || period !== 0) {
    if (flags.cpus) throw new Error("cpus and quota/period should be used separately");
    withCPUCFS(s, quota, period);
  }
  for (const ns of flags["with-ns"]) withLinuxNamespace(s, parseWithNs(ns));
  if (set.has("allow-new-privs") && s.process) s.process.noNewPrivileges = false;
  if (set.has("cgroup") && s.linux) s.linux.cgroupsPath = flags.cgroup ?? "";
  if (flags["memory-limit"]) withMemoryLimit(s, flags["memory-limit"]);
  for (const dev of flags.device) withDevices(s, devicesAt(dev), "rwm");
  if (flags["rootfs-propagation"] && s.linux) s.linux.rootfsPropagation = flags["rootfs-propagation"];
  withAnnotations(s, labelArgs(flags.label));
  return s;
}

/** ctr's AnnotationArgs: every word must be key=value. */
function annotationArgs(words: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) throw new Error("annotations must be formatted as key=value");
    out[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return out;
}

function capabilityArgs(caps: readonly string[]): readonly string[] {
  for (const c of caps) {
    if (!c.startsWith("CAP_")) throw new Error("capabilities must be specified with 'CAP_' prefix");
  }
  return caps;
}

export interface CreatedContainer {
  id: string;
  snapshotter: string;
  spec: Spec;
}

/** Creates the container; on failure nothing is left (the snapshot is removed again). */
/** `--rootfs DIR`: a container on a directory no snapshotter manages (no image, no snapshot). */
async function newRootfsContainer(d: Daemon, input: NewContainerInput): Promise<CreatedContainer> {
  const { ref, id, flags } = input;
  const path = resolve(ref);
  const spec = await buildSpec(d.namespace, input, undefined, directoryFiles(path), path);
  await d.client(Containers).create({
    container: {
      id,
      labels: labelArgs(flags.label),
      runtime: { name: flags.runtime || RUNC_V2, options: runtimeOptions(flags) },
      spec: create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: specBytes(spec) }),
    },
  });
  return { id, snapshotter: "", spec };
}

/** The platform to run: `--platform`, else this host's (containerd's platforms.Default). */
const platformMatcher = (flag: string | undefined) =>
  platforms.only(flag ? platforms.parse(flag) : platforms.defaultSpec());

export async function newContainer(d: Daemon, input: NewContainerInput): Promise<CreatedContainer> {
  const { ref, id, flags } = input;
  if (flags.rootfs) return newRootfsContainer(d, input);
  const matcher = platformMatcher(flags.platform);
  const { image } = await d.client(Images).get({ name: ref });
  if (!image?.target) throw new Error(`image "${ref}": not found`);
  const snapshotter = await resolveSnapshotter(d, flags.snapshotter);
  const runtime = flags.runtime || RUNC_V2;
  const options = runtimeOptions(flags);
  return d.withLease(async (leased) => {
    const { chainId, manifest, config } = await imageChainId(leased, toDescriptor(image.target!), matcher);
    const snapshots = leased.client(Snapshots);
    try {
      await snapshots.stat({ snapshotter, key: chainId });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await unpackImage(leased, manifest, config, { snapshotter });
    }
    const { mounts } = await snapshots.prepare({
      snapshotter,
      key: id,
      parent: chainId,
      labels: labelArgs(flags["snapshotter-label"]),
    });
    const rootfs = lazyRootfs(async () => mounts);
    try {
      const run = (config.config ?? {}) as ImageRunConfig;
      const spec = await buildSpec(d.namespace, input, run, rootfs);
      await rootfs.close();
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(run.Labels ?? {})) labels[k] = v;
      for (const [k, v] of Object.entries(image.labels ?? {})) labels[k] = v;
      for (const [k, v] of Object.entries(labelArgs(flags.label))) labels[k] = v;
      labels[STOP_SIGNAL_LABEL] = run.StopSignal || "SIGTERM";
      await leased.client(Containers).create({
        container: {
          id,
          labels,
          image: image.name,
          runtime: { name: runtime, options },
          spec: create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: specBytes(spec) }),
          snapshotter,
          snapshotKey: id,
        },
      });
      return { id, snapshotter, spec };
    } catch (e) {
      await rootfs.close().catch(() => {});
      await snapshots.remove({ snapshotter, key: id }).catch(() => {});
      throw e;
    }
  });
}

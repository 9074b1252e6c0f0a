/** What the task commands share with `run`: creating a task with its IO (ctr's tasks.NewTask),
 *  waiting for its exit, forwarding signals, the stop signal, and deleting it with its FIFOs. */
import { writeFileSync } from "node:fs";
import { constants } from "node:os";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { CreateOptionsSchema } from "@bunkerd/proto/containerd/runtime/linux/runctypes/runc_pb.ts";
import { OptionsSchema, ProcessDetailsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import type { Daemon } from "../../cli/client.ts";
import { isNotFound } from "../../cli/errors.ts";
import {
  type Console,
  createFifoIO,
  handleConsoleResize,
  isFifoPath,
  logURIIO,
  nullIO,
  removeFifos,
  type TaskIO,
} from "../../cio/index.ts";
import type { Spec } from "../../oci/index.ts";

const decoder = new TextDecoder();

/** The container record and its decoded spec. */
export async function loadContainer(d: Daemon, id: string) {
  const { container } = await d.client(Containers).get({ id });
  if (!container) throw new Error(`container "${id}" in namespace "${d.namespace}": not found`);
  const spec = container.spec?.value?.length
    ? (JSON.parse(decoder.decode(container.spec.value)) as Spec)
    : undefined;
  return { container, spec };
}

export interface NewTaskOptions {
  console?: Console;
  nullIO?: boolean;
  logURI?: string;
  fifoDir?: string;
  /** runc without pivot_root (ctr's --no-pivot): runc options on the create request. */
  noPivot?: boolean;
}

/** ctr's tasks.NewTask: IO (a terminal, /dev/null, a log URI, or FIFOs copied to our stdio),
 *  then Tasks.Create with the rootfs mounts of the container's snapshot. */
export async function newTask(
  d: Daemon,
  id: string,
  o: NewTaskOptions = {},
): Promise<{ pid: number; io: TaskIO }> {
  const { container } = await loadContainer(d, id);
  let io: TaskIO;
  if (o.console) {
    if (o.nullIO) throw new Error("tty and null-io cannot be used together");
    io = createFifoIO(id, { stdin: true, terminal: true, fifoDir: o.fifoDir });
  } else if (o.nullIO) io = nullIO();
  else if (o.logURI) io = logURIIO(o.logURI);
  else io = createFifoIO(id, { stdin: true, terminal: false, fifoDir: o.fifoDir });
  try {
    let rootfs: { type: string; source: string; target: string; options: string[] }[] = [];
    if (container.snapshotKey) {
      if (!container.snapshotter) {
        throw new Error("unable to resolve rootfs mounts without snapshotter on container: invalid argument");
      }
      const { mounts } = await d
        .client(Snapshots)
        .mounts({ snapshotter: container.snapshotter, key: container.snapshotKey });
      rootfs = mounts.map((m) => ({ type: m.type, source: m.source, target: "", options: m.options }));
    }
    const options = o.noPivot ? noPivotOptions(container.runtime?.name ?? "") : undefined;
    const r = await d.client(Tasks).create({ containerId: id, rootfs, ...io.config, options });
    return { pid: r.pid, io };
  } catch (e) {
    io.close();
    throw e;
  }
}

/** WithNoPivotRoot: runc v2 Options for io.containerd.runc.*, the v1 CreateOptions otherwise. */
function noPivotOptions(runtime: string) {
  if (runtime.startsWith("io.containerd.runc.")) {
    const value = toBinary(OptionsSchema, create(OptionsSchema, { noPivotRoot: true }));
    return create(AnySchema, { typeUrl: "containerd.runc.v1.Options", value });
  }
  const value = toBinary(CreateOptionsSchema, create(CreateOptionsSchema, { noPivotRoot: true }));
  return create(AnySchema, { typeUrl: "containerd.linux.runc.CreateOptions", value });
}

/** Starts a created task whose IO is set up, as ctr's run and tasks start do: unless detached,
 *  waits for its exit while forwarding signals (or the terminal's size), drains its output and
 *  deletes it. Returns the exit code, or undefined when detached (the task keeps running). */
export async function startTask(
  d: Daemon,
  id: string,
  io: TaskIO,
  o: { console?: Console; detach?: boolean; pidFile?: string; pid: number },
): Promise<number | undefined> {
  const tasks = d.client(Tasks);
  const exited = o.detach ? undefined : waitExit(d, id);
  if (o.pidFile) writeFileSync(o.pidFile, String(o.pid));
  if (exited)
    io.start({ onStdinEnd: () => void tasks.closeIO({ containerId: id, stdin: true }).catch(() => {}) });
  await tasks.start({ containerId: id });
  if (!exited) {
    await io.detach();
    return undefined;
  }
  const con = o.console;
  const stop = con
    ? handleConsoleResize(con, (width, height) => tasks.resizePty({ containerId: id, width, height }))
    : forwardSignals(d, id);
  let code: number;
  try {
    code = await exited;
  } finally {
    stop();
  }
  await io.wait();
  await deleteTask(d, id);
  io.close();
  con?.reset();
  return code;
}

/** Waits for the process's exit (Tasks.Wait, no timeout): its exit status. */
export async function waitExit(d: Daemon, containerId: string, execId = ""): Promise<number> {
  const r = await d.client(Tasks).wait({ containerId, execId });
  return r.exitStatus;
}

/** Signal numbers by name, with or without SIG, or a number (containerd's ParseSignal). */
export function parseSignal(raw: string): number {
  if (/^[0-9]+$/.test(raw)) return Number(raw);
  const name = raw.toUpperCase().replace(/^SIG/, "");
  const n = (constants.signals as Record<string, number>)[`SIG${name}`];
  if (n === undefined) throw new Error(`Invalid signal: ${raw}`);
  return n;
}

// What ctr forwards to the task when it is not a terminal (ForwardAllSignals, less the ones
// the runtime needs for itself).
const FORWARDED: NodeJS.Signals[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGCONT",
];

/** Sends each signal this process gets to the task or exec; returns the function that stops. */
export function forwardSignals(d: Daemon, containerId: string, execId = ""): () => void {
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      d.client(Tasks)
        .kill({ containerId, execId, signal: constants.signals[sig], all: false })
        .catch(() => {});
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

/** The stdio paths of the task and its execs (Tasks.Get), for removing their FIFOs once the
 *  task is deleted. */
export async function taskFifos(d: Daemon, containerId: string): Promise<string[]> {
  const tasks = d.client(Tasks);
  const paths: string[] = [];
  const add = (p: { stdin: string; stdout: string; stderr: string } | undefined) => {
    if (p) paths.push(...[p.stdin, p.stdout, p.stderr].filter((x) => isFifoPath(x)));
  };
  try {
    add((await tasks.get({ containerId })).process);
    const { processes } = await tasks.listPids({ containerId });
    for (const pr of processes) {
      if (!pr.info?.typeUrl.endsWith("ProcessDetails")) continue;
      const { execId } = fromBinary(ProcessDetailsSchema, pr.info.value);
      if (execId)
        add((await tasks.get({ containerId, execId }).catch(() => ({ process: undefined }))).process);
    }
  } catch {
    // a stopped task has no processes to list; whatever was found is removed
  }
  return paths;
}

/** Tasks.Delete, then removes what is left of the task's FIFOs in our FIFO directory (Go ctr
 *  leaves them when the task was started by another ctr process). */
export async function deleteTask(d: Daemon, containerId: string) {
  const fifos = await taskFifos(d, containerId);
  const r = await d.client(Tasks).delete({ containerId });
  removeFifos(fifos);
  return r;
}

/** Whether the container has a task at all. */
export async function hasTask(d: Daemon, containerId: string): Promise<boolean> {
  try {
    await d.client(Tasks).get({ containerId });
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Writes out what is buffered, then exits with `code` (commands that end with the task's
 *  exit code, as Go ctr's cli.NewExitError). */
export async function exitWith(code: number): Promise<never> {
  if (process.stdout.writableNeedDrain) await new Promise((r) => process.stdout.once("drain", r));
  if (process.stderr.writableNeedDrain) await new Promise((r) => process.stderr.once("drain", r));
  process.exit(code);
}

/** The Tasks service's behaviour (containerd's `services/tasks` local, release 1.6), run in the
 *  runtime worker beside the task manager. The container record comes from the Containers
 *  service (in the metadata worker) through a proxy; the task itself is the shim's.
 *
 *  containerd's wording, which the Go ctr prints (it prefixes "no running task found: "):
 *  - a container without a task: NotFound "task <id> not found"
 *  - a second Create: AlreadyExists "task <id>: already exists"
 *  - Exec without an exec id: InvalidArgument "exec id cannot be empty"
 *  Shim errors (runc's messages, "process does not exist …") pass through with their codes.
 *  No event is published here: the shim publishes the /tasks/* events (see the runtime's manager). */
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { type Any, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  alreadyExists,
  BunkerError,
  Code,
  fromStatus,
  invalidArgument,
  Kind,
  type Logger,
  matchFilters,
  notImplemented,
  parseFilters,
  recordLookup,
  validateIdentifier,
} from "@bunkerd/plugin-api";
import type {
  CheckpointTaskRequestSchema,
  CheckpointTaskResponseSchema,
  CloseIORequestSchema,
  CreateTaskRequestSchema,
  CreateTaskResponseSchema,
  DeleteProcessRequestSchema,
  DeleteResponseSchema,
  ExecProcessRequestSchema,
  KillRequestSchema,
  ListPidsResponseSchema,
  ResizePtyRequestSchema,
  UpdateTaskRequestSchema,
  WaitResponseSchema,
} from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { type ProcessSchema, Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import type { MetricSchema } from "@bunkerd/proto/containerd/types/metrics_pb.ts";
import type { RuntimeTask, TaskManager } from "../../plugins/runtime/manager.ts";
import type { AnyValue, Container, ContainersLocal } from "../containers/types.ts";

type Req<S extends DescMessage> = MessageShape<S>;
type Reply<S extends DescMessage> = MessageInitShape<S>;
type Process = MessageInitShape<typeof ProcessSchema>;

/** containerd's io.containerd.timeout.task.state. */
const STATE_TIMEOUT_MS = 2_000;
const RUNC_CHECKPOINT_OPTIONS = "containerd.runc.v1.CheckpointOptions";

const anyValue = (a: Any | undefined): AnyValue | undefined =>
  a ? { typeUrl: a.typeUrl, value: a.value } : undefined;

export class TasksLocal {
  constructor(
    private readonly manager: TaskManager,
    private readonly containers: () => Promise<ContainersLocal>,
    private readonly log: Logger,
  ) {}

  private async container(namespace: string, id: string): Promise<Container> {
    return (await this.containers()).get(namespace, id);
  }

  /** The container must exist (its NotFound comes first), then its task. */
  private async task(namespace: string, id: string): Promise<RuntimeTask> {
    await this.container(namespace, id);
    const t = this.manager.get(namespace, id);
    if (!t) throw new BunkerError(Kind.NotFound, `task ${id} not found`);
    return t;
  }

  /** With an exec id, the exec must exist in the shim (containerd asks its State first). */
  private async process(namespace: string, id: string, execId: string): Promise<RuntimeTask> {
    const t = await this.task(namespace, id);
    if (execId !== "") await t.conn.call("state", { id, execId }, { timeoutMs: STATE_TIMEOUT_MS });
    return t;
  }

  async create(
    namespace: string,
    r: Req<typeof CreateTaskRequestSchema>,
  ): Promise<Reply<typeof CreateTaskResponseSchema>> {
    const container = await this.container(namespace, r.containerId);
    if (r.checkpoint) throw notImplemented("restoring a task from a checkpoint is not supported");
    if (this.manager.get(namespace, r.containerId)) throw alreadyExists(`task ${r.containerId}`);
    const { pid } = await this.manager.create(namespace, r.containerId, {
      spec: container.spec?.value ?? new Uint8Array(),
      rootfs: r.rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target, options: m.options })),
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      runtime: r.runtimePath !== "" ? r.runtimePath : container.runtime.name,
      runtimeOptions: container.runtime.options,
      taskOptions: anyValue(r.options),
    });
    return { containerId: r.containerId, pid };
  }

  async start(namespace: string, containerId: string, execId: string): Promise<number> {
    const t = await this.process(namespace, containerId, execId);
    return (await t.conn.call("start", { id: containerId, execId })).pid;
  }

  async delete(namespace: string, containerId: string): Promise<Reply<typeof DeleteResponseSchema>> {
    await this.task(namespace, containerId);
    const exit = await this.manager.delete(namespace, containerId);
    return { pid: exit.pid, exitStatus: exit.status, exitedAt: timestampFromDate(exit.exitedAt) };
  }

  async deleteProcess(
    namespace: string,
    r: Req<typeof DeleteProcessRequestSchema>,
  ): Promise<Reply<typeof DeleteResponseSchema>> {
    const t = await this.process(namespace, r.containerId, r.execId);
    const res = await t.conn.call("delete", { id: r.containerId, execId: r.execId });
    return { id: r.execId, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt };
  }

  async get(namespace: string, containerId: string, execId: string): Promise<Process> {
    const t = await this.process(namespace, containerId, execId);
    return this.state(t, execId);
  }

  async list(namespace: string): Promise<Process[]> {
    const out: Process[] = [];
    for (const t of this.manager.list(namespace)) {
      try {
        out.push(await this.state(t, ""));
      } catch {
        // deleted while we listed (NotFound), as containerd skips it
      }
    }
    return out;
  }

  /** containerd's getProcessState: a shim that does not answer in time shows UNKNOWN. */
  private async state(t: RuntimeTask, execId: string): Promise<Process> {
    const id = execId !== "" ? execId : t.id;
    try {
      const s = await t.conn.call("state", { id: t.id, execId }, { timeoutMs: STATE_TIMEOUT_MS });
      return {
        id,
        pid: s.pid,
        status: s.status,
        stdin: s.stdin,
        stdout: s.stdout,
        stderr: s.stderr,
        terminal: s.terminal,
        exitStatus: s.exitStatus,
        exitedAt: s.exitedAt,
      };
    } catch (e) {
      if ((e as BunkerError).kind === Kind.NotFound) throw e;
      this.log.error("get state", { id, error: (e as Error).message });
      return { id, status: Status.UNKNOWN };
    }
  }

  async kill(namespace: string, r: Req<typeof KillRequestSchema>): Promise<void> {
    const t = await this.process(namespace, r.containerId, r.execId);
    await t.conn.call("kill", { id: r.containerId, execId: r.execId, signal: r.signal, all: r.all });
  }

  async exec(namespace: string, r: Req<typeof ExecProcessRequestSchema>): Promise<void> {
    // containerd answers with a bare status here, without the kind appended.
    if (r.execId === "") throw fromStatus(Code.InvalidArgument, "exec id cannot be empty");
    const t = await this.task(namespace, r.containerId);
    try {
      validateIdentifier(r.execId);
    } catch (e) {
      throw invalidArgument(`invalid exec id ${r.execId}: ${(e as Error).message}`);
    }
    await t.conn.call("exec", {
      id: r.containerId,
      execId: r.execId,
      terminal: r.terminal,
      stdin: r.stdin,
      stdout: r.stdout,
      stderr: r.stderr,
      spec: r.spec,
    });
  }

  async resizePty(namespace: string, r: Req<typeof ResizePtyRequestSchema>): Promise<void> {
    const t = await this.process(namespace, r.containerId, r.execId);
    await t.conn.call("resizePty", { id: r.containerId, execId: r.execId, width: r.width, height: r.height });
  }

  async closeIO(namespace: string, r: Req<typeof CloseIORequestSchema>): Promise<void> {
    const t = await this.process(namespace, r.containerId, r.execId);
    if (r.stdin) await t.conn.call("closeIO", { id: r.containerId, execId: r.execId, stdin: true });
  }

  async pause(namespace: string, containerId: string): Promise<void> {
    await (await this.task(namespace, containerId)).conn.call("pause", { id: containerId });
  }

  async resume(namespace: string, containerId: string): Promise<void> {
    await (await this.task(namespace, containerId)).conn.call("resume", { id: containerId });
  }

  async listPids(namespace: string, containerId: string): Promise<Reply<typeof ListPidsResponseSchema>> {
    const t = await this.task(namespace, containerId);
    const res = await t.conn.call("pids", { id: containerId });
    return { processes: res.processes.map((p) => ({ pid: p.pid, info: p.info })) };
  }

  /** Only runc's checkpoint with an image path (`ctr c checkpoint --image-path`-style): the shim
   *  writes the image there. Storing a checkpoint in the content store is not supported. */
  async checkpoint(
    namespace: string,
    r: Req<typeof CheckpointTaskRequestSchema>,
  ): Promise<Reply<typeof CheckpointTaskResponseSchema>> {
    const t = await this.task(namespace, r.containerId);
    const imagePath = await checkpointImagePath(r.options);
    if (!imagePath) throw notImplemented("checkpoint into the content store is not supported");
    await t.conn.call("checkpoint", { id: r.containerId, path: imagePath, options: r.options });
    return { descriptors: [] };
  }

  async update(namespace: string, r: Req<typeof UpdateTaskRequestSchema>): Promise<void> {
    const t = await this.task(namespace, r.containerId);
    await t.conn.call("update", { id: r.containerId, resources: r.resources, annotations: r.annotations });
  }

  /** Every task's Stats Any as the shim reports it, for tasks matching the filters (id, namespace). */
  async metrics(namespace: string, filters: string[]): Promise<Reply<typeof MetricSchema>[]> {
    const parsed = parseFilters(filters);
    const out: Reply<typeof MetricSchema>[] = [];
    for (const t of this.manager.list(namespace)) {
      if (!matchFilters(parsed, recordLookup({ id: t.id, namespace: t.namespace }))) continue;
      const collected = new Date();
      try {
        const res = await t.conn.call("stats", { id: t.id });
        out.push({ timestamp: timestampFromDate(collected), id: t.id, data: res.stats });
      } catch (e) {
        if ((e as BunkerError).kind !== Kind.NotFound) {
          this.log.error("collecting metrics", { id: t.id, error: (e as Error).message });
        }
      }
    }
    return out;
  }

  async wait(
    namespace: string,
    containerId: string,
    execId: string,
    signal?: AbortSignal,
  ): Promise<Reply<typeof WaitResponseSchema>> {
    const t = await this.process(namespace, containerId, execId);
    const res = await t.conn.call("wait", { id: containerId, execId }, { signal });
    return { exitStatus: res.exitStatus, exitedAt: res.exitedAt };
  }
}

async function checkpointImagePath(options: Any | undefined): Promise<string> {
  if (!options || options.typeUrl.replace(/^.*\//, "") !== RUNC_CHECKPOINT_OPTIONS) return "";
  const { fromBinary } = await import("@bufbuild/protobuf");
  const { CheckpointOptionsSchema } = await import("@bunkerd/proto/containerd/types/runc/options/oci_pb.ts");
  return fromBinary(CheckpointOptionsSchema, options.value).imagePath;
}

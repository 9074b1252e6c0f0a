/** The task API's behaviour, as containerd's runc shim (v2) has it: the containers this shim
 *  owns, each verb's checks and state changes, exits from the reaper, and the events published
 *  for each change (/tasks/create, start, exit, oom, exec-added, exec-started, paused, resumed,
 *  delete). The ttrpc adapter (service.ts) only decodes and encodes. */
import { create, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  alreadyExists,
  BunkerError,
  invalidArgument,
  Kind,
  notFound,
  notImplemented,
} from "@bunkerd/plugin-api";
import {
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "@bunkerd/proto/containerd/events/task_pb.ts";
import type {
  CreateTaskRequest,
  ExecProcessRequest,
  StateResponse,
  UpdateTaskRequest,
} from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { ProcessDetailsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { type ProcessInfo, ProcessInfoSchema, Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { Container } from "./container.ts";
import type { LogFn, Publisher } from "./events.ts";
import { parseOptions, writeOptions } from "./options.ts";
import type { ShimProcess } from "./process/process.ts";
import type { Exec } from "./runc.ts";

export const TOPIC = {
  create: "/tasks/create",
  start: "/tasks/start",
  exit: "/tasks/exit",
  oom: "/tasks/oom",
  execAdded: "/tasks/exec-added",
  execStarted: "/tasks/exec-started",
  paused: "/tasks/paused",
  resumed: "/tasks/resumed",
  delete: "/tasks/delete",
} as const;

const SIGKILL = 9;

/** What the service needs from the process around it (the reaper, cgroups, the event link). */
export interface TaskDeps {
  namespace: string;
  exec: Exec;
  wait(pid: number): Promise<{ status: number; exitedAt: Date }>;
  forget?(pid: number): void;
  publisher: Publisher;
  log: LogFn;
  watchOOM?(pid: number, onOOM: () => void): { close(): void };
  readStats?(pid: number): Promise<{ typeUrl: string; value: Uint8Array }>;
  /** Called after a Shutdown that found no tasks left: the shim exits. */
  shutdown(): void;
  version: string;
}

const STATUS: Record<ShimProcess["status"], Status> = {
  created: Status.CREATED,
  running: Status.RUNNING,
  paused: Status.PAUSED,
  stopped: Status.STOPPED,
  deleted: Status.STOPPED,
};

const ts = (d: Date | undefined): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);

export class TaskService {
  readonly containers = new Map<string, Container>();
  /** Creates in flight, so a second Create of the same id is refused while the first runs. */
  private readonly creating = new Set<string>();

  constructor(private readonly d: TaskDeps) {}

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw notFound("container not created");
    return c;
  }

  async create(r: CreateTaskRequest): Promise<{ pid: number }> {
    if (r.id === "") throw invalidArgument("id required");
    if (r.bundle === "") throw invalidArgument("bundle required");
    if (r.checkpoint !== "") throw notImplemented("restore from checkpoint: criu is not available");
    if (this.containers.has(r.id) || this.creating.has(r.id)) throw alreadyExists(`container ${r.id}`);
    this.creating.add(r.id);
    try {
      const options = parseOptions(r.options);
      writeOptions(r.bundle, options);
      const stdio = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
      const c = await Container.create({
        id: r.id,
        namespace: this.d.namespace,
        bundle: r.bundle,
        rootfs: r.rootfs.map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
        stdio,
        options,
        exec: this.d.exec,
      });
      this.containers.set(r.id, c);
      const pid = c.init.pid;
      this.watchExit(c, c.init);
      if (this.d.watchOOM) {
        try {
          c.oomWatch = this.d.watchOOM(pid, () =>
            this.d.publisher.publish(TOPIC.oom, TaskOOMSchema, create(TaskOOMSchema, { containerId: c.id })),
          );
        } catch (e) {
          this.d.log("warn", `container ${c.id}: no OOM watch: ${(e as Error).message}`);
        }
      }
      this.d.publisher.publish(
        TOPIC.create,
        TaskCreateSchema,
        create(TaskCreateSchema, {
          containerId: r.id,
          bundle: r.bundle,
          rootfs: r.rootfs,
          io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
          checkpoint: r.checkpoint,
          pid,
        }),
      );
      return { pid };
    } finally {
      this.creating.delete(r.id);
    }
  }

  async start(id: string, execId: string): Promise<{ pid: number }> {
    const c = this.container(id);
    const p = c.process(execId);
    if (p === c.init) {
      await p.guardStart(async () => {
        await c.init.start();
        this.d.publisher.publish(
          TOPIC.start,
          TaskStartSchema,
          create(TaskStartSchema, { containerId: c.id, pid: p.pid }),
        );
      });
      return { pid: p.pid };
    }
    const e = c.execs.get(execId)!;
    if (!c.init.running) throw new BunkerError(Kind.FailedPrecondition, `container ${id} is not running`);
    await e.guardStart(async () => {
      await e.start();
      this.watchExit(c, e);
      this.d.publisher.publish(
        TOPIC.execStarted,
        TaskExecStartedSchema,
        create(TaskExecStartedSchema, { containerId: c.id, execId, pid: e.pid }),
      );
    });
    return { pid: e.pid };
  }

  /** Records a process's exit when the reaper sees it, and tells the daemon. */
  private watchExit(c: Container, p: ShimProcess): void {
    const pid = p.pid;
    void this.d.wait(pid).then(async ({ status, exitedAt }) => {
      if (!(await p.recordExit(status, exitedAt))) return;
      // The init of a created task that is being deleted: containerd reports no exit for it.
      if (p === c.init && c.deleting) return;
      if (p === c.init) {
        c.oomWatch?.close();
        c.oomWatch = undefined;
        if (c.sharesHostPids) await c.runc.kill(c.id, SIGKILL, true).catch(() => {});
      }
      // The exit is published once the process's output has reached its FIFOs.
      await p.closeIO().catch((e) => this.d.log("warn", `close io of ${p.id}: ${(e as Error).message}`));
      this.d.publisher.publish(
        TOPIC.exit,
        TaskExitSchema,
        create(TaskExitSchema, {
          containerId: c.id,
          id: p.id,
          pid,
          exitStatus: status,
          exitedAt: timestampFromDate(exitedAt),
        }),
      );
    });
  }

  async delete(
    id: string,
    execId: string,
  ): Promise<{ pid: number; exitStatus: number; exitedAt: Timestamp | undefined }> {
    const c = this.container(id);
    const p = c.process(execId);
    if (p === c.init) {
      c.deleting = true;
      try {
        await c.delete();
      } catch (e) {
        c.deleting = false;
        throw e;
      }
      this.containers.delete(id);
      this.d.forget?.(p.pid);
      this.d.publisher.publish(
        TOPIC.delete,
        TaskDeleteSchema,
        create(TaskDeleteSchema, {
          containerId: id,
          pid: p.pid,
          exitStatus: p.exitStatus,
          exitedAt: ts(p.exitedAt),
        }),
      );
    } else {
      const e = c.execs.get(execId)!;
      await e.delete();
      c.execs.delete(execId);
      if (e.pid) this.d.forget?.(e.pid);
    }
    return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: ts(p.exitedAt) };
  }

  state(id: string, execId: string): Omit<StateResponse, "$typeName"> {
    const c = this.container(id);
    const p = c.process(execId);
    return {
      id: p.id,
      bundle: c.bundle,
      pid: p.pid,
      status: STATUS[p.status],
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exitStatus: p.exitStatus,
      exitedAt: ts(p.exitedAt),
      execId,
    };
  }

  async pids(id: string): Promise<ProcessInfo[]> {
    const c = this.container(id);
    const pids = await c.runc.ps(id);
    const execByPid = new Map([...c.execs.values()].filter((e) => e.pid).map((e) => [e.pid, e.id]));
    return pids.map((pid) => {
      const execId = execByPid.get(pid);
      const info: Any | undefined = execId
        ? create(AnySchema, {
            typeUrl: ProcessDetailsSchema.typeName,
            value: toBinary(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId })),
          })
        : undefined;
      return create(ProcessInfoSchema, { pid, info });
    });
  }

  async pause(id: string): Promise<void> {
    const c = this.container(id);
    await c.init.pause();
    this.d.publisher.publish(TOPIC.paused, TaskPausedSchema, create(TaskPausedSchema, { containerId: id }));
  }

  async resume(id: string): Promise<void> {
    const c = this.container(id);
    await c.init.resume();
    this.d.publisher.publish(
      TOPIC.resumed,
      TaskResumedSchema,
      create(TaskResumedSchema, { containerId: id }),
    );
  }

  async kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.container(id);
    const p = c.process(execId);
    if (p === c.init) await c.init.kill(signal, all);
    else c.execs.get(execId)!.kill(signal);
  }

  async exec(r: ExecProcessRequest): Promise<void> {
    const c = this.container(r.id);
    if (!r.spec) throw invalidArgument("exec: process spec required");
    if (c.init.status === "stopped" || c.init.status === "deleted") {
      throw new BunkerError(Kind.FailedPrecondition, `container ${r.id} is not running`);
    }
    c.addExec(
      r.execId,
      { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      r.spec.value,
    );
    this.d.publisher.publish(
      TOPIC.execAdded,
      TaskExecAddedSchema,
      create(TaskExecAddedSchema, { containerId: r.id, execId: r.execId }),
    );
  }

  resizePty(id: string, execId: string, width: number, height: number): void {
    const p = this.container(id).process(execId);
    // A process without a terminal has nothing to resize (as containerd's shim).
    p.terminal?.resize(width, height);
  }

  closeIO(id: string, execId: string, stdin: boolean): void {
    const p = this.container(id).process(execId);
    if (!stdin) return;
    p.io?.closeStdin();
    p.terminal?.closeStdin();
  }

  async update(r: UpdateTaskRequest): Promise<void> {
    const c = this.container(r.id);
    if (!r.resources) throw invalidArgument("update: resources required");
    // The daemon sends the OCI LinuxResources as JSON in the Any (containerd's typeurl).
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(r.resources.value));
    } catch (e) {
      throw invalidArgument(
        `update: resources are not JSON (${r.resources.typeUrl}): ${(e as Error).message}`,
      );
    }
    await c.runc.update(r.id, new TextEncoder().encode(JSON.stringify(json)));
  }

  async wait(id: string, execId: string): Promise<{ exitStatus: number; exitedAt: Timestamp | undefined }> {
    const p = this.container(id).process(execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: ts(p.exitedAt) };
  }

  async stats(id: string): Promise<Any> {
    const c = this.container(id);
    if (!this.d.readStats) throw notImplemented("stats");
    if (!c.init.pid || !c.init.running) {
      throw new BunkerError(Kind.FailedPrecondition, `container ${id} is not running`);
    }
    const s = await this.d.readStats(c.init.pid);
    return create(AnySchema, { typeUrl: s.typeUrl, value: s.value });
  }

  checkpoint(id: string): never {
    this.container(id);
    throw notImplemented("checkpoint: criu is not installed on this host");
  }

  connect(id: string): { shimPid: number; taskPid: number; version: string } {
    const c = this.containers.get(id);
    return { shimPid: process.pid, taskPid: c?.init.pid ?? 0, version: this.d.version };
  }

  /** Exits the shim once no container is left (or at once with `now`), as containerd's shim. */
  shutdown(now: boolean): void {
    if (!now && (this.containers.size > 0 || this.creating.size > 0)) return;
    this.d.shutdown();
  }
}

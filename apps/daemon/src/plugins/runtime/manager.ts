/** The v2 task manager (containerd's runtime/v2 TaskManager, release 1.6): one shim per task,
 *  started in the task's bundle, reached over ttrpc, and found again from the state dir when the
 *  daemon restarts.
 *
 *  Who publishes what (so nothing is doubled): the shim publishes every /tasks/* event of a
 *  task it serves (create, start, exec-added, exec-started, paused, resumed, oom, exit, delete)
 *  through the daemon's ttrpc Events/Forward. The daemon publishes only for a shim that died
 *  under it: /tasks/exit and /tasks/delete with the status the shim binary's `delete` reports
 *  (255 when even that fails), as containerd's cleanupAfterDeadShim does. Unlike containerd 1.6,
 *  which stays silent about shims found dead at boot, we publish those exits too, so an exit that
 *  happened while the daemon was down is reported (1 s after boot, so that reconnecting
 *  subscribers see it). A task whose shim is alive but whose process exited while we were down
 *  needs nothing from us: containerd-shim-runc-v2 retries its /tasks/exit 1, 3, 6, 10 and 15 s
 *  after the exit and delivers it once we serve again (an exit older than that is lost to
 *  subscribers, as with containerd), and State reports it STOPPED with its status. */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  alreadyExists,
  BunkerError,
  Code,
  fromStatus,
  Kind,
  type Logger,
  notFound,
  type Publisher,
  toBunkerError,
} from "@bunkerd/plugin-api";
import { TaskDeleteSchema, TaskExitSchema } from "@bunkerd/proto/containerd/events/task_pb.ts";
import type { CreateTaskRequestSchema } from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import type { AnyValue } from "../../services/containers/types.ts";
import {
  deleteShimBinary,
  type Exit,
  resolveShimBinary,
  type ShimCommandConfig,
  startShimBinary,
} from "./binary.ts";
import { type Bundle, deleteBundle, loadBundle, newBundle, SHIM_BINARY_PATH } from "./bundle.ts";
import { ShimConnection } from "./shim.ts";
import { openShimLog, type ShimLog } from "./shim-log.ts";

export type { Exit };

export interface IO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface CreateOpts {
  /** The container's spec: the bytes of its Any value, written as config.json. */
  spec: Uint8Array;
  rootfs: MessageInitShape<typeof CreateTaskRequestSchema>["rootfs"];
  io: IO;
  checkpoint?: string;
  /** Runtime name or path. */
  runtime: string;
  runtimeOptions?: AnyValue;
  taskOptions?: AnyValue;
}

export interface ManagerOptions {
  /** <root>/io.containerd.runtime.v2.task: work dirs. */
  root: string;
  /** <state>/io.containerd.runtime.v2.task: bundles. */
  state: string;
  address: string;
  ttrpcAddress: string;
  publishBinary: string;
  schedCore?: boolean;
  events: Publisher;
  log: Logger;
  /** Where shim logs go (the daemon's stderr, as containerd copies them). */
  shimLogSink?: (chunk: Uint8Array) => void;
  /** The runtime of a container, for bundles with no shim-binary-path (made by older daemons). */
  runtimeOf?: (namespace: string, id: string) => Promise<string | undefined>;
  /** How long after boot the exits of shims found dead are published (default 1 s). */
  deadShimDelayMs?: number;
}

const CLEANUP_TIMEOUT_MS = 5_000;
const LOAD_TIMEOUT_MS = 5_000;
const SHUTDOWN_TIMEOUT_MS = 3_000;
const DEAD_SHIM_DELAY_MS = 1_000;

/** A task served by a live shim. */
export class RuntimeTask {
  /** Set when we close the connection ourselves: the close is then no sign of a dead shim. */
  closing = false;

  constructor(
    readonly conn: ShimConnection,
    readonly runtime: string,
    private readonly shimLog: ShimLog,
  ) {}

  get id(): string {
    return this.conn.id;
  }
  get namespace(): string {
    return this.conn.namespace;
  }
  get bundle(): Bundle {
    return this.conn.bundle;
  }

  /** The init process's pid, as the shim reports it (containerd's PID() is a Connect call). */
  async pid(): Promise<number> {
    return (await this.conn.call("connect", { id: this.id })).taskPid;
  }

  release(): void {
    this.closing = true;
    this.conn.close();
    this.shimLog.close();
  }
}

const keyOf = (namespace: string, id: string) => `${namespace}/${id}`;

export class TaskManager {
  private readonly tasks = new Map<string, RuntimeTask>();
  /** Tasks being created: their ids are taken until create finishes or fails. */
  private readonly creating = new Set<string>();
  private readonly deadAtBoot: { bundle: Bundle; runtime: string }[] = [];

  constructor(private readonly o: ManagerOptions) {}

  get(namespace: string, id: string): RuntimeTask | undefined {
    return this.tasks.get(keyOf(namespace, id));
  }

  /** Tasks of one namespace (or all), in creation order. */
  list(namespace?: string): RuntimeTask[] {
    return [...this.tasks.values()].filter((t) => namespace === undefined || t.namespace === namespace);
  }

  async create(namespace: string, id: string, opts: CreateOpts): Promise<{ task: RuntimeTask; pid: number }> {
    const key = keyOf(namespace, id);
    if (this.tasks.has(key) || this.creating.has(key)) throw alreadyExists(`task ${id}`);
    this.creating.add(key);
    let bundle: Bundle | undefined;
    let task: RuntimeTask | undefined;
    try {
      bundle = newBundle(this.o.root, this.o.state, namespace, id, opts.spec);
      // containerd hands the shim the task's options when the client sent some, else the container's.
      const topts = opts.taskOptions?.value.length ? opts.taskOptions : opts.runtimeOptions;
      task = await this.startShim(bundle, opts.runtime, topts);
      const res = await createInShim(task, {
        id,
        bundle: bundle.path,
        rootfs: opts.rootfs,
        terminal: opts.io.terminal,
        stdin: opts.io.stdin,
        stdout: opts.io.stdout,
        stderr: opts.io.stderr,
        checkpoint: opts.checkpoint ?? "",
        options: opts.taskOptions,
      });
      this.tasks.set(key, task);
      this.watch(task);
      return { task, pid: res.pid };
    } catch (e) {
      if (task) await this.teardown(task).catch(() => {});
      else if (bundle) {
        try {
          deleteBundle(bundle);
        } catch {}
      }
      throw toBunkerError(e);
    } finally {
      this.creating.delete(key);
    }
  }

  /** Deletes the task's init process in the shim, shuts the shim down and removes the bundle. */
  async delete(namespace: string, id: string): Promise<Exit> {
    const task = this.get(namespace, id);
    if (!task) throw notFound(`task ${id}`);
    if (!task.conn.open) return this.cleanupDeadShim(task.bundle, task.runtime, task);
    const res = await task.conn.call("delete", { id });
    // The shim published /tasks/exit and /tasks/delete: the record goes before the connection
    // closes, so the close is not taken for a dead shim.
    this.tasks.delete(keyOf(namespace, id));
    await this.teardown(task);
    return {
      pid: res.pid,
      status: res.exitStatus,
      exitedAt: res.exitedAt ? tsDate(res.exitedAt) : new Date(0),
    };
  }

  /** Finds the bundles left in the state dir: live shims are reconnected, dead ones cleaned up
   *  (and their exits published). Work dirs without a bundle are removed. */
  async loadExisting(): Promise<void> {
    for (const namespace of dirs(this.o.state)) {
      for (const id of dirs(join(this.o.state, namespace))) {
        if (id.startsWith(".")) {
          // An atomic delete that did not finish.
          rmSync(join(this.o.state, namespace, id), { recursive: true, force: true });
          continue;
        }
        try {
          const dead = await this.loadOne(loadBundle(this.o.state, namespace, id));
          if (dead) this.deadAtBoot.push(dead);
        } catch (e) {
          this.o.log.error("failed to load task", { namespace, id, error: (e as Error).message });
        }
      }
    }
    for (const namespace of dirs(this.o.root)) {
      for (const id of dirs(join(this.o.root, namespace))) {
        if (!existsSync(join(this.o.state, namespace, id))) {
          rmSync(join(this.o.root, namespace, id), { recursive: true, force: true });
        }
      }
    }
    // Exits of shims that died while we were down are published a moment after boot, so that
    // subscribers reconnecting to the restarted daemon (clients, CRI) can see them.
    const dead = this.deadAtBoot.splice(0);
    if (dead.length > 0) {
      setTimeout(() => {
        for (const d of dead) {
          this.cleanupDeadShim(d.bundle, d.runtime).catch((e) =>
            this.o.log.error("cleanup after shim failed", { id: d.bundle.id, error: (e as Error).message }),
          );
        }
      }, this.o.deadShimDelayMs ?? DEAD_SHIM_DELAY_MS);
    }
  }

  /** Reconnects the bundle's shim; returns what to clean up when the shim is gone. */
  private async loadOne(bundle: Bundle): Promise<{ bundle: Bundle; runtime: string } | undefined> {
    if (readdirSync(bundle.path).length === 0) {
      deleteBundle(bundle);
      return undefined;
    }
    const runtime = await this.runtimeOfBundle(bundle);
    let shimLog: ShimLog | undefined;
    let conn: ShimConnection | undefined;
    try {
      const address = readFileSync(join(bundle.path, "address"), "utf8").trim();
      if (address === "") throw new Error("no shim address");
      shimLog = openShimLog(bundle.path, this.sink);
      conn = await ShimConnection.connect(bundle, address.replace(/^unix:\/\//, ""));
      // A socket that accepts is not enough: the shim must answer.
      await conn.call("connect", { id: bundle.id }, { timeoutMs: LOAD_TIMEOUT_MS });
    } catch (e) {
      conn?.close();
      shimLog?.close();
      this.o.log.info("shim of task is gone; cleaning up", {
        namespace: bundle.namespace,
        id: bundle.id,
        reason: (e as Error).message,
      });
      if (runtime === undefined) {
        deleteBundle(bundle);
        return undefined;
      }
      return { bundle, runtime };
    }
    const task = new RuntimeTask(conn, runtime ?? "", shimLog);
    this.tasks.set(keyOf(bundle.namespace, bundle.id), task);
    this.watch(task);
    this.o.log.info("reconnected to shim", { namespace: bundle.namespace, id: bundle.id });
    return undefined;
  }

  private async runtimeOfBundle(bundle: Bundle): Promise<string | undefined> {
    try {
      const path = readFileSync(join(bundle.path, SHIM_BINARY_PATH), "utf8").trim();
      if (path !== "") return path;
    } catch {}
    return this.o.runtimeOf?.(bundle.namespace, bundle.id).catch(() => undefined);
  }

  private readonly sink = (chunk: Uint8Array) => {
    if (this.o.shimLogSink) this.o.shimLogSink(chunk);
    else process.stderr.write(chunk);
  };

  private commandConfig(bundle: Bundle, runtime: string): ShimCommandConfig {
    return {
      runtime,
      namespace: bundle.namespace,
      address: this.o.address,
      ttrpcAddress: this.o.ttrpcAddress,
      publishBinary: this.o.publishBinary,
      bundle: bundle.path,
      schedCore: this.o.schedCore,
    };
  }

  private async startShim(bundle: Bundle, runtime: string, options?: AnyValue): Promise<RuntimeTask> {
    const cfg = this.commandConfig(bundle, runtime);
    let binary: string;
    try {
      binary = resolveShimBinary(runtime, this.o.publishBinary);
    } catch (e) {
      throw new BunkerError(
        Kind.Unknown,
        `failed to start shim: failed to resolve runtime path: ${(e as Error).message}`,
      );
    }
    // The fifo must have a reader before the shim opens it, or the shim blocks.
    const shimLog = openShimLog(bundle.path, this.sink);
    try {
      const stdin = options
        ? toBinary(AnySchema, create(AnySchema, { typeUrl: options.typeUrl, value: options.value }))
        : undefined;
      let address: string;
      try {
        address = await startShimBinary(cfg, binary, bundle.id, { options: stdin });
      } catch (e) {
        throw new BunkerError(Kind.Unknown, `failed to start shim: start failed: ${(e as Error).message}`);
      }
      // Read back when the daemon restarts: which binary can `delete` this bundle.
      writeFileSync(join(bundle.path, SHIM_BINARY_PATH), binary, { mode: 0o600 });
      // containerd's shims write `address` themselves; one that does not still gets found again.
      if (!existsSync(join(bundle.path, "address"))) {
        writeFileSync(join(bundle.path, "address"), `unix://${address}`, { mode: 0o644 });
      }
      let conn: ShimConnection;
      try {
        conn = await ShimConnection.connect(bundle, address);
      } catch (e) {
        // A shim we started but cannot reach must not be left running.
        await deleteShimBinary(cfg, bundle.id, { timeoutMs: CLEANUP_TIMEOUT_MS }).catch(() => {});
        throw e;
      }
      return new RuntimeTask(conn, binary, shimLog);
    } catch (e) {
      shimLog.close();
      throw e;
    }
  }

  /** When the connection drops without us closing it, the shim died: clean up after it. */
  private watch(task: RuntimeTask): void {
    task.conn.closed.then(() => {
      if (task.closing) return;
      this.o.log.warn("shim disconnected; cleaning up", { namespace: task.namespace, id: task.id });
      this.cleanupDeadShim(task.bundle, task.runtime, task).catch((e) =>
        this.o.log.error("cleanup after shim failed", { id: task.id, error: (e as Error).message }),
      );
    });
  }

  /** Shutdown (the shim exits), close, remove the bundle. */
  private async teardown(task: RuntimeTask): Promise<void> {
    task.closing = true;
    try {
      await task.conn.call("shutdown", { id: task.id }, { timeoutMs: SHUTDOWN_TIMEOUT_MS });
    } catch (e) {
      // The shim closes the connection as it exits; anything else is worth a line in the log.
      const code = (e as { code?: number }).code;
      if (code !== Code.Unavailable) {
        this.o.log.debug("shim shutdown", { id: task.id, error: (e as Error).message });
      }
    }
    // Not waiting for the shim to be gone, as containerd does not: it exits on its own.
    task.release();
    deleteBundle(task.bundle);
  }

  /** containerd's cleanupAfterDeadShim: `<shim> delete` (which kills and deletes the container),
   *  the bundle removed, and /tasks/exit + /tasks/delete published for a task we knew or found. */
  private async cleanupDeadShim(bundle: Bundle, runtime: string, task?: RuntimeTask): Promise<Exit> {
    task?.release();
    let exit: Exit;
    try {
      const r = await deleteShimBinary(this.commandConfig(bundle, runtime), bundle.id, {
        timeoutMs: CLEANUP_TIMEOUT_MS,
      });
      if (r.warnings.trim() !== "")
        this.o.log.warn("cleanup warnings", { id: bundle.id, warnings: r.warnings.trim() });
      exit = r.exit;
    } catch (e) {
      this.o.log.warn("failed to clean up after shim disconnected", {
        id: bundle.id,
        error: (e as Error).message,
      });
      exit = { pid: 0, status: 255, exitedAt: new Date() };
    }
    try {
      deleteBundle(bundle);
    } catch (e) {
      this.o.log.error("failed to remove bundle", { id: bundle.id, error: (e as Error).message });
    }
    const key = keyOf(bundle.namespace, bundle.id);
    if (task && this.tasks.get(key) !== task) return exit; // deleted meanwhile: the shim published
    this.tasks.delete(key);
    await this.publishExit(bundle, exit);
    return exit;
  }

  private async publishExit(bundle: Bundle, exit: Exit): Promise<void> {
    const exitedAt = timestampFromDate(exit.exitedAt);
    const { namespace, id } = bundle;
    const send = (topic: string, typeUrl: string, value: Uint8Array) =>
      this.o.events
        .publish(namespace, topic, { typeUrl, value })
        .catch((e) => this.o.log.warn("publish failed", { topic, error: (e as Error).message }));
    await send(
      "/tasks/exit",
      TaskExitSchema.typeName,
      toBinary(
        TaskExitSchema,
        create(TaskExitSchema, { containerId: id, id, pid: exit.pid, exitStatus: exit.status, exitedAt }),
      ),
    );
    await send(
      "/tasks/delete",
      TaskDeleteSchema.typeName,
      toBinary(
        TaskDeleteSchema,
        create(TaskDeleteSchema, { containerId: id, pid: exit.pid, exitStatus: exit.status, exitedAt }),
      ),
    );
  }
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path).filter((n) => {
      try {
        return statSync(join(path, n)).isDirectory();
      } catch {
        return false;
      }
    });
  } catch {
    return [];
  }
}

const tsDate = (t: { seconds: bigint; nanos: number }) =>
  new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6));

/** The shim's Create; its error keeps its code, prefixed as containerd prefixes it. */
async function createInShim(
  task: RuntimeTask,
  req: MessageInitShape<typeof CreateTaskRequestSchema>,
): Promise<{ pid: number }> {
  try {
    return await task.conn.call("create", req);
  } catch (e) {
    const b = toBunkerError(e);
    throw fromStatus(b.code, `failed to create shim task: ${b.message}`);
  }
}

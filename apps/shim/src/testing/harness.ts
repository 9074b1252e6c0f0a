/** Drives a real shim binary in tests: `start` it in a bundle, speak the task API to it over
 *  ttrpc, collect the events it forwards (a ttrpc Events server standing in for the daemon), and
 *  clean up whatever a failed test leaves (runc containers, mounts, the shim process, by pid). */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { anyUnpack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";
import * as taskEvents from "@bunkerd/proto/containerd/events/task_pb.ts";
import * as shimApi from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { ForwardRequestSchema } from "@bunkerd/proto/containerd/services/ttrpc/events/v1/events_pb.ts";
import { unmountUnder } from "@bunkerd/snapshotters/mount";
import { createTtrpcServer, TtrpcClient, type TtrpcServer } from "@bunkerd/ttrpc";

export const REPO = resolve(import.meta.dir, "../../../..");
/** SHIM_DIR runs the tests against another build, e.g. one compiled with `bun build --compile`. */
export const SHIM_BIN = join(process.env.SHIM_DIR || join(REPO, "bin"), "containerd-shim-bunker-v2");
export const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/runc") && existsSync("/bin/busybox");

const registry = createRegistry(
  ...Object.values(taskEvents as Record<string, unknown>).filter(
    (v): v is DescMessage => (v as DescMessage | undefined)?.kind === "message",
  ),
);

export interface ReceivedEvent {
  topic: string;
  namespace: string;
  event: Record<string, unknown> & { $typeName: string };
}

/** A stand-in for the daemon's ttrpc Events service. */
export class EventSink {
  readonly events: ReceivedEvent[] = [];
  private waiters: (() => void)[] = [];
  private constructor(
    readonly server: TtrpcServer,
    readonly address: string,
  ) {}

  static async listen(address: string): Promise<EventSink> {
    let sink: EventSink | undefined;
    const server = createTtrpcServer({
      dispatch: async (service, method, payload) => {
        if (service !== "containerd.services.events.ttrpc.v1.Events" || method !== "Forward") {
          throw new Error(`unexpected ${service}/${method}`);
        }
        const req = fromBinary(ForwardRequestSchema, payload);
        const env = req.envelope!;
        const event = anyUnpack(env.event!, registry) as ReceivedEvent["event"];
        sink!.events.push({ topic: env.topic, namespace: env.namespace, event });
        for (const w of sink!.waiters.splice(0)) w();
        return toBinary(EmptySchema, create(EmptySchema));
      },
    });
    await server.listen(address);
    sink = new EventSink(server, address);
    return sink;
  }

  topics(filter?: (e: ReceivedEvent) => boolean): string[] {
    return this.events.filter(filter ?? (() => true)).map((e) => e.topic);
  }

  /** Waits until an event matches, or fails after timeoutMs. */
  async waitFor(pred: (e: ReceivedEvent) => boolean, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no matching event; got ${JSON.stringify(this.topics())}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), Bun.sleep(left)]);
    }
  }

  close(): Promise<void> {
    return this.server.close({ timeoutMs: 100 });
  }
}

type Api = typeof shimApi;

/** The task API as typed calls. */
export class TaskClient {
  private constructor(readonly client: TtrpcClient) {}

  static async connect(address: string): Promise<TaskClient> {
    return new TaskClient(await TtrpcClient.connect(address.replace(/^unix:\/\//, "")));
  }

  async call<I extends DescMessage, O extends DescMessage>(
    method: string,
    input: I,
    output: O,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const out = await this.client.call(
      "containerd.task.v2.Task",
      method,
      toBinary(input, create(input, req)),
      { timeoutMs: 30_000 },
    );
    return fromBinary(output, out);
  }

  create = (r: MessageInitShape<Api["CreateTaskRequestSchema"]>) =>
    this.call("Create", shimApi.CreateTaskRequestSchema, shimApi.CreateTaskResponseSchema, r);
  start = (id: string, execId = "") =>
    this.call("Start", shimApi.StartRequestSchema, shimApi.StartResponseSchema, { id, execId });
  state = (id: string, execId = "") =>
    this.call("State", shimApi.StateRequestSchema, shimApi.StateResponseSchema, { id, execId });
  wait = (id: string, execId = "") =>
    this.call("Wait", shimApi.WaitRequestSchema, shimApi.WaitResponseSchema, { id, execId });
  delete = (id: string, execId = "") =>
    this.call("Delete", shimApi.DeleteRequestSchema, shimApi.DeleteResponseSchema, { id, execId });
  kill = (id: string, signal: number, o: { execId?: string; all?: boolean } = {}) =>
    this.call("Kill", shimApi.KillRequestSchema, EmptySchema, { id, signal, ...o });
  exec = (r: MessageInitShape<Api["ExecProcessRequestSchema"]>) =>
    this.call("Exec", shimApi.ExecProcessRequestSchema, EmptySchema, r);
  pids = (id: string) => this.call("Pids", shimApi.PidsRequestSchema, shimApi.PidsResponseSchema, { id });
  pause = (id: string) => this.call("Pause", shimApi.PauseRequestSchema, EmptySchema, { id });
  resume = (id: string) => this.call("Resume", shimApi.ResumeRequestSchema, EmptySchema, { id });
  closeIO = (id: string, execId = "") =>
    this.call("CloseIO", shimApi.CloseIORequestSchema, EmptySchema, { id, execId, stdin: true });
  connect = (id: string) =>
    this.call("Connect", shimApi.ConnectRequestSchema, shimApi.ConnectResponseSchema, { id });
  shutdown = (id: string, now = false) =>
    this.call("Shutdown", shimApi.ShutdownRequestSchema, EmptySchema, { id, now });
  stats = (id: string) => this.call("Stats", shimApi.StatsRequestSchema, shimApi.StatsResponseSchema, { id });
  update = (r: MessageInitShape<Api["UpdateTaskRequestSchema"]>) =>
    this.call("Update", shimApi.UpdateTaskRequestSchema, EmptySchema, r);
  checkpoint = (id: string) =>
    this.call("Checkpoint", shimApi.CheckpointTaskRequestSchema, EmptySchema, { id, path: "/tmp/x" });

  close(): void {
    this.client.close();
  }
}

export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs the shim binary with an action, the way the daemon does. */
export async function runShim(
  args: string[],
  o: { cwd: string; env?: Record<string, string>; stdin?: Uint8Array },
): Promise<RunResult> {
  const p = Bun.spawn([SHIM_BIN, ...args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdin: o.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).bytes(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

/** Collects everything a FIFO gets until its writers close (a reader like ctr's). */
export function readFifo(path: string): Promise<string> {
  const p = Bun.spawn(["cat", path], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
  return new Response(p.stdout).text();
}

/** The shim process behind a socket address, from /proc (for cleanup and PSS). */
export function shimPidOf(socket: string): number | undefined {
  const out = Bun.spawnSync(["ss", "-xlpn"], { stdout: "pipe" }).stdout.toString();
  for (const line of out.split("\n")) {
    if (!line.includes(socket)) continue;
    const m = /pid=(\d+)/.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}

export function pssKiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

/** Removes runc state, mounts and the temp dir a test made; kills a shim left behind by pid. */
export async function cleanup(o: { dir: string; runcRoot?: string; shimPid?: number }): Promise<void> {
  if (o.shimPid) {
    try {
      process.kill(o.shimPid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  if (o.runcRoot && existsSync(o.runcRoot)) {
    const list = Bun.spawnSync(["runc", "--root", o.runcRoot, "list", "-q"], { stdout: "pipe" });
    for (const id of list.stdout.toString().split("\n").filter(Boolean)) {
      Bun.spawnSync(["runc", "--root", o.runcRoot, "delete", "--force", id]);
    }
  }
  await unmountUnder(o.dir).catch(() => {});
  rmSync(o.dir, { recursive: true, force: true });
}

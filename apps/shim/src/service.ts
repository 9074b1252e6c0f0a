/** `containerd.task.v2.Task` over ttrpc: each method decodes its request, calls the task
 *  service and encodes the answer. No behaviour lives here. Unknown methods and services are
 *  NotImplemented (ttrpc code 12), as Go ttrpc answers. */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidArgument, notImplemented } from "@bunkerd/plugin-api";
import {
  CheckpointTaskRequestSchema,
  CloseIORequestSchema,
  ConnectRequestSchema,
  ConnectResponseSchema,
  CreateTaskRequestSchema,
  CreateTaskResponseSchema,
  DeleteRequestSchema,
  DeleteResponseSchema,
  ExecProcessRequestSchema,
  KillRequestSchema,
  PauseRequestSchema,
  PidsRequestSchema,
  PidsResponseSchema,
  ResizePtyRequestSchema,
  ResumeRequestSchema,
  ShutdownRequestSchema,
  StartRequestSchema,
  StartResponseSchema,
  StateRequestSchema,
  StateResponseSchema,
  StatsRequestSchema,
  StatsResponseSchema,
  UpdateTaskRequestSchema,
  WaitRequestSchema,
  WaitResponseSchema,
} from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import type { TtrpcDispatch } from "@bunkerd/ttrpc";
import type { TaskService } from "./tasks.ts";

export const TASK_SERVICE = "containerd.task.v2.Task";

type Handler = (payload: Uint8Array) => Promise<Uint8Array>;

function method<I extends DescMessage, O extends DescMessage>(
  input: I,
  output: O,
  fn: (req: MessageShape<I>) => Promise<Omit<MessageShape<O>, "$typeName"> | undefined> | Promise<void>,
): Handler {
  return async (payload) => {
    let req: MessageShape<I>;
    try {
      req = fromBinary(input, payload);
    } catch (e) {
      throw invalidArgument(`decode ${input.typeName}: ${(e as Error).message}`);
    }
    const res = (await fn(req)) ?? {};
    return toBinary(output, create(output, res as never));
  };
}

export function taskDispatch(t: TaskService): TtrpcDispatch {
  const E = EmptySchema;
  const handlers: Record<string, Handler> = {
    State: method(StateRequestSchema, StateResponseSchema, async (r) => t.state(r.id, r.execId)),
    Create: method(CreateTaskRequestSchema, CreateTaskResponseSchema, (r) => t.create(r)),
    Start: method(StartRequestSchema, StartResponseSchema, (r) => t.start(r.id, r.execId)),
    Delete: method(DeleteRequestSchema, DeleteResponseSchema, (r) => t.delete(r.id, r.execId)),
    Pids: method(PidsRequestSchema, PidsResponseSchema, async (r) => ({ processes: await t.pids(r.id) })),
    Pause: method(PauseRequestSchema, E, (r) => t.pause(r.id)),
    Resume: method(ResumeRequestSchema, E, (r) => t.resume(r.id)),
    Checkpoint: method(CheckpointTaskRequestSchema, E, async (r) => t.checkpoint(r.id)),
    Kill: method(KillRequestSchema, E, (r) => t.kill(r.id, r.execId, r.signal, r.all)),
    Exec: method(ExecProcessRequestSchema, E, (r) => t.exec(r)),
    ResizePty: method(ResizePtyRequestSchema, E, async (r) => t.resizePty(r.id, r.execId, r.width, r.height)),
    CloseIO: method(CloseIORequestSchema, E, async (r) => t.closeIO(r.id, r.execId, r.stdin)),
    Update: method(UpdateTaskRequestSchema, E, (r) => t.update(r)),
    Wait: method(WaitRequestSchema, WaitResponseSchema, (r) => t.wait(r.id, r.execId)),
    Stats: method(StatsRequestSchema, StatsResponseSchema, async (r) => ({ stats: await t.stats(r.id) })),
    Connect: method(ConnectRequestSchema, ConnectResponseSchema, async (r) => t.connect(r.id)),
    Shutdown: method(ShutdownRequestSchema, E, async (r) => t.shutdown(r.now)),
  };
  return async (service, name, payload) => {
    const h = service === TASK_SERVICE ? handlers[name] : undefined;
    if (!h) throw notImplemented(`${service}/${name}`);
    return h(payload);
  };
}

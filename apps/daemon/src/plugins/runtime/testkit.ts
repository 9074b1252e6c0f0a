/** A fake shim for the runtime's unit tests: a real ttrpc server speaking containerd.task.v2.Task
 *  from memory, and a real executable (`containerd-shim-fake-v2`, a shell script) that `start`
 *  answers with the server's address and `delete` answers with a prepared DeleteResponse. The
 *  script records its argv, cwd, stdin and environment, so tests check what the daemon ran. */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, fromStatus } from "@bunkerd/plugin-api";
import { DeleteResponseSchema, Task } from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import { createTtrpcServer, type TtrpcServer } from "@bunkerd/ttrpc";

export interface FakeProcess {
  pid: number;
  status: Status;
  exitStatus: number;
}

export interface FakeShim {
  /** Directory holding the binary (put it on PATH or pass it as the runtime path). */
  binDir: string;
  binary: string;
  socket: string;
  /** RPCs received, as [method, request]. */
  calls: [string, Record<string, unknown>][];
  /** Processes by "<id>/<execId>" ("<id>/" for the init). */
  processes: Map<string, FakeProcess>;
  /** Makes the next call of `method` fail with this code and message. */
  failNext(method: string, code: number, message: string): void;
  /** What the script was run with, one record per run. */
  runs(): { argv: string[]; cwd: string; stdin: string; env: Record<string, string> }[];
  /** The exit `<shim> delete` reports. */
  setDeleteResponse(r: { pid: number; exitStatus: number; exitedAt: Date }): void;
  /** Stops serving, as a shim that exits or dies. */
  kill(): Promise<void>;
  /** Serves again (a shim found alive after a daemon restart). */
  serve(): Promise<void>;
}

type Handler = (req: Record<string, unknown>) => Record<string, unknown>;

export async function fakeShim(dir: string, name = "fake"): Promise<FakeShim> {
  const binDir = join(dir, "bin");
  mkdirSync(binDir, { recursive: true });
  const socket = join(dir, `${name}.sock`);
  const runsFile = join(dir, `${name}.runs`);
  const deleteFile = join(dir, `${name}.delete.pb`);
  const binary = join(binDir, `containerd-shim-${name}-v2`);
  // One JSON-ish record per run: argv, cwd, env of interest, stdin as hex.
  writeFileSync(
    binary,
    `#!/bin/sh
stdin=$(od -An -v -tx1 | tr -d ' \\n')
{ printf '%s\\n' "ARGV $*"; printf '%s\\n' "CWD $(pwd)"; printf '%s\\n' "STDIN $stdin";
  printf '%s\\n' "ENV GOMAXPROCS=$GOMAXPROCS TTRPC_ADDRESS=$TTRPC_ADDRESS SCHED_CORE=$SCHED_CORE"; printf '%s\\n' "END"; } >> ${runsFile}
for a in "$@"; do last="$a"; done
if [ "$last" = start ]; then echo "unix://${socket}"; exit 0; fi
if [ "$last" = delete ]; then cat ${deleteFile}; exit 0; fi
echo "unknown action $last" >&2; exit 1
`,
  );
  chmodSync(binary, 0o755);
  writeFileSync(deleteFile, new Uint8Array());

  const calls: FakeShim["calls"] = [];
  const processes = new Map<string, FakeProcess>();
  const failures = new Map<string, { code: number; message: string }>();
  let nextPid = 1000;
  let server: TtrpcServer | undefined;

  const proc = (req: Record<string, unknown>) => {
    const p = processes.get(`${req.id}/${req.execId ?? ""}`);
    if (!p) throw fromStatus(Code.NotFound, `process ${req.execId || req.id} does not exist`);
    return p;
  };
  const handlers: Record<string, Handler> = {
    Create(req) {
      const p = { pid: nextPid++, status: Status.CREATED, exitStatus: 0 };
      processes.set(`${req.id}/`, p);
      return { pid: p.pid };
    },
    Start(req) {
      const p = proc(req);
      p.status = Status.RUNNING;
      return { pid: p.pid };
    },
    State(req) {
      const p = proc(req);
      return { id: req.execId || req.id, pid: p.pid, status: p.status, exitStatus: p.exitStatus };
    },
    Delete(req) {
      const p = proc(req);
      processes.delete(`${req.id}/${req.execId ?? ""}`);
      return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestampFromDate(new Date()) };
    },
    Kill(req) {
      const p = proc(req);
      p.status = Status.STOPPED;
      p.exitStatus = 128 + Number(req.signal);
      return {};
    },
    Exec(req) {
      proc({ id: req.id });
      processes.set(`${req.id}/${req.execId}`, { pid: nextPid++, status: Status.CREATED, exitStatus: 0 });
      return {};
    },
    Wait(req) {
      const p = proc(req);
      return { exitStatus: p.exitStatus, exitedAt: timestampFromDate(new Date()) };
    },
    Connect(req) {
      return { shimPid: process.pid, taskPid: processes.get(`${req.id}/`)?.pid ?? 0 };
    },
    Pids(req) {
      const p = proc(req);
      return { processes: [{ pid: p.pid }] };
    },
    Stats() {
      return { stats: { typeUrl: "io.containerd.cgroups.v1.Metrics", value: new Uint8Array([8, 1]) } };
    },
    Shutdown() {
      // Answer first, then go away as a real shim does.
      setTimeout(() => void shim.kill(), 5);
      return {};
    },
  };
  for (const m of ["Pause", "Resume", "Checkpoint", "ResizePty", "CloseIO", "Update"])
    handlers[m] = () => ({});

  const shim: FakeShim = {
    binDir,
    binary,
    socket,
    calls,
    processes,
    failNext(method, code, message) {
      failures.set(method, { code, message });
    },
    runs() {
      let text = "";
      try {
        text = readFileSync(runsFile, "utf8");
      } catch {}
      return text
        .split("END\n")
        .filter((r) => r.trim() !== "")
        .map((r) => {
          const line = (k: string) =>
            r
              .split("\n")
              .find((l) => l.startsWith(`${k} `))
              ?.slice(k.length + 1) ?? "";
          const env: Record<string, string> = {};
          for (const kv of line("ENV").split(" ")) {
            const [k, v] = kv.split("=");
            if (k) env[k] = v ?? "";
          }
          return { argv: line("ARGV").split(" "), cwd: line("CWD"), stdin: line("STDIN"), env };
        });
    },
    setDeleteResponse(r) {
      writeFileSync(
        deleteFile,
        toBinary(
          DeleteResponseSchema,
          create(DeleteResponseSchema, {
            pid: r.pid,
            exitStatus: r.exitStatus,
            exitedAt: timestampFromDate(r.exitedAt),
          }),
        ),
      );
    },
    async kill() {
      const s = server;
      server = undefined;
      await s?.close({ timeoutMs: 100 });
    },
    async serve() {
      if (server) return;
      server = createTtrpcServer({
        async dispatch(service, method, payload) {
          const m = Task.methods.find((x) => x.name === method);
          if (service !== Task.typeName || !m) throw fromStatus(Code.Unimplemented, `${service}/${method}`);
          const req = fromBinary(m.input as DescMessage, payload) as unknown as Record<string, unknown>;
          calls.push([method, req]);
          const fail = failures.get(method);
          if (fail) {
            failures.delete(method);
            throw fromStatus(fail.code, fail.message);
          }
          const h = handlers[method];
          if (!h) throw fromStatus(Code.Unimplemented, method);
          return toBinary(m.output as DescMessage, create(m.output as DescMessage, h(req) as never));
        },
      });
      await server.listen(socket);
    },
  };
  await shim.serve();
  return shim;
}

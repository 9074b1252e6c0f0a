/** `bctr tasks exec --exec-id ID [flags] CONTAINER CMD [ARG...]`: another process in the task,
 *  its spec the container's process with the given args, terminal, cwd, user and env; waits
 *  and exits with its code unless detached. */
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { UsageError } from "../../cli/errors.ts";
import {
  type Console,
  createFifoIO,
  currentConsole,
  handleConsoleResize,
  logURIIO,
  type TaskIO,
} from "../../cio/index.ts";
import {
  directoryFiles,
  lazyRootfs,
  processBytes,
  type Spec,
  withAdditionalGIDs,
  withEnv,
  withUser,
} from "../../oci/index.ts";
import { cittyArgs, type FlagTable, parseFlags } from "../run/flags.ts";
import { exitWith, forwardSignals, loadContainer, waitExit } from "./task.ts";

export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";

const execFlags = {
  cwd: { kind: "string", description: "working directory of the new process" },
  tty: { kind: "bool", alias: "t", description: "allocate a TTY for the container" },
  detach: { kind: "bool", alias: "d", description: "detach from the task after it has started execution" },
  "exec-id": { kind: "string", description: "exec specific id for the process" },
  "fifo-dir": { kind: "string", description: "directory used for storing IO FIFOs" },
  "log-uri": { kind: "string", description: "log uri for custom shim logging" },
  user: { kind: "string", description: "user id or name" },
  env: {
    kind: "strings",
    description: "specify additional environment variables for the process (e.g. FOO=bar)",
  },
} as const satisfies FlagTable;

export default defineCommand({
  meta: { name: "exec", description: "execute additional processes in an existing container" },
  args: cittyArgs(execFlags, { container: "CONTAINER", command: "CMD [ARG...]" }),
  async run({ rawArgs }) {
    const { flags, args } = parseFlags(execFlags, rawArgs);
    const [id, ...cmd] = args;
    const execId = flags["exec-id"];
    if (!execId) throw new UsageError('Required flag "exec-id" not set');
    if (!id) throw new UsageError("container id must be provided");
    if (cmd.length === 0) throw new UsageError("command must be provided");
    const d = daemon();
    const { container, spec } = await loadContainer(d, id);
    const s: Spec = { ociVersion: spec?.ociVersion ?? "", process: structuredClone(spec?.process) };
    const p = s.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" };
    s.process = p;
    p.terminal = flags.tty;
    p.args = cmd;
    if (flags.cwd) p.cwd = flags.cwd;
    if (flags.user) {
      // The user is looked up in the container's own rootfs, as containerd's WithUser does.
      // (A --rootfs container has no snapshot: its directory is the spec's root path.)
      const rootfs = container.snapshotKey
        ? lazyRootfs(async () => {
            const { mounts } = await d
              .client(Snapshots)
              .mounts({ snapshotter: container.snapshotter, key: container.snapshotKey });
            return mounts;
          })
        : { ...directoryFiles(spec?.root?.path ?? "/nonexistent"), close: async () => {} };
      try {
        await withUser(s, rootfs, flags.user);
        await withAdditionalGIDs(s, rootfs, flags.user);
      } finally {
        await rootfs.close();
      }
    }
    withEnv(s, flags.env);

    const tasks = d.client(Tasks);
    let con: Console | undefined;
    const io: TaskIO = flags["log-uri"]
      ? logURIIO(flags["log-uri"])
      : createFifoIO(execId, { stdin: true, terminal: flags.tty, fifoDir: flags["fifo-dir"] });
    let made = false;
    const stops: (() => void)[] = [];
    try {
      await tasks.exec({
        containerId: id,
        execId,
        ...io.config,
        spec: create(AnySchema, { typeUrl: PROCESS_TYPE_URL, value: processBytes(p) }),
      });
      made = true;
      const exited = flags.detach ? undefined : waitExit(d, id, execId);
      if (flags.tty) {
        con = currentConsole();
        con.setRaw();
      }
      if (exited) {
        io.start({
          onStdinEnd: () => void tasks.closeIO({ containerId: id, execId, stdin: true }).catch(() => {}),
        });
      }
      await tasks.start({ containerId: id, execId });
      if (!exited) {
        // The shim holds its ends now, and nothing attaches to an exec later: drop the FIFOs.
        await io.detach();
        io.close();
        return;
      }
      if (con) {
        stops.push(
          handleConsoleResize(con, (width, height) =>
            tasks.resizePty({ containerId: id, execId, width, height }),
          ),
        );
      } else stops.push(forwardSignals(d, id, execId));
      const code = await exited;
      for (const stop of stops.splice(0)) stop();
      await io.wait();
      await tasks.deleteProcess({ containerId: id, execId });
      made = false;
      io.close();
      con?.reset();
      await exitWith(code);
    } catch (e) {
      for (const stop of stops) stop();
      con?.reset();
      io.close();
      if (made && !flags.detach) await tasks.deleteProcess({ containerId: id, execId }).catch(() => {});
      throw e;
    }
  },
});

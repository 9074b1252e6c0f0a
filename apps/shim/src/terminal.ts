/** A process with a terminal: runc creates the pty and sends its master over a console socket
 *  (`--console-socket`); the shim copies between the master and the client's FIFOs and resizes
 *  the pty on ResizePty. */
import { closeSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";
import type { StdioPaths } from "./io.ts";
import { ConsoleSocket, copyPty, resizePty } from "./sys/console.ts";

export interface Terminal {
  resize(width: number, height: number): void;
  /** The client has no more input: stop copying stdin. */
  closeStdin(): void;
  /** The process is gone: finish copying what the pty still holds, then release everything. */
  close(): Promise<void>;
}

export interface PendingTerminal {
  /** Handed to runc as --console-socket. */
  socketPath: string;
  /** After runc create/exec: takes the pty master and starts copying. */
  attach(): Promise<Terminal>;
  abort(): void;
}

const RECEIVE_TIMEOUT_MS = 10_000;
/** How long an exited process's pty output may take to reach the client's FIFO. */
const OUTPUT_DRAIN_MS = 2000;

export async function openTerminal(stdio: StdioPaths): Promise<PendingTerminal> {
  if (stdio.stderr !== "") throw invalidArgument("a terminal process has no separate stderr");
  const dir = mkdtempSync(join(process.env.XDG_RUNTIME_DIR || tmpdir(), "pty"));
  let socket: ConsoleSocket;
  try {
    socket = await ConsoleSocket.listen(join(dir, "pty.sock"));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // Listen for the master before runc runs: runc sends it while it creates the process.
  const master = socket.receiveMaster({ timeoutMs: RECEIVE_TIMEOUT_MS });
  master.catch(() => {});
  const release = () => {
    socket.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    socketPath: socket.path,
    async attach() {
      let fd: number;
      try {
        fd = await master;
      } finally {
        release();
      }
      const copy = copyPty(fd, {
        stdin: stdio.stdin || undefined,
        stdout: stdio.stdout || undefined,
      });
      let closed: Promise<void> | undefined;
      return {
        resize: (width, height) => resizePty(fd, width, height),
        closeStdin: () => copy.closeStdin(),
        close: () =>
          (closed ??= (async () => {
            // The output ends (EIO on the master) once every holder of the pty slave is gone.
            await Promise.race([copy.done, Bun.sleep(OUTPUT_DRAIN_MS)]);
            copy.close();
            closeSync(fd);
          })()),
      };
    },
    abort: release,
  };
}

/** The terminal side of `-t`: this process's terminal in raw mode while the task runs (keys go
 *  to the container unchanged), its size sent once after start and again on every SIGWINCH
 *  (containerd's HandleConsoleResize), and the mode restored on the way out. */
import { dlopen, FFIType, ptr } from "bun:ffi";
import type { ReadStream, WriteStream } from "node:tty";

export interface Console {
  /** Columns × rows of the terminal (0 × 0 when unknown). */
  size(): { width: number; height: number };
  setRaw(): void;
  reset(): void;
}

// termios through libc: Node's setRawMode keeps output processing (ONLCR), so a task's "\r\n"
// would reach the screen as "\r\r\n"; Go's console.SetRaw is cfmakeraw, which turns it off.
let libc: ReturnType<typeof openLibc> | undefined;
const openLibc = () =>
  dlopen("libc.so.6", {
    tcgetattr: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    tcsetattr: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    cfmakeraw: { args: [FFIType.ptr], returns: FFIType.void },
  });
const TERMIOS_SIZE = 128; // struct termios is 60 bytes on Linux; room to spare
const TCSANOW = 0;

/** The terminal on stdin/stdout; an error (as Go's console.Current) when there is none. */
export function currentConsole(): Console {
  const stdin = process.stdin as ReadStream;
  const stdout = process.stdout as WriteStream;
  if (!stdin.isTTY) throw new Error("provided file is not a console");
  let saved: Uint8Array | undefined;
  return {
    size() {
      const [width, height] = stdout.isTTY ? stdout.getWindowSize() : [0, 0];
      return { width: width ?? 0, height: height ?? 0 };
    },
    setRaw() {
      libc ??= openLibc();
      const t = new Uint8Array(TERMIOS_SIZE);
      if (libc.symbols.tcgetattr(0, ptr(t)) !== 0) throw new Error("tcgetattr: stdin is not a terminal");
      saved = t.slice();
      libc.symbols.cfmakeraw(ptr(t));
      if (libc.symbols.tcsetattr(0, TCSANOW, ptr(t)) !== 0) throw new Error("tcsetattr: cannot set raw mode");
    },
    reset() {
      if (saved && libc) libc.symbols.tcsetattr(0, TCSANOW, ptr(saved));
      saved = undefined;
    },
  };
}

/** Sends the console's size now and on each SIGWINCH; returns the function that stops it.
 *  One resize call at a time: two calls in flight may be applied by the daemon in either
 *  order (`stty rows R cols C` makes two SIGWINCHes), so a signal that arrives during a call
 *  only asks for one more call, which reads the size when it is sent: the last size wins. */
export function handleConsoleResize(
  con: Console,
  resize: (width: number, height: number) => Promise<unknown>,
): () => void {
  let inFlight = false;
  let again = false;
  const send = () => {
    if (inFlight) {
      again = true;
      return;
    }
    const { width, height } = con.size();
    if (width <= 0 && height <= 0) return;
    inFlight = true;
    resize(width, height)
      .catch(() => {})
      .finally(() => {
        inFlight = false;
        if (again) {
          again = false;
          send();
        }
      });
  };
  send();
  process.on("SIGWINCH", send);
  return () => process.off("SIGWINCH", send);
}

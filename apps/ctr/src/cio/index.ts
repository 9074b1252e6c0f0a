/** Client IO for tasks and execs: FIFOs, copying, null IO, log URIs, the terminal. */
export {
  createFifoIO,
  fifoIO,
  type IOConfig,
  logURIIO,
  nullIO,
  type StartOptions,
  type TaskIO,
} from "./io.ts";
export {
  DEFAULT_FIFO_DIR,
  type FifoSet,
  isFifoPath,
  mkfifo,
  newFifoSet,
  removeFifos,
  unblockFifo,
} from "./fifo.ts";
export { type Console, currentConsole, handleConsoleResize } from "./tty.ts";

/** One line per failure: what failed and why, the gRPC status in words. Go ctr prints
 *  `ctr: <message>`; we print `bctr: <message>` and exit 1. */
import { Code, ConnectError } from "@connectrpc/connect";

/** A failure the user can fix by changing the command line (missing argument, bad value). */
export class UsageError extends Error {}

/** A failure whose message is already the whole line (no status words appended). */
export class CommandError extends Error {}

const words: Partial<Record<Code, string>> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid argument",
  [Code.DeadlineExceeded]: "deadline exceeded",
  [Code.NotFound]: "not found",
  [Code.AlreadyExists]: "already exists",
  [Code.PermissionDenied]: "permission denied",
  [Code.ResourceExhausted]: "resource exhausted",
  [Code.FailedPrecondition]: "failed precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out of range",
  [Code.Unimplemented]: "not implemented",
  [Code.Internal]: "internal error",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data loss",
  [Code.Unauthenticated]: "unauthenticated",
};

export const codeWords = (code: Code) => words[code] ?? "unknown";

const isStatus = (e: unknown, code: Code) => e instanceof ConnectError && e.code === code;
export const isNotFound = (e: unknown) => isStatus(e, Code.NotFound);
export const isAlreadyExists = (e: unknown) => isStatus(e, Code.AlreadyExists);
export const isUnimplemented = (e: unknown) => isStatus(e, Code.Unimplemented);

/** Socket-level failures, in words a user acts on. */
function connectFailure(message: string, address: string): string | undefined {
  if (/ENOENT|no such file/i.test(message))
    return `cannot connect to ${address}: no such socket (is the daemon running?)`;
  if (/ECONNREFUSED/i.test(message)) return `cannot connect to ${address}: connection refused`;
  if (/EACCES/i.test(message)) return `cannot connect to ${address}: permission denied`;
  return undefined;
}

/** The message after `bctr: `, for any thrown value. `subject` prefixes it (`image "x"`) when
 *  the daemon's message does not name the subject itself. */
export function describeError(e: unknown, address = ""): string {
  if (e instanceof ConnectError) {
    const msg = e.rawMessage;
    if (e.code === Code.Unavailable || e.code === Code.Internal || e.code === Code.Unknown) {
      const c = connectFailure(msg, address);
      if (c) return c;
    }
    if (e.code === Code.DeadlineExceeded)
      return msg ? `${msg}: context deadline exceeded` : "context deadline exceeded";
    if (e.code === Code.Canceled) return "canceled";
    const w = codeWords(e.code);
    if (!msg) return w;
    return msg.endsWith(w) || e.code === Code.Unknown || e.code === Code.Internal ? msg : `${msg}: ${w}`;
  }
  if (e instanceof Error) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === "ENOENT" || c === "ECONNREFUSED" || c === "EACCES") {
      const s = connectFailure(c, address);
      if (s && (e as NodeJS.ErrnoException).syscall === "connect") return s;
    }
    return e.message;
  }
  return String(e);
}

/** Wraps a call's error with the subject it concerned, unless the message names it already. */
export async function about<T>(subject: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ConnectError && !e.rawMessage.includes(subject.replace(/^\w+ /, ""))) {
      throw new ConnectError(`${subject}${e.rawMessage ? `: ${e.rawMessage}` : ""}`, e.code);
    }
    throw e;
  }
}

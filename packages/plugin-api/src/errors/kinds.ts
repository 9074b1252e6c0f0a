/** containerd's error kinds: a small closed set. The message names the subject
 *  (`namespace "x": not found`), and the kind picks the wire status once, at the edge. */

export const Kind = {
  Unknown: "unknown",
  InvalidArgument: "invalid argument",
  NotFound: "not found",
  AlreadyExists: "already exists",
  FailedPrecondition: "failed precondition",
  Unavailable: "unavailable",
  NotImplemented: "not implemented",
  Canceled: "context canceled",
  DeadlineExceeded: "context deadline exceeded",
  ResourceExhausted: "resource exhausted",
  PermissionDenied: "permission denied",
  Aborted: "aborted",
  OutOfRange: "out of range",
  Internal: "internal",
  Unauthenticated: "unauthenticated",
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** gRPC status codes (ttrpc uses the same numbers). */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

// The only table that knows wire codes.
const kindToCode: Record<Kind, Code> = {
  [Kind.Unknown]: Code.Unknown,
  [Kind.InvalidArgument]: Code.InvalidArgument,
  [Kind.NotFound]: Code.NotFound,
  [Kind.AlreadyExists]: Code.AlreadyExists,
  [Kind.FailedPrecondition]: Code.FailedPrecondition,
  [Kind.Unavailable]: Code.Unavailable,
  [Kind.NotImplemented]: Code.Unimplemented,
  [Kind.Canceled]: Code.Canceled,
  [Kind.DeadlineExceeded]: Code.DeadlineExceeded,
  [Kind.ResourceExhausted]: Code.ResourceExhausted,
  [Kind.PermissionDenied]: Code.PermissionDenied,
  [Kind.Aborted]: Code.Aborted,
  [Kind.OutOfRange]: Code.OutOfRange,
  [Kind.Internal]: Code.Internal,
  [Kind.Unauthenticated]: Code.Unauthenticated,
};
const codeToKind = new Map<number, Kind>(Object.entries(kindToCode).map(([k, c]) => [c, k as Kind]));

export type ErrorDetail = { op?: string; path?: string; syscall?: string; cause?: unknown };

export class BunkerError extends Error {
  constructor(
    readonly kind: Kind,
    readonly subject: string,
    readonly detail: ErrorDetail = {},
  ) {
    // containerd's wording: "<subject>: <kind>", or just the subject when it already says it.
    super(subject.endsWith(kind) || kind === Kind.Unknown ? subject : `${subject}: ${kind}`, {
      cause: detail.cause,
    });
    this.name = "BunkerError";
  }
  get code(): Code {
    return kindToCode[this.kind];
  }
}

export const grpcCode = (kind: Kind): Code => kindToCode[kind];
export const kindOfCode = (code: number): Kind => codeToKind.get(code) ?? Kind.Unknown;

/** An error that came over the wire with a status code: keep the peer's message as is. */
export function fromStatus(code: number, message: string): BunkerError {
  const e = new BunkerError(kindOfCode(code), message);
  // The peer already formatted the message; do not append the kind again.
  Object.defineProperty(e, "message", { value: message });
  return e;
}

export const invalidArgument = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.InvalidArgument, subject, detail);
export const notFound = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.NotFound, subject, detail);
export const alreadyExists = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.AlreadyExists, subject, detail);
export const failedPrecondition = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.FailedPrecondition, subject, detail);
export const unavailable = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.Unavailable, subject, detail);
export const notImplemented = (subject: string, detail?: ErrorDetail) =>
  new BunkerError(Kind.NotImplemented, subject, detail);

/** Any thrown value → a BunkerError, keeping kinds and mapping errno codes. */
export function toBunkerError(e: unknown): BunkerError {
  if (e instanceof BunkerError) return e;
  if (e && typeof e === "object") {
    const o = e as { code?: unknown; message?: unknown; syscall?: string; path?: string; name?: string };
    if (o.name === "AbortError") return new BunkerError(Kind.Canceled, "context canceled");
    const msg = typeof o.message === "string" ? o.message : String(e);
    const errnoKind: Record<string, Kind> = {
      ENOENT: Kind.NotFound,
      EEXIST: Kind.AlreadyExists,
      EACCES: Kind.PermissionDenied,
      EPERM: Kind.PermissionDenied,
      EINVAL: Kind.InvalidArgument,
      ENOTEMPTY: Kind.FailedPrecondition,
    };
    if (typeof o.code === "string" && o.code in errnoKind) {
      return new BunkerError(errnoKind[o.code]!, msg, { syscall: o.syscall, path: o.path, cause: e });
    }
    return new BunkerError(Kind.Unknown, msg, { cause: e });
  }
  return new BunkerError(Kind.Unknown, String(e));
}

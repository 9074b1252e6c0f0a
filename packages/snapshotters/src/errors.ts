/** containerd wraps a cause with what failed (`failed to commit snapshot: …`); the kind stays. */
import { BunkerError, toBunkerError } from "@bunkerd/plugin-api";

/** `prefix: <cause>`, keeping the cause's kind, path and syscall. */
export function wrap(prefix: string, e: unknown): BunkerError {
  const b = toBunkerError(e);
  return new BunkerError(b.kind, `${prefix}: ${b.subject}`, { ...b.detail, cause: e });
}

/** Runs `fn`, wrapping what it throws with `prefix`. */
export function wrapping<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw wrap(prefix, e);
  }
}

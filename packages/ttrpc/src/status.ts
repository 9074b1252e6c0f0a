/** Errors ↔ google.rpc.Status, the one place ttrpc turns a thrown value into a wire status
 *  and back. The numbers are gRPC's; plugin-api's error kinds own the mapping. */

import { type BunkerError, Code, fromStatus, toBunkerError } from "@bunkerd/plugin-api";

export interface WireStatus {
  code: number;
  message: string;
}

/** A thrown value as a status. An error that already carries a numeric `code` (a BunkerError,
 *  an error rebuilt from a peer's status) keeps it; anything else goes through the kinds. */
export function statusOf(e: unknown): WireStatus {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "number" && Number.isInteger(code) && code > Code.OK) {
    return { code, message: e instanceof Error ? e.message : String(e) };
  }
  const b = toBunkerError(e);
  return { code: b.code, message: b.message };
}

/** A peer's non-OK status as an error with `.code` and the peer's message, unchanged. */
export const errorOf = (s: WireStatus): BunkerError => fromStatus(s.code, s.message);

// Go ttrpc's wording (errors.go: ErrClosed, ErrServerClosed), so both sides log the same text.
export const closedError = () => fromStatus(Code.Unavailable, "ttrpc: closed");
export const serverClosedError = () => fromStatus(Code.Unavailable, "ttrpc: server closed");
export const deadlineError = () => fromStatus(Code.DeadlineExceeded, "context deadline exceeded");
export const canceledError = () => fromStatus(Code.Canceled, "context canceled");

/** Errors cross a worker port as data: an Error subclass posted through a MessagePort arrives
 *  as a plain Error without its kind, so it is encoded here and rebuilt on the other side. */
import { BunkerError, type Kind, toBunkerError } from "../errors/kinds.ts";

export type WireError = { $: "bunkerd.error"; kind: Kind; message: string; op?: string; path?: string };

export function encodeError(e: unknown): WireError {
  const b = toBunkerError(e);
  return { $: "bunkerd.error", kind: b.kind, message: b.message, op: b.detail.op, path: b.detail.path };
}

export const isWireError = (v: unknown): v is WireError =>
  typeof v === "object" && v !== null && (v as WireError).$ === "bunkerd.error";

export function decodeError(w: WireError): BunkerError {
  const e = new BunkerError(w.kind, w.message, { op: w.op, path: w.path });
  Object.defineProperty(e, "message", { value: w.message });
  return e;
}

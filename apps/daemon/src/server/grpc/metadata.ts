/** What a gRPC request's headers say about the call: namespace, lease, deadline and the
 *  metadata handed to handlers. Parsed once at the edge; a bad value refuses the call. */
import { Code, fromStatus, requireNamespace } from "@bunkerd/plugin-api";
import type { RequestHeaders } from "./transport.ts";

export const NamespaceHeader = "containerd-namespace";
export const LeaseHeader = "containerd-lease";

/** containerd's NamespaceRequired: FailedPrecondition when absent, InvalidArgument when malformed
 *  (one definition for gRPC and ttrpc, in plugin-api). */
export { requireNamespace };

const timeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** `grpc-timeout`: at most 8 digits and a unit (H M S m u n) → milliseconds. */
export function parseTimeout(value: string): number {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) throw fromStatus(Code.Internal, `transport: malformed grpc-timeout: ${JSON.stringify(value)}`);
  return Number(m[1]) * timeoutUnitMs[m[2]!]!;
}

/** A header's value as one string: the first when a client repeated it. */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Request headers without HTTP/2 pseudo-headers, as CallContext.metadata. */
export function metadataOf(headers: RequestHeaders): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key in headers) {
    if (key.charCodeAt(0) === 0x3a) continue; // ':'
    const v = headers[key];
    if (v === undefined) continue;
    out[key] = Array.isArray(v) ? v : [v];
  }
  return out;
}

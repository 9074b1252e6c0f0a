/** Unary calls through the minimal HTTP/2 client (unary.ts) to the global daemon address, with
 *  the global namespace and timeout: for commands that decode their replies by hand (wire.ts)
 *  and so never load Connect or the generated schemas. Undefined (the caller then uses the
 *  full client) when the address is not a unix socket or BCTR_FAST_UNARY=0. */
import { globals } from "./context.ts";
import { type UnaryRequest, unaryCalls } from "./unary.ts";

export const fastUnaryEnabled = () => process.env.BCTR_FAST_UNARY !== "0";

export async function fastCalls(requests: UnaryRequest[]): Promise<(Uint8Array | undefined)[] | undefined> {
  const address = globals.address.replace(/^unix:\/\//, "");
  if (!fastUnaryEnabled() || (!address.startsWith("/") && !address.startsWith("."))) return undefined;
  const headers: Record<string, string> = { "containerd-namespace": globals.namespace };
  if (globals.timeoutMs > 0) headers["grpc-timeout"] = `${globals.timeoutMs}m`;
  return unaryCalls(address, headers, requests, globals.timeoutMs || 10_000);
}

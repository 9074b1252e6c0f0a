/** A Connect transport for the daemon that sends read-only unary calls (List…, Get…, Info,
 *  Status, Stat, Usage, Mounts, Version, Server, Plugins, Metrics) through the minimal HTTP/2
 *  client (unary.ts) and everything else through the full Connect gRPC transport, made only
 *  when first needed. Starting node:http2 and Connect's gRPC stack is most of a short command's
 *  time (~20 ms of `plugins ls`).
 *
 *  The minimal client only recognizes a plain success; any other outcome (an error status, a
 *  reset, a refused socket) repeats the call through the full transport, which reports it.
 *  Repeating is harmless because only read-only methods take this path. */
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Transport, UnaryResponse } from "@connectrpc/connect";
import { fastUnaryEnabled } from "./fast-call.ts";
import { UnaryConnection } from "./unary.ts";

const READ_ONLY = /^(List|Get|Info|Status|Stat$|Usage|Mounts|Version|Server|Plugins|Metrics)/;

/** Off with BCTR_FAST_UNARY=0 (to compare, or to rule it out). */
const enabled = fastUnaryEnabled();

export interface FastTarget {
  address: string;
  namespace: string;
  lease?: string;
  timeoutMs?: number;
}

export function fastTransport(t: FastTarget, full: () => Promise<Transport>): Transport {
  let fullTransport: Promise<Transport> | undefined;
  const slow = () => {
    fullTransport ??= full();
    return fullTransport;
  };
  const path = t.address.replace(/^unix:\/\//, "");
  const unix = path.startsWith("/") || path.startsWith(".");
  let conn: UnaryConnection | undefined;
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      if (enabled && unix && READ_ONLY.test(method.name) && !signal?.aborted) {
        conn ??= new UnaryConnection(path);
        const headers: Record<string, string> = { "containerd-namespace": t.namespace };
        if (t.lease) headers["containerd-lease"] = t.lease;
        const ms = timeoutMs ?? t.timeoutMs;
        if (ms) headers["grpc-timeout"] = `${ms}m`;
        new Headers(header).forEach((v, k) => {
          headers[k] = v;
        });
        const request = toBinary(method.input, create(method.input, input) as never);
        const reply = await conn.call(`/${method.parent.typeName}/${method.name}`, headers, request, ms ?? 0);
        if (reply) {
          try {
            return {
              stream: false,
              service: method.parent,
              method,
              header: new Headers(),
              message: fromBinary(method.output as DescMessage, reply),
              trailer: new Headers(),
            } as UnaryResponse<never, never>;
          } catch {
            // not the reply we expected: let the full transport answer
          }
        }
      }
      return (await slow()).unary(method, signal, timeoutMs, header, input, contextValues);
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      return (await slow()).stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

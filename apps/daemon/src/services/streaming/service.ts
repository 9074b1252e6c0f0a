/** containerd.services.streaming.v1.Streaming (containerd 1.7's services/streaming): the client's
 *  first message is a StreamInit naming the stream; once it is registered the server answers
 *  with an empty message (google.protobuf.Empty), then relays both ways until a service closes
 *  the stream or the client goes away. The namespace is the call's, or none. */
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import type { ServiceHandlers } from "@bunkerd/plugin-api";
import {
  type Streaming,
  StreamInitSchema,
} from "@bunkerd/proto/containerd/services/streaming/v1/streaming_pb.ts";
import { packAny, unpackAny } from "./any.ts";
import { ManagedStream, type StreamManager } from "./manager.ts";

export function streamingService(manager: StreamManager): ServiceHandlers<typeof Streaming> {
  return {
    async *stream(reqs, call) {
      const it = reqs[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done) return;
      const init = unpackAny(first.value, StreamInitSchema, "stream init");
      const stream = new ManagedStream(init.id);
      manager.register(call.namespace ?? "", stream);
      // The client's messages, for whoever reads the stream.
      void (async () => {
        try {
          for (;;) {
            const next = await it.next();
            if (next.done) break;
            stream.deliver(next.value);
          }
        } catch {
          // The client went away: the call's signal ends the stream below.
        } finally {
          stream.endInput();
        }
      })();
      try {
        yield packAny(EmptySchema, {});
        yield* stream.outgoing(call.signal);
      } finally {
        stream.close();
      }
    },
  };
}

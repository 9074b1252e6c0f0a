/** Plugins for the host's tests: each shows one state or behaviour the host must handle. */
import { definePlugin, skipPlugin } from "@bunkerd/plugin-api";
import { Version } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";

// A plain object is what crosses a port; a counter proves calls reach the same instance.
export const counter = definePlugin({
  type: "io.bunkerd.test.v1",
  id: "counter",
  worker: "test-a",
  init() {
    let n = 0;
    return {
      async next() {
        return ++n;
      },
      async *count(k: number) {
        for (let i = 0; i < k; i++) yield i;
      },
    };
  },
});

// Lives in another worker and reaches `counter` through ctx.get.
export const user = definePlugin({
  type: "io.bunkerd.test.v1",
  id: "user",
  requires: ["io.bunkerd.test.v1.counter"],
  worker: "test-b",
  async init(ctx) {
    const c = await ctx.get<{ next(): Promise<number>; count(k: number): Promise<AsyncIterable<number>> }>(
      "io.bunkerd.test.v1",
      "counter",
    );
    return {
      async twice() {
        return [await c.next(), await c.next()];
      },
      async sum(k: number) {
        let s = 0;
        for await (const v of await c.count(k)) s += v;
        return s;
      },
    };
  },
});

export const skipper = definePlugin({
  type: "io.bunkerd.test.v1",
  id: "skipper",
  worker: "test-a",
  init() {
    throw skipPlugin("no such hardware here");
  },
});

export const broken = definePlugin({
  type: "io.bunkerd.test.v1",
  id: "broken",
  worker: "test-a",
  init() {
    throw new Error("disk on fire");
  },
});

// Serves a gRPC method whose calls never end, in a worker that tests crash.
export const hanging = definePlugin({
  type: "io.bunkerd.test.v1",
  id: "hanging",
  worker: "test-crash",
  config: { answer: "v-default" },
  init(ctx) {
    const { answer } = ctx.config as { answer: string };
    ctx.registerService(
      Version,
      {
        version: (_req, call) =>
          call.metadata["x-hang"]
            ? new Promise(() => {})
            : { version: answer, revision: call.namespace ?? "" },
      },
      { namespaced: false },
    );
  },
});

export default [counter, user, skipper, broken, hanging];

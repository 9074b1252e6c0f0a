/** An external plugin (loaded from plugin_dir) for the lifecycle tests: it runs in a worker
 *  of its own and crashes that worker shortly after init, as a plugin with a fatal bug would. */
import { definePlugin, skipPlugin } from "@bunkerd/plugin-api";

export default [
  definePlugin({
    type: "io.bunkerd.test.v1",
    id: "crashy",
    worker: "crashy",
    init() {
      setTimeout(() => {
        throw new Error("crashy plugin hit a fatal bug");
      }, 300);
      return {};
    },
  }),
  definePlugin({
    type: "io.bunkerd.test.v1",
    id: "skipped",
    worker: "crashy",
    init() {
      throw skipPlugin("needs hardware this host lacks");
    },
  }),
  definePlugin({
    type: "io.bunkerd.test.v1",
    id: "failing",
    worker: "crashy",
    init() {
      throw new Error("cannot open /dev/nothing");
    },
  }),
];

import { expect, test } from "bun:test";
import { definePlugin } from "../plugin.ts";
import { type PluginModule, PluginRuntime } from "./runtime.ts";

const links = {
  connect: () => Promise.reject(new Error("no other workers here")),
  publish: async () => {},
  log: () => ({ trace() {}, debug() {}, info() {}, warn() {}, error() {} }),
};

test("a runtime imports only the modules of its own plugins, each once", async () => {
  const imported: string[] = [];
  const mod = (name: string, worker: string): (() => Promise<PluginModule>) => {
    return async () => {
      imported.push(name);
      return { default: definePlugin({ type: "io.bunkerd.test.v1", id: name, worker, init: () => ({}) }) };
    };
  };
  const builtins = { a: mod("a", "w1"), b: mod("b", "w2"), c: mod("c", "w1") };
  const rt = new PluginRuntime("w1", links, builtins);
  await rt.load([
    { type: "io.bunkerd.test.v1", id: "a", worker: "w1", module: "a" },
    { type: "io.bunkerd.test.v1", id: "b", worker: "w2", module: "b" },
    { type: "io.bunkerd.test.v1", id: "c", worker: "w1", module: "c" },
  ]);
  expect(imported.sort()).toEqual(["a", "c"]);
  expect((await rt.init("io.bunkerd.test.v1.a", initData)).status).toBe("ok");
  await expect(rt.init("io.bunkerd.test.v1.b", initData)).rejects.toThrow("plugin io.bunkerd.test.v1.b");
});

test("modules may also be given already imported", async () => {
  const rec = definePlugin({ type: "io.bunkerd.test.v1", id: "x", worker: "w1", init: () => ({ n: 7 }) });
  const rt = new PluginRuntime("w1", links, { x: { plugins: [rec] } });
  await rt.load([{ type: "io.bunkerd.test.v1", id: "x", worker: "w1", module: "x" }]);
  await rt.init("io.bunkerd.test.v1.x", initData);
  expect(await rt.get<{ n: number }>("io.bunkerd.test.v1", "x")).toEqual({ n: 7 });
});

const initData = {
  root: "/nonexistent",
  state: "/nonexistent",
  config: {},
  grpcAddress: "",
  ttrpcAddress: "",
};

import { expect, test } from "bun:test";
import { missingRequired, orderPlugins } from "./graph.ts";
import { definePlugin, uriOf } from "./plugin.ts";

const p = (type: string, id: string, requires: string[] = []) =>
  definePlugin({ type, id, requires, init: () => null });

test("requirements come first, registration order otherwise", () => {
  const recs = [
    p("io.containerd.grpc.v1", "namespaces", ["io.containerd.metadata.v1"]),
    p("io.containerd.metadata.v1", "sqlite", ["io.containerd.content.v1"]),
    p("io.containerd.content.v1", "content"),
    p("io.containerd.grpc.v1", "introspection", ["*"]),
    p("io.containerd.grpc.v1", "version"),
  ];
  expect(orderPlugins(recs).map(uriOf)).toEqual([
    "io.containerd.content.v1.content",
    "io.containerd.metadata.v1.sqlite",
    "io.containerd.grpc.v1.namespaces",
    "io.containerd.grpc.v1.version",
    "io.containerd.grpc.v1.introspection",
  ]);
});

test("disabled plugins are dropped; required ones found missing", () => {
  const recs = [p("a.v1", "x"), p("b.v1", "y", ["a.v1"])];
  expect(orderPlugins(recs, { disabled: ["a.v1.x"] }).map(uriOf)).toEqual(["b.v1.y"]);
  expect(missingRequired(recs, ["a.v1.x", "c.v1.z"], ["a.v1.x"])).toEqual(["a.v1.x", "c.v1.z"]);
});

test("a cycle is refused, naming it", () => {
  expect(() => orderPlugins([p("a.v1", "x", ["b.v1"]), p("b.v1", "y", ["a.v1"])])).toThrow(
    /cycle: a.v1.x -> b.v1.y -> a.v1.x/,
  );
});

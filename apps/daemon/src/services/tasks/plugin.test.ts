import { expect, test } from "bun:test";
import type { DescService } from "@bufbuild/protobuf";
import { type InitContext, type Route, serviceRoutes } from "@bunkerd/plugin-api";
import { tasksGrpc, tasksService } from "./plugin.ts";

test("every Tasks method is routed, and each needs a namespace", async () => {
  const routes: Route[] = [];
  const ctx = {
    get: async () => ({}),
    registerService<S extends DescService>(svc: S, handlers: never, opts: { namespaced?: boolean } = {}) {
      routes.push(...serviceRoutes(svc, handlers, opts.namespaced ?? true));
      // A handler left out would answer Unimplemented: every method must have one.
      for (const m of svc.methods)
        expect(typeof (handlers as Record<string, unknown>)[m.localName]).toBe("function");
    },
  } as unknown as InitContext;
  await tasksGrpc.init(ctx);
  expect(routes.map((r) => [r.path.split("/").pop(), r.namespaced])).toEqual(
    [
      "Create",
      "Start",
      "Delete",
      "DeleteProcess",
      "Get",
      "List",
      "Kill",
      "Exec",
      "ResizePty",
      "CloseIO",
      "Pause",
      "Resume",
      "ListPids",
      "Checkpoint",
      "Update",
      "Metrics",
      "Wait",
    ].map((m) => [m, true]),
  );
  expect(routes[0]!.path).toBe("/containerd.services.tasks.v1.Tasks/Create");
});

test("config: containerd's rdt_config_file, a string", () => {
  expect(tasksService.config).toEqual({ rdt_config_file: "" });
  expect(tasksService.parseConfig!({ rdt_config_file: "/etc/rdt.yaml" })).toEqual({
    rdt_config_file: "/etc/rdt.yaml",
  });
  expect(() => tasksService.parseConfig!({ rdt_config_file: 1 })).toThrow(
    "rdt_config_file: must be a string",
  );
});

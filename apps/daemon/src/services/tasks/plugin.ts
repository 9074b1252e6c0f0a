/** Tasks: io.containerd.service.v1.tasks-service (the local implementation, beside the task
 *  manager in the runtime worker) and io.containerd.grpc.v1.tasks (the API adapter), as
 *  containerd registers them. Every call needs a namespace. */
import { definePlugin, invalidArgument, PluginType } from "@bunkerd/plugin-api";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import type { TaskManager } from "../../plugins/runtime/manager.ts";
import { RUNTIME_WORKER } from "../../plugins/runtime/plugin.ts";
import type { ContainersLocal } from "../containers/types.ts";
import type { TasksLocal } from "./local.ts";

/** containerd 1.6's `[plugins."io.containerd.service.v1.tasks-service"]`. */
export interface TasksConfig {
  /** Intel RDT class configuration; bunkerd does not apply RDT classes, so a path is only warned about. */
  rdt_config_file: string;
}

export const tasksService = definePlugin<TasksConfig, unknown>({
  type: PluginType.Service,
  id: "tasks-service",
  requires: [PluginType.RuntimeV2, PluginType.Metadata],
  worker: RUNTIME_WORKER,
  config: { rdt_config_file: "" },
  parseConfig(raw) {
    const rdt = raw.rdt_config_file ?? "";
    if (typeof rdt !== "string") throw invalidArgument("rdt_config_file: must be a string");
    return { rdt_config_file: rdt };
  },
  async init(ctx) {
    const { TasksLocal } = await import("./local.ts");
    if (ctx.config.rdt_config_file !== "") {
      ctx.log.warn("RDT is not supported; rdt_config_file is ignored", { path: ctx.config.rdt_config_file });
    }
    const manager = await ctx.get<TaskManager>(PluginType.RuntimeV2, "task");
    // The containers service lives in the metadata worker; asked on first use, so the order in
    // which the two workers come up does not matter.
    let containers: Promise<ContainersLocal> | undefined;
    const getContainers = () => {
      containers ??= ctx.get<ContainersLocal>(PluginType.Service, "containers-service").catch((e) => {
        containers = undefined;
        throw e;
      });
      return containers;
    };
    return new TasksLocal(manager, getContainers, ctx.log);
  },
});

export const tasksGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "tasks",
  requires: [PluginType.Service],
  worker: RUNTIME_WORKER,
  async init(ctx) {
    const local = await ctx.get<TasksLocal>(PluginType.Service, "tasks-service");
    ctx.registerService(Tasks, {
      async create(req, call) {
        return local.create(call.namespace!, req);
      },
      async start(req, call) {
        return { pid: await local.start(call.namespace!, req.containerId, req.execId) };
      },
      async delete(req, call) {
        return { id: req.containerId, ...(await local.delete(call.namespace!, req.containerId)) };
      },
      async deleteProcess(req, call) {
        return local.deleteProcess(call.namespace!, req);
      },
      async get(req, call) {
        return { process: await local.get(call.namespace!, req.containerId, req.execId) };
      },
      async list(_req, call) {
        return { tasks: await local.list(call.namespace!) };
      },
      async kill(req, call) {
        await local.kill(call.namespace!, req);
        return {};
      },
      async exec(req, call) {
        await local.exec(call.namespace!, req);
        return {};
      },
      async resizePty(req, call) {
        await local.resizePty(call.namespace!, req);
        return {};
      },
      async closeIO(req, call) {
        await local.closeIO(call.namespace!, req);
        return {};
      },
      async pause(req, call) {
        await local.pause(call.namespace!, req.containerId);
        return {};
      },
      async resume(req, call) {
        await local.resume(call.namespace!, req.containerId);
        return {};
      },
      async listPids(req, call) {
        return local.listPids(call.namespace!, req.containerId);
      },
      async checkpoint(req, call) {
        return local.checkpoint(call.namespace!, req);
      },
      async update(req, call) {
        await local.update(call.namespace!, req);
        return {};
      },
      async metrics(req, call) {
        return { metrics: await local.metrics(call.namespace!, req.filters) };
      },
      async wait(req, call) {
        return local.wait(call.namespace!, req.containerId, req.execId, call.signal);
      },
    });
  },
});

export default [tasksService, tasksGrpc];

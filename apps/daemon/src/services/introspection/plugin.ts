/** containerd.services.introspection.v1.Introspection: the plugin list with each plugin's
 *  state (ctr reads "skip" from a "skip plugin" init error), and the server's identity:
 *  a uuid made once and kept under the root, the pid and its pid namespace. */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { definePlugin, matchFilters, parseFilters, PluginType, recordLookup } from "@bunkerd/plugin-api";
import { Introspection } from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import type { HostApi } from "../../host/api.ts";

export const introspectionPlugin = (host: HostApi) =>
  definePlugin({
    type: PluginType.GRPC,
    id: "introspection",
    requires: ["*"],
    init(ctx) {
      const uuid = loadOrCreateUuid(ctx.root);
      const pidns = pidNamespace();
      ctx.registerService(
        Introspection,
        {
          plugins(req) {
            const filters = parseFilters(req.filters);
            const plugins = host
              .plugins()
              .filter((p) => p.state !== "pending")
              .filter((p) => matchFilters(filters, recordLookup({ type: p.type, id: p.id })))
              .map((p) => ({
                type: p.type,
                id: p.id,
                requires: p.requires,
                platforms: p.platforms,
                exports: p.exports,
                capabilities: p.capabilities,
                initErr: p.error ? { code: p.error.code, message: p.error.message } : undefined,
              }));
            return { plugins };
          },
          server: () => ({ uuid, pid: BigInt(process.pid), pidns, deprecations: [] }),
        },
        { namespaced: false },
      );
    },
  });

/** containerd keeps the uuid in <root>/io.containerd.grpc.v1.introspection/uuid. */
function loadOrCreateUuid(dir: string): string {
  const file = join(dir, "uuid");
  try {
    const u = readFileSync(file, "utf8").trim();
    if (u) return u;
  } catch {}
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const u = crypto.randomUUID();
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, u, { mode: 0o644 });
  renameSync(tmp, file);
  return u;
}

function pidNamespace(): bigint {
  try {
    return BigInt(statSync("/proc/self/ns/pid").ino);
  } catch {
    return 0n;
  }
}

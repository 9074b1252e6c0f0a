/** grpc.health.v1.Health, registered by containerd as io.containerd.grpc.v1.healthcheck:
 *  the server ("" service) is SERVING until the daemon begins to stop. */
import { definePlugin, notFound, PluginType } from "@bunkerd/plugin-api";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "@bunkerd/proto/grpc/health/v1/health_pb.ts";
import type { HostApi } from "../../host/api.ts";

export const healthPlugin = (host: HostApi) =>
  definePlugin({
    type: PluginType.GRPC,
    id: "healthcheck",
    init(ctx) {
      const status = () => (host.serving() ? Status.SERVING : Status.NOT_SERVING);
      const known = (service: string) => {
        if (service !== "") throw notFound("unknown service");
      };
      ctx.registerService(
        Health,
        {
          check(req) {
            known(req.service);
            return { status: status() };
          },
          async *watch(req, call) {
            known(req.service);
            let last = status();
            yield { status: last };
            let wake: (() => void) | undefined;
            const off = host.onServingChange(() => wake?.());
            const onAbort = () => wake?.();
            call.signal.addEventListener("abort", onAbort);
            try {
              while (!call.signal.aborted) {
                await new Promise<void>((r) => {
                  wake = r;
                });
                const now = status();
                if (now !== last) {
                  last = now;
                  yield { status: now };
                }
              }
            } finally {
              off();
              call.signal.removeEventListener("abort", onAbort);
            }
          },
        },
        { namespaced: false },
      );
    },
  });

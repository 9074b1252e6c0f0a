/** `bctr containers info [--spec] ID`: the container record as Go ctr prints it (Go field names,
 *  the spec decoded and in runtime-spec field order, RFC 3339 timestamps with nanoseconds). */
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";
import { orderSpec } from "../../oci/index.ts";
import { goJSON, goTime } from "./format.ts";

export default defineCommand({
  meta: { name: "info", description: "get info about a container" },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER" },
    spec: { type: "boolean", description: "only display the spec" },
  },
  async run({ args }) {
    const id = need(args.container, "container id");
    const { container: c } = await daemon().client(Containers).get({ id });
    if (!c) throw new Error(`container "${id}": not found`);
    const spec = c.spec?.value?.length
      ? orderSpec(JSON.parse(new TextDecoder().decode(c.spec.value)))
      : undefined;
    if (args.spec) {
      write(`${goJSON(spec ?? null)}\n`);
      return;
    }
    const any = (a: { typeUrl: string; value: Uint8Array } | undefined) =>
      a
        ? {
            type_url: a.typeUrl,
            ...(a.value.length ? { value: Buffer.from(a.value).toString("base64") } : {}),
          }
        : null;
    const sorted = (m: Record<string, string>) =>
      Object.keys(m).length
        ? Object.fromEntries(
            Object.keys(m)
              .sort()
              .map((k) => [k, m[k]]),
          )
        : null;
    const extensions = Object.keys(c.extensions).length
      ? Object.fromEntries(
          Object.keys(c.extensions)
            .sort()
            .map((k) => [k, any(c.extensions[k])]),
        )
      : null;
    const info: Record<string, unknown> = {
      ID: c.id,
      Labels: sorted(c.labels),
      Image: c.image,
      Runtime: { Name: c.runtime?.name ?? "", Options: any(c.runtime?.options) },
      SnapshotKey: c.snapshotKey,
      Snapshotter: c.snapshotter,
      CreatedAt: goTime(c.createdAt),
      UpdatedAt: goTime(c.updatedAt),
      Extensions: extensions,
    };
    if (spec) info.Spec = spec;
    write(`${goJSON(info)}\n`);
  },
});

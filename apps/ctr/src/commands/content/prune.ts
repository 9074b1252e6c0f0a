/** `content prune references`: removes the layer references (`containerd.io/gc.ref.content.l.*`
 *  and legacy numbered ones other than 0) from every blob, then runs a garbage collection by
 *  deleting a fresh lease (synchronously unless --async). */
import { Content } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { group } from "../../cli/command.ts";
import { write } from "../../cli/output.ts";
import { rfc3339 } from "../../cli/units.ts";
import { listContent } from "./ls.ts";

const LAYER = "containerd.io/gc.ref.content.l.";
const CONTENT = "containerd.io/gc.ref.content.";

export function isLayerLabel(key: string): boolean {
  if (key.startsWith(LAYER)) return true;
  if (!key.startsWith(CONTENT)) return false;
  const rest = key.slice(CONTENT.length);
  return /^\d+$/.test(rest) && rest !== "0";
}

const references = defineCommand({
  meta: {
    name: "references",
    description: "prunes preference labels from the content store (layers only by default)",
  },
  args: {
    async: { type: "boolean", description: "allow garbage collection to cleanup asynchronously" },
    dry: { type: "boolean", description: "just show updates without applying" },
  },
  async run({ args }) {
    const d = daemon();
    const content = d.client(Content);
    for (const info of await listContent()) {
      const keys = Object.keys(info.labels).filter(isLayerLabel);
      if (!keys.length) continue;
      if (args.dry) {
        for (const k of keys) write(`${info.digest}: would remove label ${k}\n`);
        continue;
      }
      await content.update({
        info: { digest: info.digest, labels: {} },
        updateMask: { paths: keys.map((k) => `labels.${k}`) },
      });
    }
    const leases = d.client(Leases);
    const id = `bctr-prune-${Date.now()}`;
    await leases.create({
      id,
      labels: { "containerd.io/gc.expire": rfc3339(new Date(Date.now() + 3600_000)) },
    });
    await leases.delete({ id, sync: !args.async });
  },
});

export default group("prune", "prunes content from the content store", {
  references: async () => ({ default: references }),
});

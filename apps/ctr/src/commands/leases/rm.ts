import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "delete", description: "delete a lease" },
  args: {
    id: { type: "positional", required: false, description: "<lease id> ..." },
    sync: { type: "boolean", description: "Synchronously remove leases and all unreferenced resources" },
  },
  async run({ args }) {
    need(args.id, "lease id");
    const leases = daemon().client(Leases);
    for (const id of args._) {
      await about(`lease "${id}"`, leases.delete({ id, sync: !!args.sync }));
      write(`${id}\n`);
    }
  },
});

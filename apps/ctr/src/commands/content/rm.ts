/** Deletes blobs, printing each digest deleted; a missing one is reported (warning) and skipped. */
import { Content } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { describeError, isNotFound } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "delete", description: "permanently delete one or more blobs" },
  args: { digest: { type: "positional", required: false, description: "[<digest>, ...]" } },
  async run({ args }) {
    need(args.digest, "digest");
    const content = daemon().client(Content);
    for (const digest of args._) {
      try {
        await content.delete({ digest });
        write(`${digest}\n`);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        process.stderr.write(`bctr: content digest ${digest}: ${describeError(e).replace(/^.*: /, "")}\n`);
      }
    }
  },
});

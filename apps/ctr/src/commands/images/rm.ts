/** Removes images by name, printing each removed; a missing one is a warning, as in Go ctr. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { CommandError, describeError, isNotFound } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "delete", description: "remove one or more images by reference" },
  args: {
    ref: { type: "positional", required: false, description: "<ref> [<ref>, ...]" },
    sync: { type: "boolean", description: "Synchronously remove image and all associated resources" },
  },
  async run({ args }) {
    need(args.ref, "image reference");
    const images = daemon().client(Images);
    let failed: string | undefined;
    for (const name of args._) {
      try {
        await images.delete({ name, sync: !!args.sync });
        write(`${name}\n`);
      } catch (e) {
        if (isNotFound(e)) {
          process.stderr.write(`bctr: warning: image "${name}": not found\n`);
          continue;
        }
        failed ??= `unable to delete ${name}: ${describeError(e)}`;
        process.stderr.write(`bctr: unable to delete ${name}: ${describeError(e)}\n`);
      }
    }
    if (failed) throw new CommandError(failed);
  },
});

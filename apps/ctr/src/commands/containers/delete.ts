/** `bctr containers delete [--keep-snapshot] ID...`: each container (a stopped task first, its
 *  snapshot unless kept); failures are reported per container and the command fails at the end. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { describeError, UsageError } from "../../cli/errors.ts";
import { removeContainer } from "./remove.ts";

export default defineCommand({
  meta: { name: "delete", description: "delete one or more existing containers" },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER [CONTAINER, ...]" },
    "keep-snapshot": { type: "boolean", description: "do not clean up snapshot with container" },
  },
  async run({ args }) {
    const ids = args._;
    if (ids.length === 0) throw new UsageError("must specify at least one container to delete");
    const d = daemon();
    let failed: unknown;
    for (const id of ids) {
      try {
        await removeContainer(d, id, { keepSnapshot: args["keep-snapshot"] });
      } catch (e) {
        failed ??= e;
        process.stderr.write(`bctr: failed to delete container "${id}": ${describeError(e, d.address)}\n`);
      }
    }
    if (failed) throw failed;
  },
});

/** Removes each named namespace, printing the ones removed; a missing one is not an error (as
 *  in Go ctr), any other failure is reported and makes the exit code non-zero. */
import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { CommandError, describeError, isNotFound } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "remove", description: "remove one or more namespaces" },
  args: {
    name: { type: "positional", required: false, description: "<name> [<name>, ...]" },
    cgroup: { type: "boolean", alias: "c", description: "delete the namespace's cgroup" },
  },
  async run({ args }) {
    need(args.name, "namespace name");
    const ns = daemon().client(Namespaces);
    let failed: string | undefined;
    for (const name of args._) {
      try {
        await ns.delete({ name });
      } catch (e) {
        if (!isNotFound(e)) {
          failed ??= `unable to delete ${name}: ${describeError(e)}`;
          process.stderr.write(`bctr: unable to delete ${name}: ${describeError(e)}\n`);
          continue;
        }
      }
      write(`${name}\n`);
    }
    if (failed) throw new CommandError(failed);
  },
});

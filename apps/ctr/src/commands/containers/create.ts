/** `bctr containers create [flags] IMAGE ID [COMMAND] [ARG...]`: the container record, its
 *  snapshot and spec, without a task (Go ctr's `containers create`). */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { UsageError } from "../../cli/errors.ts";
import { containerFlags } from "../run/container-flags.ts";
import { newContainer } from "../run/container.ts";
import { cittyArgs, parseFlags } from "../run/flags.ts";

export default defineCommand({
  meta: { name: "create", description: "create container" },
  args: cittyArgs(containerFlags, {
    image: "Image|RootFS",
    container: "CONTAINER",
    command: "[COMMAND] [ARG...]",
  }),
  async run({ rawArgs }) {
    const { flags, set, args } = parseFlags(containerFlags, rawArgs);
    const [ref, id, ...cmd] = args;
    if (!ref) throw new UsageError("image ref must be provided");
    if (!id) throw new UsageError("container id must be provided");
    await newContainer(daemon(), { ref, id, args: cmd, flags, set });
  },
});

/** `bctr content fetch-object [registry flags] REMOTE [OBJECT [HINT…]]`: as Go ctr 1.6, resolves
 *  REMOTE (a reference; `name@digest` names any object in the repository) and writes what it
 *  names to stdout, verified against its digest. OBJECT and the hints are accepted and unused,
 *  as in Go ctr. Talks to the registry only: no daemon call. */
import { defineCommand } from "citty";
import { need, registryArgs } from "../../cli/flags.ts";
import { resolverFor } from "../../image/registry.ts";

export default defineCommand({
  meta: { name: "fetch-object", description: "retrieve objects from a remote" },
  args: {
    ...registryArgs,
    remote: { type: "positional", required: false, description: "<remote> <object> [<hint>, ...]" },
  },
  async run({ args }) {
    const ref = need(args.remote, "remote");
    const resolver = await resolverFor(args);
    const { name, desc } = await resolver.resolve(ref);
    for await (const chunk of resolver.fetcher(name).fetch(desc)) {
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
    }
  },
});

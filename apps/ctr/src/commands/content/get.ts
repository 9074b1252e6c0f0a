/** Writes each named blob to stdout. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { readContent } from "../../image/content.ts";

export default defineCommand({
  meta: { name: "get", description: "get the data for an object" },
  args: { digest: { type: "positional", required: false, description: "[<digest>, ...]" } },
  async run({ args }) {
    need(args.digest, "digest");
    const d = daemon();
    for (const digest of args._) {
      const it = readContent(d, digest)[Symbol.asyncIterator]();
      for (;;) {
        const n = await about(`content digest ${digest}`, it.next());
        if (n.done) break;
        if (!process.stdout.write(n.value)) await new Promise((r) => process.stdout.once("drain", r));
      }
    }
  },
});

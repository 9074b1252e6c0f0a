/** Sets (`k=v`) and clears (`k=`) labels on a blob; prints the labels after the update. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need, parseLabels } from "../../cli/flags.ts";
import { labelList, write } from "../../cli/output.ts";
import { setLabels } from "../../image/content.ts";

export default defineCommand({
  meta: { name: "label", description: "add labels to content" },
  args: { digest: { type: "positional", required: false, description: "<digest> [<label>=<value> ...]" } },
  async run({ args }) {
    const digest = need(args.digest, "digest");
    const labels = parseLabels(args._.slice(1));
    const { info } = await about(`content digest ${digest}`, setLabels(daemon(), digest, labels));
    write(`${labelList(info?.labels)}\n`);
  },
});

/** Reads stdin into the content store under ingest ref `<key>`, verifying the expected digest
 *  and size when given. */
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { writeContent } from "../../image/content.ts";

async function* stdin(): AsyncIterable<Uint8Array> {
  const reader = Bun.stdin.stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
}

export default defineCommand({
  meta: { name: "ingest", description: "accept content into the store" },
  args: {
    key: { type: "positional", required: false, description: "<key>" },
    "expected-size": { type: "string", description: "validate against provided size (default: 0)" },
    "expected-digest": { type: "string", description: "verify content against expected digest" },
  },
  async run({ args }) {
    const ref = need(args.key, "must specify a transaction reference");
    const total = Number(args["expected-size"] ?? 0);
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new Error(`invalid --expected-size ${JSON.stringify(args["expected-size"])}: want a byte count`);
    }
    // No lease, as in Go ctr: the blob stays until garbage collection finds it unreferenced.
    await writeContent(daemon(), stdin(), { ref, total, expected: args["expected-digest"] ?? "" });
  },
});

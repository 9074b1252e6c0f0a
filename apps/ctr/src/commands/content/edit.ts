/** `bctr content edit [--editor E] [--validate F] DIGEST`: the blob into a temp file, the editor
 *  on it (`sh -c "E FILE"`, as Go ctr runs it, so E may carry arguments), the result written
 *  back as new content; prints the new digest. `--validate` is refused as Go ctr 1.6 refuses it. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, CommandError } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { readBlob, writeContent } from "../../image/content.ts";

export default defineCommand({
  meta: { name: "edit", description: "edit a blob and return a new digest" },
  args: {
    validate: { type: "string", description: "validate the result against a format (json, mediatype, etc.)" },
    editor: { type: "string", description: "select editor (vim, emacs, etc.) [$EDITOR]" },
    digest: { type: "positional", required: false, description: "<digest>" },
  },
  async run({ args }) {
    const digest = need(args.digest, "digest");
    const editor = args.editor || process.env.EDITOR;
    if (!editor) throw new CommandError("editor is required");
    if (args.validate) throw new CommandError("validating the edit result not supported");
    const d = daemon();
    const blob = await about(`content digest ${digest}`, readBlob(d, digest));
    const dir = mkdtempSync(join(tmpdir(), "bctr-edit-"));
    try {
      const file = join(dir, "blob");
      writeFileSync(file, blob);
      const p = Bun.spawn(["sh", "-c", `${editor} ${file}`], {
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      });
      const code = await p.exited;
      if (code !== 0) throw new CommandError(`editor "${editor}" exited with status ${code}`);
      const edited = new Uint8Array(readFileSync(file));
      const out = await writeContent(d, edited, { ref: `edit-${digest}`, total: edited.length });
      process.stdout.write(`${out}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

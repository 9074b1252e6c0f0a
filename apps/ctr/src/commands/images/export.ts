/** `bctr images export [flags] <out> <image> ...`: an OCI layout tar (`-` for stdout), written by
 *  the daemon's Transfer service when it has one (bunkerd), else client-side. */
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { isUnimplemented } from "../../cli/errors.ts";
import { exportImages } from "../../image/export.ts";
import { transferExport } from "../../image/transfer.ts";

export default defineCommand({
  meta: { name: "export", description: "export images" },
  args: {
    out: { type: "positional", required: false, description: "<out> <image> ..." },
    "skip-manifest-json": {
      type: "boolean",
      description: "do not add Docker compatible manifest.json to archive",
    },
    "skip-non-distributable": {
      type: "boolean",
      description: "do not add non-distributable blobs such as Windows layers to archive",
    },
    platform: { type: "string", description: "Pull content from a specific platform" },
    "all-platforms": { type: "boolean", description: "exports content from all platforms" },
    local: { type: "boolean", description: "export client-side even if the daemon has the Transfer service" },
  },
  async run({ args }) {
    const out = need(args.out, "please provide an output path");
    const names = args._.slice(1);
    need(names[0], "please provide an image name to export");
    const matcher = args["all-platforms"]
      ? platforms.all
      : platforms.only(args.platform ? platforms.parse(args.platform) : platforms.defaultSpec());
    const d = daemon();
    if (!args.local) {
      // Written to a temp name and renamed, so a failed export leaves nothing half-written.
      const tmp = out === "-" ? undefined : `${out}.bctr-${process.pid}`;
      const fd = tmp ? openSync(tmp, "w", 0o644) : 1;
      try {
        await transferExport(d, names, {
          platforms: [args.platform ? platforms.parse(args.platform) : platforms.defaultSpec()],
          allPlatforms: args["all-platforms"],
          skipManifestJson: args["skip-manifest-json"],
          skipNonDistributable: args["skip-non-distributable"],
          write: (chunk) => {
            for (let o = 0; o < chunk.length; ) o += writeSync(fd, chunk, o);
          },
        });
        if (tmp) {
          closeSync(fd);
          renameSync(tmp, out);
        }
        return;
      } catch (e) {
        if (tmp) {
          closeSync(fd);
          rmSync(tmp, { force: true });
        }
        if (!isUnimplemented(e)) throw e;
        // containerd 1.6: no Transfer service; export client-side as Go ctr 1.6 does.
      }
    }
    await exportImages(d, out, names, { matcher, skipManifestJson: args["skip-manifest-json"] });
  },
});

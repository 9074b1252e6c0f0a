/** `bctr images import [flags] <in>`: an OCI layout or docker-save tar (`-` for stdin), streamed
 *  to the daemon's Transfer service when it has one (bunkerd), else imported client-side. */
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need, snapshotterArgs, snapshotterOf } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";
import { isUnimplemented } from "../../cli/errors.ts";
import { importArchive } from "../../image/import.ts";
import { ProgressView } from "../../image/progress.ts";
import { viewTransfer } from "../../image/pull.ts";
import { transferImport } from "../../image/transfer.ts";

/** The archive's bytes as a stream (a file, or stdin for "-"). */
async function* chunks(path: string): AsyncIterable<Uint8Array> {
  const stream = path === "-" ? Bun.stdin.stream() : Bun.file(path).stream();
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
}

export default defineCommand({
  meta: { name: "import", description: "import images" },
  args: {
    in: { type: "positional", required: false, description: "<in>" },
    "base-name": { type: "string", description: "base image name for added images" },
    digests: { type: "boolean", description: "whether to create digest images (default: false)" },
    "skip-digest-for-named": {
      type: "boolean",
      description: "skip applying --digests option to images named in the importing tar",
    },
    "index-name": {
      type: "string",
      description: "image name to keep index as, by default index is discarded",
    },
    "all-platforms": { type: "boolean", description: "imports content for all platforms, false by default" },
    platform: { type: "string", description: "imports content for specific platform" },
    "no-unpack": { type: "boolean", description: "skip unpacking the images, false by default" },
    "compress-blobs": {
      type: "boolean",
      description: "compress uncompressed blobs when creating manifest (Docker format only)",
    },
    ...snapshotterArgs,
    local: { type: "boolean", description: "import client-side even if the daemon has the Transfer service" },
  },
  async run({ args }) {
    const path = need(args.in, "please provide an image archive to import");
    const platform = args.platform ? platforms.parse(args.platform) : platforms.defaultSpec();
    const unpack = args["no-unpack"] ? undefined : snapshotterOf(args.snapshotter);
    const d = daemon();
    if (!args.local) {
      const view = new ProgressView(process.stdout);
      try {
        // containerd 1.7's naming: names in the archive under a prefix, "import-<date>" by default.
        const prefix = args["base-name"] || `import-${new Date().toISOString().slice(0, 10)}`;
        await transferImport(d, chunks(path), {
          indexName: args["index-name"],
          prefix,
          overwrite: !args["base-name"],
          digests: args.digests,
          skipNamedDigest: args["skip-digest-for-named"],
          platforms: [platform],
          allPlatforms: args["all-platforms"],
          unpack,
          forceCompress: args["compress-blobs"],
          onProgress: (p) => viewTransfer(view, p),
        });
        view.finish(true);
        return;
      } catch (e) {
        view.finish(false);
        if (!isUnimplemented(e)) throw e;
        // containerd 1.6: no Transfer service; import client-side as Go ctr 1.6 does.
      }
    }
    const tar = new Uint8Array(
      path === "-"
        ? await new Response(Bun.stdin.stream()).arrayBuffer()
        : await Bun.file(path).arrayBuffer(),
    );
    await importArchive(d, tar, {
      baseName: args["base-name"],
      digests: args.digests,
      indexName: args["index-name"],
      allPlatforms: args["all-platforms"],
      matcher: platforms.only(platform),
      unpack,
      onImage: (name, digest) => write(`unpacking ${name} (${digest})...done\n`),
    });
  },
});

/** `bctr images push [flags] <remote> [<local>]`: pushes a local image (by default the one
 *  named `<remote>`) to a registry, with progress: through the daemon's Transfer service when
 *  it has one (bunkerd), else client-side (containerd 1.6). */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, isUnimplemented } from "../../cli/errors.ts";
import { need, registryArgs } from "../../cli/flags.ts";
import { ProgressView } from "../../image/progress.ts";
import { viewTransfer } from "../../image/pull.ts";
import { pushImage } from "../../image/push.ts";
import { credentialsOf, hostsDirOf, usesClientTls } from "../../image/registry.ts";
import { transferPush } from "../../image/transfer.ts";
import { toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "push", description: "push an image to a remote" },
  args: {
    remote: { type: "positional", required: false, description: "<remote> [<local>]" },
    image: { type: "positional", required: false, description: "local image name (default: <remote>)" },
    ...registryArgs,
    manifest: { type: "string", description: "digest of manifest" },
    "manifest-type": {
      type: "string",
      description: "media type of manifest digest",
      default: "application/vnd.oci.image.manifest.v1+json",
    },
    platform: { type: "string", description: "push content from a specific platform" },
    "max-concurrent-uploaded-layers": {
      type: "string",
      description: "Set the max concurrent uploaded layers for each push",
    },
    local: { type: "boolean", description: "push client-side even if the daemon has the Transfer service" },
  },
  async run({ args }) {
    const remote = need(args.remote, "please provide a remote image reference to push");
    const local = args.image || remote;
    const d = daemon();
    let target: { mediaType: string; digest: string; size: number };
    if (args.manifest) {
      const { Content } = await import("@bunkerd/proto/containerd/services/content/v1/content_pb.ts");
      const { info } = await about(
        `content digest ${args.manifest}`,
        d.client(Content).info({ digest: args.manifest }),
      );
      target = { mediaType: args["manifest-type"], digest: args.manifest, size: Number(info!.size) };
    } else {
      const { image } = await about(`image "${local}"`, d.client(Images).get({ name: local }));
      target = toDescriptor(image!.target!);
    }
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    const view = new ProgressView(process.stdout);
    let ok = false;
    try {
      if (!args.local && !args.manifest && !usesClientTls(args)) {
        try {
          await transferPush(d, local, remote, {
            plainHttp: args["plain-http"],
            hostsDir: hostsDirOf(args),
            credentials: await credentialsOf(args.user, args.refresh),
            platforms: args.platform ? [platforms.parse(args.platform)] : [],
            onProgress: (p) => viewTransfer(view, p),
            signal: abort.signal,
          });
          ok = true;
          return;
        } catch (e) {
          if (!isUnimplemented(e)) throw e;
          // containerd 1.6: no Transfer service; push client-side as Go ctr 1.6 does.
        }
      }
      await pushImage(d, {
        ...args,
        remote,
        target,
        matcher: args.platform ? platforms.only(platforms.parse(args.platform)) : undefined,
        progress: view,
        concurrency: Number(args["max-concurrent-uploaded-layers"] ?? 0),
        signal: abort.signal,
      });
      ok = true;
    } finally {
      view.finish(ok);
    }
  },
});

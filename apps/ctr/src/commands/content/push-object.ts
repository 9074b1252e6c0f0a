/** `bctr content push-object [registry flags] REMOTE DIGEST MEDIATYPE`: pushes one blob of the
 *  content store to REMOTE's repository with that media type, as Go ctr 1.6: a manifest or index
 *  type is PUT as a manifest (under REMOTE's tag, or by digest), anything else uploaded as a blob.
 *  Prints `Pushed DIGEST MEDIATYPE`. */
import { Content } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { isManifestOrIndexType } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, UsageError } from "../../cli/errors.ts";
import { need, registryArgs } from "../../cli/flags.ts";
import { readBlob, readContent } from "../../image/content.ts";
import { resolverFor } from "../../image/registry.ts";

export default defineCommand({
  meta: { name: "push-object", description: "push an object to a remote" },
  args: {
    ...registryArgs,
    remote: { type: "positional", required: false, description: "<remote> <object> <type>" },
  },
  async run({ args }) {
    const ref = need(args.remote, "remote");
    const [, object, mediaType] = args._;
    if (!object) throw new UsageError("object digest must be provided");
    if (!mediaType) throw new UsageError("media type must be provided");
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(object))
      throw new UsageError(`invalid digest "${object}"`);
    const d = daemon();
    const { info } = await about(`content digest ${object}`, d.client(Content).info({ digest: object }));
    const desc = { mediaType, digest: object, size: Number(info?.size ?? 0) };
    const resolver = await resolverFor(args);
    const pusher = resolver.pusher(ref);
    if (isManifestOrIndexType(mediaType)) {
      await pusher.pushManifest(ref, desc, await readBlob(d, object));
    } else {
      await pusher.push(desc, () => readContent(d, object));
    }
    process.stdout.write(`Pushed ${desc.digest} ${desc.mediaType}\n`);
  },
});

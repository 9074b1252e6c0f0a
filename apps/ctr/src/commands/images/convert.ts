/** `bctr images convert [--uncompress] [--oci] [--platform P…|--all-platforms] SRC TARGET`: as Go
 *  ctr 1.6 (image/convert.go), client-side on both daemons; prints the new target digest.
 *  Without --platform or --all-platforms only the host's platform is kept (strictly, as Go). */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { platforms } from "@bunkerd/registry";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about, isAlreadyExists, UsageError } from "../../cli/errors.ts";
import { repeated } from "../../cli/flags.ts";
import { Converter } from "../../image/convert.ts";
import { toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "convert", description: "convert an image" },
  args: {
    uncompress: { type: "boolean", description: "convert tar.gz layers to uncompressed tar layers" },
    oci: { type: "boolean", description: "convert Docker media types to OCI media types" },
    platform: { type: "string", description: "Pull content from a specific platform" },
    "all-platforms": { type: "boolean", description: "exports content from all platforms" },
    source: { type: "positional", required: false, description: "<source_ref> <target_ref>" },
  },
  async run({ args, rawArgs }) {
    const [src, dst] = args._;
    if (!src || !dst) throw new UsageError("src and target image need to be specified");
    const wanted = repeated(rawArgs, "platform").map(platforms.parse);
    const matcher = args["all-platforms"]
      ? undefined
      : wanted.length
        ? platforms.ordered(...wanted)
        : platforms.onlyStrict(platforms.defaultSpec());
    const digest = await daemon().withLease(async (d) => {
      const images = d.client(Images);
      const { image } = await about(`image "${src}"`, images.get({ name: src }));
      const target = toDescriptor(image!.target!);
      const converted = await new Converter(d, {
        uncompress: !!args.uncompress,
        oci: !!args.oci,
        matcher,
      }).convert(target);
      const next = {
        name: dst,
        labels: image!.labels,
        target: { mediaType: converted.mediaType, digest: converted.digest, size: BigInt(converted.size) },
      };
      try {
        await images.create({ image: next });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        await images.update({ image: next });
      }
      return converted.digest;
    });
    process.stdout.write(`${digest}\n`);
  },
});

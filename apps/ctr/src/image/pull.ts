/** `images pull` / `content fetch`: through the daemon's Transfer service when it has one
 *  (bunkerd), else client-side as Go ctr 1.6 does (containerd 1.6): fetch into content, create
 *  the image, unpack. Progress goes to a ProgressView; Ctrl-C aborts cleanly. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import type { Progress } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import { isLayerType, type Platform, type PlatformMatcher, platforms } from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { isAlreadyExists, isUnimplemented } from "../cli/errors.ts";
import { fetchImage } from "./fetch-local.ts";
import { ProgressView } from "./progress.ts";
import { credentialsOf, hostsDirOf, type RegistryFlags, resolverFor, usesClientTls } from "./registry.ts";
import { transferPull } from "./transfer.ts";
import { unpackImage } from "./unpack.ts";
import { imageChainId, manifestFor, readConfig, toDescriptor } from "./walk.ts";

export interface PullOptions extends RegistryFlags {
  ref: string;
  platforms: string[];
  allPlatforms?: boolean;
  allMetadata?: boolean;
  metadataOnly?: boolean;
  /** Snapshotter to unpack into; none for content fetch. */
  unpack?: string;
  labels: Record<string, string>;
  concurrency?: number;
  printChainId?: boolean;
  /** Use the client-side path even if the daemon has Transfer. */
  local?: boolean;
}

/** What the pull resolved: the image's name and target. */
export interface Pulled {
  name: string;
  via: "transfer" | "local";
}

function onCtrlC(): AbortController {
  const abort = new AbortController();
  const stop = () => abort.abort(new Error("canceled"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return abort;
}

const platformList = (o: PullOptions): Platform[] =>
  o.platforms.length ? o.platforms.map(platforms.parse) : [platforms.defaultSpec()];

function matcherOf(o: PullOptions): PlatformMatcher {
  if (o.allPlatforms) return platforms.all;
  const ps = platformList(o);
  return ps.length === 1 ? platforms.only(ps[0]!) : platforms.ordered(...ps.map(platforms.normalize));
}

/** One Transfer progress message on the view. With `unpacks` (the daemon unpacks the pull), a
 *  layer's `complete` is only `downloaded`: it is `done` once the daemon reports it `unpacked`. */
export function viewTransfer(view: ProgressView, p: Progress, unpacks = false) {
  const total = Number(p.total);
  const offset = Number(p.progress);
  switch (p.event) {
    case "waiting":
      return view.update(p.name, "waiting", offset, total);
    case "downloading":
      return view.update(p.name, "downloading", offset, total);
    case "uploading":
      return view.update(p.name, "uploading", offset, total);
    case "complete":
      if (unpacks && p.desc && isLayerType(p.desc.mediaType))
        return view.update(p.name, "downloaded", total, total);
      return view.update(p.name, "done", total, total);
    case "unpacking":
      return view.update(p.name, "unpacking", offset, total);
    case "unpacked":
      return view.update(p.name, "done", total, total);
    case "already exists":
      return view.update(p.name, "exists", total, total);
    default:
      return view.note(p.name && p.name !== p.event ? `${p.event} ${p.name}` : p.event);
  }
}

export async function pull(d: Daemon, o: PullOptions): Promise<Pulled> {
  const abort = onCtrlC();
  const view = new ProgressView(process.stdout);
  let ok = false;
  try {
    if (!o.local && !o.metadataOnly && !usesClientTls(o)) {
      try {
        await transferPull(d, o.ref, {
          name: o.ref,
          // --all-platforms: every platform's content and no unpack in the daemon (its unpacker
          // refuses platforms it was not given, as containerd 1.7's; ctr 1.7 sends none either);
          // the host's is unpacked below, as the client-side pull does.
          platforms: o.allPlatforms ? [] : platformList(o),
          allPlatforms: o.allPlatforms,
          unpack: o.allPlatforms ? undefined : o.unpack,
          labels: o.labels,
          plainHttp: o["plain-http"],
          hostsDir: hostsDirOf(o),
          credentials: await credentialsOf(o.user, o.refresh),
          allMetadata: o.allMetadata,
          onProgress: (p) => viewTransfer(view, p, !o.allPlatforms && !!o.unpack),
          signal: abort.signal,
        });
        if (o.allPlatforms && o.unpack) {
          const { image } = await d.client(Images).get({ name: o.ref });
          await d.withLease((leased) =>
            unpackPlatforms(leased, o, toDescriptor(image!.target!), view, abort.signal),
          );
        }
        ok = true;
        view.finish(true);
        if (o.printChainId && o.unpack) await printChainId(d, o);
        return { name: o.ref, via: "transfer" };
      } catch (e) {
        if (!isUnimplemented(e)) throw e;
        // containerd 1.6: no Transfer/Streaming. Pull client-side.
      }
    }
    await d.withLease(async (leased) => {
      const resolver = await resolverFor(o);
      view.note(`${o.ref}: resolving`);
      const { name, desc } = await resolver.resolve(o.ref, { signal: abort.signal });
      view.note(`${o.ref}: resolved ${desc.digest}`);
      const matcher = matcherOf(o);
      await fetchImage(leased, resolver, name, desc, {
        matcher,
        limit: o.allPlatforms || o.platforms.length > 1 ? 0 : 1,
        metadataOnly: o.metadataOnly,
        progress: view,
        signal: abort.signal,
        concurrency: o.concurrency || 3,
      });
      const image = {
        name: o.ref,
        labels: o.labels,
        target: { mediaType: desc.mediaType, digest: desc.digest, size: BigInt(desc.size) },
      };
      const images = leased.client(Images);
      try {
        await images.create({ image });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        await images.update({
          image,
          updateMask: { paths: ["target", ...Object.keys(o.labels).map((k) => `labels.${k}`)] },
        });
      }
      if (o.unpack) await unpackPlatforms(leased, o, toDescriptor(image.target), view, abort.signal);
    });
    ok = true;
    view.finish(true);
    if (o.printChainId && o.unpack) await printChainId(d, o);
    return { name: o.ref, via: "local" };
  } catch (e) {
    if (abort.signal.aborted) throw new Error(`pull ${o.ref}: canceled`);
    throw e;
  } finally {
    if (!ok) view.finish(false);
  }
}

/** Client-side unpack of the pulled image: the platforms asked for, the host's with --all-platforms. */
async function unpackPlatforms(
  leased: Daemon,
  o: PullOptions,
  target: ReturnType<typeof toDescriptor>,
  view: ProgressView,
  signal: AbortSignal,
) {
  const targets = o.allPlatforms ? [platforms.defaultSpec()] : platformList(o);
  for (const p of targets) {
    const { manifest } = await manifestFor(leased, target, platforms.only(p));
    const config = await readConfig(leased, manifest.config);
    await unpackImage(leased, manifest, config, {
      snapshotter: o.unpack!,
      signal,
      onLayer: (l, s) => view.update(`layer-${l.digest}`, s === "exists" ? "exists" : s, l.size, l.size),
    });
    view.note(`unpacked ${platforms.format(p)} ${manifest.config.digest}`);
  }
}

async function printChainId(d: Daemon, o: PullOptions) {
  const { image } = await d.client(Images).get({ name: o.ref });
  const { chainId } = await imageChainId(d, toDescriptor(image!.target!), matcherOf(o));
  process.stdout.write(`image chain ID: ${chainId}\n`);
}

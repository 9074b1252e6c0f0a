/** The walking differ: containerd's `diff/walking` (Compare) with `diff/apply` (Apply), taking
 *  plain data so it can be called across a worker port. The layer blob is read from the path
 *  the content store gives; a produced layer goes to a callback or straight to a file. */
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { BunkerError, Kind, type Logger } from "@bunkerd/plugin-api";
import { applyToMounts } from "./apply.ts";
import { doubleWalkChanges, overlayChanges, upperdirSelfContained } from "./changes.ts";
import { openLayer } from "./decompress.ts";
import { ChangeWriter, type LayerCompression, LayerOutput } from "./diff.ts";
import { diffCompression, MediaType } from "./mediatype.ts";
import { type Mount, readonlyMounts, withReadonlyTempMount } from "./mount.ts";
import { Root } from "./resolve.ts";
import { TarWriter } from "./tar-writer.ts";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ApplyOptions {
  /** The blob on disk (the content store's path for `desc.digest`). */
  blobPath: string;
  /** Bound on uncompressed bytes (default: 256 × the compressed size, at least 1 GiB). */
  maxUncompressed?: number;
  /** Where temporary mount points go (`<root>/tmpmounts`). */
  tmpMountsDir: string;
}

export interface CompareOptions {
  /** Layer media type to produce: tar, tar+gzip (default) or tar+zstd. */
  mediaType?: string;
  tmpMountsDir: string;
  /** Receives the blob, chunk by chunk; or a file path to create (it must not exist). */
  write: ((chunk: Uint8Array) => Promise<void>) | string;
  /** "auto" (default) walks only an overlay upperdir when `upper` is that overlay over
   *  `lower`; "double" always walks both trees. */
  walk?: "auto" | "double";
}

export interface CompareResult {
  mediaType: string;
  /** Digest of the blob as written. */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar (the `containerd.io/uncompressed` label). */
  diffID: string;
}

function compressionFor(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MediaType.ImageLayer:
      return "none";
    case MediaType.ImageLayerGzip:
      return "gzip";
    case MediaType.ImageLayerZstd:
      return "zstd";
    default:
      throw new BunkerError(Kind.NotImplemented, `unsupported diff media type: ${mediaType}`);
  }
}

/** The upperdir to walk when `upper` is one overlay whose lower layers are exactly what
 *  `lower` mounts: then only the upperdir needs walking (continuity's DiffDirChanges). */
export function overlayUpperdir(lower: Mount[], upper: Mount[]): string | undefined {
  if (upper.length !== 1 || upper[0]!.type !== "overlay" || lower.length !== 1) return undefined;
  const opt = (m: Mount, k: string) => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const upperdir = opt(upper[0]!, "upperdir");
  const lowers = opt(upper[0]!, "lowerdir")
    ?.split(":")
    .map((d) => resolve(d));
  if (upperdir === undefined || lowers === undefined) return undefined;
  const l = lower[0]!;
  let view: string[] | undefined;
  if (l.type === "bind") view = [resolve(l.source)];
  else if (l.type === "overlay")
    view = opt(readonlyMounts([l])[0]!, "lowerdir")
      ?.split(":")
      .map((d) => resolve(d));
  if (view === undefined || view.length !== lowers.length || view.some((d, i) => d !== lowers[i]))
    return undefined;
  return upperdir;
}

export class WalkingDiffer {
  constructor(private readonly log?: Logger) {}

  /** Applies the layer `desc` (read from `opts.blobPath`) onto `mounts`; returns the
   *  uncompressed descriptor: digest = diffID, size = uncompressed bytes. */
  async apply(desc: Descriptor, mounts: Mount[], opts: ApplyOptions): Promise<Descriptor> {
    const started = performance.now();
    const declared = diffCompression(desc.mediaType);
    const layer = openLayer(opts.blobPath, {
      declared,
      compressedSize: desc.size,
      maxUncompressed: opts.maxUncompressed,
      reuseChunks: true,
    });
    const r = await applyToMounts(mounts, layer.chunks, opts.tmpMountsDir, {
      warn: (m) => this.log?.warn(m),
    });
    this.log?.debug(
      `diff applied: digest=${desc.digest} media=${desc.mediaType} size=${desc.size} entries=${r.entries} d=${(
        performance.now() - started
      ).toFixed(0)}ms`,
    );
    return { mediaType: MediaType.ImageLayer, digest: r.diffID, size: r.size };
  }

  /** Writes the changes from `lower` to `upper` as a layer. */
  async compare(lower: Mount[], upper: Mount[], opts: CompareOptions): Promise<CompareResult> {
    const mediaType = opts.mediaType ?? MediaType.ImageLayerGzip;
    const compression = compressionFor(mediaType);
    let fd = -1;
    const dest = opts.write;
    const sink =
      typeof dest === "string"
        ? async (chunk: Uint8Array) => {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
          }
        : dest;
    if (typeof dest === "string") fd = openSync(dest, "wx", 0o644);
    const out = new LayerOutput(compression, sink);
    try {
      let upperdir = opts.walk === "double" ? undefined : overlayUpperdir(lower, upper);
      if (upperdir !== undefined) {
        const ur = new Root(upperdir);
        try {
          if (!upperdirSelfContained(ur.fd)) {
            this.log?.debug(`upperdir ${upperdir} has redirects or metacopy: walking both trees`);
            upperdir = undefined;
          }
        } finally {
          ur.close();
        }
      }
      await withReadonlyTempMount(opts.tmpMountsDir, lower, async (lowerRoot) => {
        const lr = new Root(lowerRoot);
        try {
          if (upperdir !== undefined) {
            await this.write(out, upperdir, (cw, ur) => overlayChanges(lr, ur.fd, ur, cw.handle));
          } else {
            await withReadonlyTempMount(opts.tmpMountsDir, upper, (upperRoot) =>
              this.write(out, upperRoot, (cw, ur) => doubleWalkChanges(lr.fd, ur.fd, cw.handle)),
            );
          }
        } finally {
          lr.close();
        }
      });
      const d = await out.close();
      if (fd >= 0) {
        closeSync(fd);
        fd = -1;
      }
      return { mediaType, digest: d.digest, size: d.size, diffID: d.diffID };
    } catch (e) {
      out.destroy();
      if (fd >= 0) {
        closeSync(fd);
        rmSync(dest as string, { force: true });
      }
      throw e;
    }
  }

  private async write(
    out: LayerOutput,
    upperRoot: string,
    changes: (cw: ChangeWriter, upper: Root) => Promise<void>,
  ): Promise<void> {
    const ur = new Root(upperRoot);
    try {
      const tw = new TarWriter(out.write);
      await changes(new ChangeWriter(tw, ur), ur);
      await tw.close();
    } finally {
      ur.close();
    }
  }
}

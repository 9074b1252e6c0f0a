/** Layer media types and the compression each one declares: containerd's
 *  `images.DiffCompression`. An empty answer means "plain tar, do not decompress"; anything
 *  else means "decompress, detecting the format from the magic bytes" — containerd's
 *  DecompressStream trusts the bytes over the media type. */
import { BunkerError, Kind } from "@bunkerd/plugin-api";

export const MediaType = {
  ImageLayer: "application/vnd.oci.image.layer.v1.tar",
  ImageLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ImageLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ImageLayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ImageLayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ImageLayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerLayerForeign: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  DockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** "" = uncompressed tar; "unknown" = Docker's plain type, which may be compressed anyway. */
export type DiffCompression = "" | "gzip" | "zstd" | "unknown";

/** containerd's parseMediaTypes: the base type and its sorted `+` suffixes. */
function parse(mt: string): [base: string, ext: string[]] {
  const i = mt.indexOf("+");
  if (i < 0) return [mt, []];
  return [
    mt.slice(0, i),
    mt
      .slice(i + 1)
      .split("+", 50)
      .sort(),
  ];
}

/** The compression a layer media type declares, or NotImplemented for what is no layer. */
export function diffCompression(mediaType: string): DiffCompression {
  const [base, ext] = parse(mediaType);
  // No stream processor here decrypts: refuse rather than feed ciphertext to the tar reader.
  if (ext.includes("encrypted")) {
    throw new BunkerError(Kind.NotImplemented, `unsupported diff media type: ${mediaType}`);
  }
  switch (base) {
    case MediaType.DockerLayer:
    case MediaType.DockerLayerForeign:
      return ext.length > 0 ? "" : "unknown";
    case MediaType.DockerLayerGzip:
    case MediaType.DockerLayerForeignGzip:
      return ext.length > 0 ? "" : "gzip";
    case MediaType.DockerLayerZstd:
      return ext.length > 0 ? "" : "zstd";
    case MediaType.ImageLayer:
    case MediaType.ImageLayerNonDistributable: {
      const last = ext[ext.length - 1];
      return last === "gzip" || last === "zstd" ? last : "";
    }
    default:
      throw new BunkerError(Kind.NotImplemented, `unsupported diff media type: ${mediaType}`);
  }
}

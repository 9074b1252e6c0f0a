/** Media types containerd knows (images/mediatypes.go and the OCI image spec), and the
 *  predicates it sorts descriptors with. */

export const MediaType = {
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Signed schema 1; registries also serve it unsigned as `…v1+json`. Refused here. */
  DockerSchema1Manifest: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  DockerSchema1ManifestUnsigned: "application/vnd.docker.distribution.manifest.v1+json",
  ContainerdCheckpointConfig: "application/vnd.containerd.container.checkpoint.config.v1+proto",
} as const;

/** The Accept list containerd's resolver sends for a HEAD/GET by tag or digest. */
export const RESOLVE_ACCEPT = [
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
  "*",
].join(", ");

export const isManifestType = (mt: string) => mt === MediaType.DockerManifest || mt === MediaType.OciManifest;
export const isIndexType = (mt: string) => mt === MediaType.DockerManifestList || mt === MediaType.OciIndex;
/** Anything fetched from the manifests endpoint rather than blobs. */
export const isManifestOrIndexType = (mt: string) =>
  isManifestType(mt) || isIndexType(mt) || isSchema1Type(mt);
export const isSchema1Type = (mt: string) =>
  mt === MediaType.DockerSchema1Manifest || mt === MediaType.DockerSchema1ManifestUnsigned;

/** containerd's IsLayerType: any OCI layer, or a docker rootfs diff (suffixes stripped). */
export function isLayerType(mt: string): boolean {
  if (mt.startsWith("application/vnd.oci.image.layer.")) return true;
  const base = mt.split("+")[0]!;
  return (
    base === MediaType.DockerLayer ||
    base === MediaType.DockerLayerGzip ||
    base === MediaType.DockerLayerZstd ||
    base === MediaType.DockerForeignLayer ||
    base === MediaType.DockerForeignLayerGzip
  );
}

export const isConfigType = (mt: string) =>
  mt === MediaType.DockerConfig || mt === MediaType.OciConfig || mt === MediaType.ContainerdCheckpointConfig;

/** `Content-Type: application/json; charset=utf-8` → `application/json`. A `text/plain`
 *  manifest is schema 1 (registry.access.redhat.com serves it so, containerd notes). */
export function manifestMediaType(contentType: string | null): string {
  let mt = (contentType ?? "").split(";")[0]!.trim();
  if (mt === "text/plain") mt = MediaType.DockerSchema1Manifest;
  return mt;
}

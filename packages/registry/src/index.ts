/** @bunkerd/registry: the registry client behind pull and push — containerd's remotes/docker
 *  in TypeScript. References are parsed and normalized as containerd does; endpoints come
 *  from hosts.toml (`config_path`); the Distribution API v2 is spoken with anonymous, Basic and
 *  Bearer-token auth; every fetched byte is verified against its descriptor while it streams.
 *
 *  Everything here is plain data and functions, usable inside a worker:
 *
 *    const resolver = createResolver({ hostsDir: "/etc/bunkerd/certs.d" });
 *    const { name, desc } = await resolver.resolve("docker.io/library/busybox:latest");
 *    const fetcher = resolver.fetcher(name);
 *    const index = parseManifest(await fetcher.fetchBytes(desc), desc.mediaType);
 *    for await (const chunk of fetcher.fetch(layer)) …   // throws at the end on a mismatch */

// ── Resolve, fetch, push ────────────────────────────────────────────────────────────
export { createResolver, type Resolver, type ResolverOptions } from "./resolver.ts";
export { MAX_MANIFEST_SIZE, type Resolved } from "./resolve.ts";
export type { FetchOptions, Fetcher } from "./fetch.ts";
export {
  DEFAULT_CHUNK_SIZE,
  DISTRIBUTION_SOURCE_LABEL,
  type PushOptions,
  type PushResult,
  type PushSource,
  type Pusher,
  selectMountCandidate,
} from "./push.ts";
export type { Credentials, CredentialsFn } from "./auth/authorizer.ts";

// ── References ──────────────────────────────────────────────────────────────────────
export {
  type DockerReference,
  familiarReference,
  formatDockerReference,
  formatReference,
  normalizeReference,
  parseDockerReference,
  parseReference,
  type ReferenceSpec,
  splitObject,
} from "./reference.ts";

// ── Manifests, media types, platforms ───────────────────────────────────────────────
export {
  children,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  parseDescriptor,
  parseManifest,
  SCHEMA1_REFUSED,
  selectManifests,
} from "./manifest.ts";
export {
  isConfigType,
  isIndexType,
  isLayerType,
  isManifestOrIndexType,
  isManifestType,
  isSchema1Type,
  MediaType,
  RESOLVE_ACCEPT,
} from "./media-types.ts";
export * as platforms from "./platforms/index.ts";
export type { Platform, PlatformMatcher } from "./platforms/index.ts";

// ── What a pull names and labels: ingest refs, GC children, distribution source, chain IDs ──
export { appendSource, childrenLabels, distributionSource, Label, refKey } from "./image-labels.ts";
export { chainId, chainIds } from "./chainid.ts";

// ── Verification, digests, concurrency ──────────────────────────────────────────────
export { collect, type Expected, verified, Verifier } from "./verify.ts";
export { digestOf, isDigest, validateDigest } from "./digest.ts";
export { createLimiter, type Limiter, MAX_CONCURRENT_DOWNLOADS } from "./limiter.ts";

// ── Hosts configuration (config_path) ───────────────────────────────────────────────
export {
  configureHosts,
  type HostCapability,
  type HostsOptions,
  hostPaths,
  isLocalhost,
  parseHostsFile,
  type RegistryHost,
} from "./hosts.ts";

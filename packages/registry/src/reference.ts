/** Image references, two ways, as containerd has them:
 *
 *  - `parseReference`: containerd's `reference.Parse` — a schemaless URI split into a locator
 *    (`host[:port]/path`) and an object (`tag`, `tag@digest` or `@digest`). This is what the
 *    resolver, fetcher and pusher work with; the Go `ctr` passes references in this form.
 *  - `parseDockerReference` / `normalizeReference`: docker's grammar with its normalization
 *    (`busybox` → `docker.io/library/busybox:latest`), as the CRI plugin applies it
 *    (`reference/docker.ParseDockerRef`). */

import { posix } from "node:path";
import { invalidArgument } from "@bunkerd/plugin-api";
import { validateDigest } from "./digest.ts";

// ── containerd's reference.Spec ─────────────────────────────────────────────────────

export type ReferenceSpec = {
  /** `host[:port]/path`, e.g. `docker.io/library/busybox`. */
  locator: string;
  /** `tag`, `tag@digest`, `@digest`, or "" when the reference names no object. */
  object: string;
  /** The host part of the locator (the registry namespace), e.g. `127.0.0.1:5000`. */
  hostname: string;
  /** The repository path, e.g. `library/busybox`. */
  repository: string;
  /** The tag part of the object ("" for none). */
  tag: string;
  /** The digest part of the object, when there is one (not validated here). */
  digest?: string;
};

/** containerd's `reference.Parse`: `dummy://<s>` through a URL parser, then the path split at
 *  the first `:` or `@`. */
export function parseReference(s: string): ReferenceSpec {
  let rest = s;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const query = rest.indexOf("?");
  if (query >= 0) rest = rest.slice(0, query);
  const slash = rest.indexOf("/");
  let host = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? "" : rest.slice(slash);
  const at = host.lastIndexOf("@");
  if (at >= 0) host = host.slice(at + 1); // userinfo, as url.Parse drops it from the host
  if (host === "") throw invalidArgument(`reference ${JSON.stringify(s)}: hostname required`);
  const colon = host.startsWith("[") ? host.indexOf(":", host.indexOf("]")) : host.lastIndexOf(":");
  if (colon >= 0 && !/^[0-9]*$/.test(host.slice(colon + 1))) {
    throw invalidArgument(
      `reference ${JSON.stringify(s)}: invalid port ${JSON.stringify(host.slice(colon))} after host`,
    );
  }
  let object = "";
  const split = path.search(/[:@]/);
  if (split >= 0) {
    object = path.slice(split);
    if (object.startsWith(":")) object = object.slice(1);
    path = path.slice(0, split);
  }
  const locator = posix.join(host, path).replace(/\/$/, "");
  const i = locator.indexOf("/");
  const hostname = i < 0 ? locator : locator.slice(0, i);
  const repository = i < 0 ? "" : locator.slice(i + 1);
  const [tag, digest] = splitObject(object);
  return { locator, object, hostname, repository, tag, ...(digest !== undefined ? { digest } : {}) };
}

/** containerd's `SplitObject`: the tag before `@` and the digest after it. */
export function splitObject(object: string): [tag: string, digest: string | undefined] {
  const i = object.indexOf("@");
  return i < 0 ? [object, undefined] : [object.slice(0, i), object.slice(i + 1)];
}

export function formatReference(spec: { locator: string; object: string }): string {
  if (spec.object === "") return spec.locator;
  return spec.object.startsWith("@") ? `${spec.locator}${spec.object}` : `${spec.locator}:${spec.object}`;
}

// ── docker's reference grammar ──────────────────────────────────────────────────────
// distribution's regexps, with `(?:[._]|__|[-]*)` written as `(?:[._]|__|-+)`: the same
// language (an empty separator only lengthens the alphanumeric run) without the empty
// alternative that makes a backtracking engine explode on a long invalid name.

const nameComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const domain = `${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?`;
const tagPattern = "[\\w][\\w.-]{0,127}";
const digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const namePattern = `(?:${domain}/)?${nameComponent}(?:/${nameComponent})*`;
const referenceRe = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const anchoredNameRe = new RegExp(`^(?:(${domain})/)?(${nameComponent}(?:/${nameComponent})*)$`);
const identifierRe = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

const defaultDomain = "docker.io";
const legacyDefaultDomain = "index.docker.io";
const officialRepoName = "library";
const defaultTag = "latest";

export type DockerReference = {
  /** Registry host, e.g. `docker.io` or `127.0.0.1:5000`. */
  domain: string;
  /** Repository path, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
};

/** docker's `reference.Parse`: the full grammar, no normalization. */
function parseDocker(s: string, original: string): DockerReference {
  const m = referenceRe.exec(s);
  if (!m) {
    if (s === "") throw invalidArgument("repository name must have at least one component");
    if (referenceRe.test(s.toLowerCase())) {
      throw invalidArgument(`reference ${JSON.stringify(original)}: repository name must be lowercase`);
    }
    throw invalidArgument(`reference ${JSON.stringify(original)}: invalid reference format`);
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidArgument(
      `reference ${JSON.stringify(original)}: repository name must not be more than 255 characters`,
    );
  }
  const parts = anchoredNameRe.exec(name);
  if (!parts) throw invalidArgument(`reference ${JSON.stringify(original)}: invalid reference format`);
  const ref: DockerReference = { domain: parts[1] ?? "", path: parts[2]! };
  if (m[2]) ref.tag = m[2];
  if (m[3]) ref.digest = validateDigest(m[3], `reference ${JSON.stringify(original)}`);
  return ref;
}

function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i < 0 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    [domain, remainder] = [defaultDomain, name];
  } else {
    [domain, remainder] = [first, name.slice(i + 1)];
  }
  if (domain === legacyDefaultDomain) domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes("/")) remainder = `${officialRepoName}/${remainder}`;
  return [domain, remainder];
}

/** docker's `ParseNormalizedNamed` + `TagNameOnly`: fills in `docker.io`, `library/` and the
 *  `latest` tag (only when there is neither a tag nor a digest). Keeps a tag beside a digest. */
export function parseDockerReference(s: string): DockerReference {
  if (identifierRe.test(s)) {
    throw invalidArgument(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(":");
  const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalidArgument(`invalid reference format: repository name (${remoteName}) must be lowercase`);
  }
  const ref = parseDocker(`${domain}/${remainder}`, s);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = defaultTag;
  return ref;
}

export function formatDockerReference(ref: DockerReference): string {
  let s = ref.domain ? `${ref.domain}/${ref.path}` : ref.path;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** docker's `ParseDockerRef`, as containerd's CRI plugin uses it: the normalized string, and
 *  when both a tag and a digest are given, only the digest is kept. */
export function normalizeReference(s: string): string {
  const ref = parseDockerReference(s);
  if (ref.digest !== undefined) delete ref.tag;
  return formatDockerReference(ref);
}

/** The short form docker prints: `busybox:latest` for `docker.io/library/busybox:latest`. */
export function familiarReference(s: string): string {
  const ref = parseDockerReference(s);
  let name = `${ref.domain}/${ref.path}`;
  if (ref.domain === defaultDomain) {
    const parts = ref.path.split("/");
    name = parts.length === 2 && parts[0] === officialRepoName ? parts[1]! : ref.path;
  }
  return formatDockerReference({ domain: "", path: name, tag: ref.tag, digest: ref.digest });
}

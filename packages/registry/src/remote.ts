/** What resolve, fetch and push share (containerd's dockerBase): a parsed reference, the hosts
 *  for its namespace, the repository path, and request URLs on a host. */

import { invalidArgument } from "@bunkerd/plugin-api";
import type { HostCapability, RegistryHost } from "./hosts.ts";
import {
  formatDockerReference,
  parseDockerReference,
  parseReference,
  type ReferenceSpec,
} from "./reference.ts";

export type Remote = {
  /** The reference as the resolver reports it (normalized when docker's grammar applies). */
  name: string;
  spec: ReferenceSpec;
  hosts: RegistryHost[];
};

/** Parses a reference for the registry: docker's normalization when it applies (so `busybox`
 *  works), containerd's generic form otherwise (what `ctr` passes is always fully qualified). */
export function parseRemoteName(ref: string): { name: string; spec: ReferenceSpec } {
  let name: string;
  try {
    name = formatDockerReference(parseDockerReference(ref));
  } catch (dockerError) {
    let spec: ReferenceSpec;
    try {
      spec = parseReference(ref);
    } catch {
      throw dockerError;
    }
    if (!spec.repository) throw dockerError;
    return { name: ref, spec };
  }
  return { name, spec: parseReference(name) };
}

export const hostsWith = (remote: Remote, ...caps: HostCapability[]) =>
  remote.hosts.filter((h) => caps.every((c) => h.capabilities.includes(c)));

/** A host without push is a mirror: requests to it name the upstream namespace in `?ns=`. */
export const isMirror = (host: RegistryHost) => !host.capabilities.includes("push");

/** `<scheme>://<host><api root>/<repository>/<parts…>`, plus `ns` for a mirror. */
export function requestUrl(remote: Remote, host: RegistryHost, ...parts: string[]): string {
  const path = [host.path.replace(/\/+$/, ""), remote.spec.repository, ...parts].join("/");
  const url = `${host.scheme}://${host.host}${path.startsWith("/") ? path : `/${path}`}`;
  return isMirror(host) ? `${url}?ns=${encodeURIComponent(remote.spec.hostname)}` : url;
}

/** The token scope a request on this repository needs. */
export function repositoryScope(remote: Remote, push: boolean): string {
  return `repository:${remote.spec.repository}:pull${push ? ",push" : ""}`;
}

export function requireRepository(remote: { name: string; spec: ReferenceSpec }): void {
  if (!remote.spec.repository)
    throw invalidArgument(`reference ${JSON.stringify(remote.name)}: repository required`);
}

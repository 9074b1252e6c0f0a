/** The resolver: one per pull or push, as containerd makes one per operation. It keeps the
 *  hosts of each namespace it has seen and the authorization each host asked for (tokens per
 *  scope), so the requests of one image share them. Options are plain data plus an optional
 *  credentials callback, so a resolver can be built inside a worker. */

import type { CredentialsFn } from "./auth/authorizer.ts";
import { type Fetcher, createFetcher } from "./fetch.ts";
import { configureHosts, type HostsOptions, type RegistryHost } from "./hosts.ts";
import { Session } from "./http/session.ts";
import { createPusher, type Pusher } from "./push.ts";
import { parseRemoteName, type Remote, requireRepository } from "./remote.ts";
import { type Resolved, resolve } from "./resolve.ts";
import { invalidArgument } from "@bunkerd/plugin-api";

export type ResolverOptions = {
  /** containerd's `config_path`: directories of `<host>/hosts.toml` (a list, or `:`-separated). */
  hostsDir?: string | string[];
  /** Credentials for a registry endpoint (`host[:port]`), for Basic auth and token requests. */
  credentials?: CredentialsFn;
  /** Plain http where no server is configured (ctr's `--plain-http`). */
  plainHttp?: boolean;
  /** Skip TLS verification where a host does not say (ctr's `--skip-verify`). */
  skipVerify?: boolean;
  /** CA and client certificate files for hosts that configure none (ctr's `--tlscacert`,
   *  `--tlscert`, `--tlskey`). */
  defaultTls?: HostsOptions["defaultTls"];
  /** Headers for every request (ctr's `--header`); an `Accept` here replaces the resolve list. */
  headers?: Record<string, string | string[]>;
  /** Retries for transient failures (5xx, network, broken streams); default 3. */
  retries?: number;
  /** First retry delay in ms, doubled each time; default 250. */
  retryDelayMs?: number;
  userAgent?: string;
};

export type Resolver = {
  /** The descriptor a reference names: `{ name, desc: { mediaType, digest, size } }`. */
  resolve(ref: string, options?: { signal?: AbortSignal }): Promise<Resolved>;
  /** Fetches content of the repository `name` names (any tag or digest in it is ignored). */
  fetcher(name: string): Fetcher;
  /** Pushes to the repository `name` names; a digest in it is refused. */
  pusher(name: string): Pusher;
  /** The endpoints tried for a namespace, mirrors first. */
  hosts(namespace: string): RegistryHost[];
  /** Token requests made so far (host and scopes), for diagnostics and tests. */
  readonly tokenFetches: readonly { host: string; scopes: string[] }[];
};

export function createResolver(options: ResolverOptions = {}): Resolver {
  const headers = { ...(options.headers ?? {}) };
  let accept: string | undefined;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === "accept") {
      const v = headers[key]!;
      accept = Array.isArray(v) ? v.join(", ") : v;
      delete headers[key];
    }
  }
  const session = new Session({
    credentials: options.credentials,
    headers,
    skipVerify: options.skipVerify,
    retries: options.retries,
    retryDelayMs: options.retryDelayMs,
    userAgent: options.userAgent,
  });
  const hostCache = new Map<string, RegistryHost[]>();
  const hosts = (namespace: string) => {
    let h = hostCache.get(namespace);
    if (!h) {
      h = configureHosts(namespace, {
        hostsDir: options.hostsDir,
        plainHttp: options.plainHttp,
        defaultTls: options.defaultTls,
      });
      hostCache.set(namespace, h);
    }
    return h;
  };
  const remote = (ref: string): Remote => {
    const parsed = parseRemoteName(ref);
    requireRepository(parsed);
    return { ...parsed, hosts: hosts(parsed.spec.hostname) };
  };
  return {
    resolve: (ref, opts = {}) => resolve(session, remote(ref), { accept, signal: opts.signal }),
    fetcher: (name) => createFetcher(session, remote(name)),
    pusher(name) {
      const r = remote(name);
      if (r.spec.digest !== undefined)
        throw invalidArgument(`${name}: cannot use digest reference for push locator`);
      return createPusher(session, r);
    },
    hosts,
    get tokenFetches() {
      return session.authorizer.tokenFetches;
    },
  };
}

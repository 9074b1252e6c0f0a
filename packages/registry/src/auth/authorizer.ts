/** Authorization per registry host, after containerd's dockerAuthorizer: nothing is sent until
 *  a host answers 401; its challenge then sets up a handler for that host — Bearer (tokens
 *  from the token service, cached per scope set, one fetch in flight per set) or Basic (when
 *  credentials exist). A Bearer challenge carrying `error=` is retried once with a fresh
 *  handler, and fails the second time for the same request. */

import { BunkerError, Kind } from "@bunkerd/plugin-api";
import type { TlsOptions } from "../http/transport.ts";
import { parseChallenges } from "./challenge.ts";
import { fetchToken, type Token } from "./token.ts";

export type Credentials = { username: string; secret: string };
/** Credentials for a registry host (`host[:port]` of the endpoint), or undefined for none. */
export type CredentialsFn = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

type CachedToken = { promise: Promise<Token>; expiresAt?: number };

type Handler =
  | { scheme: "basic"; header: string }
  | {
      scheme: "bearer";
      realm: string;
      service?: string;
      /** Scopes from the challenge that created the handler; containerd adds them to every
       *  token request for the host. */
      scopes: string[];
      username?: string;
      secret?: string;
      tokens: Map<string, CachedToken>;
    };

export type AuthorizerOptions = {
  credentials?: CredentialsFn;
  /** Headers for token requests (the resolver's global headers and User-Agent). */
  headers: () => Headers;
  /** TLS for token requests to a host's realm: the host's own settings, as containerd uses
   *  the host's client. */
  tls: (host: string) => TlsOptions | undefined;
};

export const authorizationFailed = (message: string) =>
  new BunkerError(Kind.Unauthenticated, `${message}: authorization failed`);

/** containerd's GetTokenScopes: request scopes and the handler's, sorted, duplicates removed. */
export function tokenScopes(requested: string[], common: string[]): string[] {
  return [...new Set([...requested, ...common])].sort();
}

export class Authorizer {
  private readonly handlers = new Map<string, Handler>();
  /** Token requests made, by scope key: lets tests see the cache at work. */
  readonly tokenFetches: { host: string; scopes: string[] }[] = [];

  constructor(private readonly options: AuthorizerOptions) {}

  /** The Authorization header for a request to `host` needing `scopes`, if the host has asked
   *  for authorization before. */
  async authorize(host: string, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const h = this.handlers.get(host);
    if (!h) return undefined;
    if (h.scheme === "basic") return h.header;
    const all = tokenScopes(scopes, h.scopes);
    const key = all.join(" ");
    const cached = h.tokens.get(key);
    if (cached && (cached.expiresAt === undefined || Date.now() < cached.expiresAt)) {
      return `Bearer ${(await cached.promise).token}`;
    }
    this.tokenFetches.push({ host, scopes: all });
    const entry: CachedToken = {
      promise: fetchToken({
        realm: h.realm,
        service: h.service,
        scopes: all,
        username: h.username,
        secret: h.secret,
        headers: this.options.headers(),
        tls: this.options.tls(host),
        signal,
      }),
    };
    h.tokens.set(key, entry);
    try {
      const token = await entry.promise;
      // Renew a little before the service says the token expires.
      if (token.expiresInSeconds !== undefined) entry.expiresAt = Date.now() + token.expiresInSeconds * 900;
      return `Bearer ${token.token}`;
    } catch (e) {
      // A failure is not cached: the next request asks again.
      if (h.tokens.get(key) === entry) h.tokens.delete(key);
      throw e;
    }
  }

  /** Considers a 401 from `host`. `history` names each request made so far for this call
   *  (method and URL), the last being the one refused. True when the request should be sent
   *  again with new authorization. */
  async unauthorized(host: string, wwwAuthenticate: string | null, history: string[]): Promise<boolean> {
    for (const c of parseChallenges(wwwAuthenticate)) {
      if (c.scheme === "bearer") {
        const error = c.params.error;
        if (error) {
          const n = history.length;
          if (n === 1 || history[n - 2] !== history[n - 1]) {
            this.handlers.delete(host);
          } else {
            this.handlers.delete(host);
            throw authorizationFailed(`server message: ${error}`);
          }
        }
        if (this.handlers.has(host)) return true;
        const realm = c.params.realm;
        if (!realm) throw authorizationFailed("no realm specified for token auth challenge");
        try {
          new URL(realm);
        } catch {
          throw authorizationFailed(`invalid token auth challenge realm ${JSON.stringify(realm)}`);
        }
        const creds = await this.options.credentials?.(host);
        this.handlers.set(host, {
          scheme: "bearer",
          realm,
          service: c.params.service,
          scopes: c.params.scope ? c.params.scope.split(" ").filter((s) => s !== "") : [],
          username: creds?.username || undefined,
          secret: creds?.secret || undefined,
          tokens: new Map(),
        });
        return true;
      }
      if (c.scheme === "basic" && this.options.credentials) {
        const creds = await this.options.credentials(host);
        if (!creds?.username || !creds.secret) throw authorizationFailed("no basic auth credentials");
        const previous = this.handlers.get(host);
        const header = `Basic ${btoa(`${creds.username}:${creds.secret}`)}`;
        // The same credentials refused twice for the same request: stop here.
        const n = history.length;
        if (
          previous?.scheme === "basic" &&
          previous.header === header &&
          n > 1 &&
          history[n - 2] === history[n - 1]
        ) {
          return false;
        }
        this.handlers.set(host, { scheme: "basic", header });
        return true;
      }
    }
    return false;
  }
}

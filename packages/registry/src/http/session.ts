/** Sends registry requests the way containerd's request.doWithRetries does, plus bounded
 *  retries for transient failures: a 401 goes to the authorizer and the request is sent again
 *  with what it sets up (at most 5 responses in all); a 405 to HEAD on a manifest becomes a GET
 *  (registries without HEAD); 408 and 429 are retried; 5xx answers and network failures are
 *  retried with exponential backoff when the request is safe to repeat. */

import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { Authorizer, type CredentialsFn } from "../auth/authorizer.ts";
import type { RegistryHost } from "../hosts.ts";
import { exchange, type TlsOptions, tlsOptionsFor, transportError } from "./transport.ts";

export type SessionOptions = {
  credentials?: CredentialsFn;
  /** Headers sent with every request (the resolver's `headers`). */
  headers?: Record<string, string | string[]>;
  /** Default TLS verification for https hosts without `skip_verify` of their own. */
  skipVerify?: boolean;
  /** Transient-failure retries per request (default 3). */
  retries?: number;
  /** First backoff delay in ms, doubled per retry, with jitter (default 250). */
  retryDelayMs?: number;
  userAgent?: string;
};

export type RegistryRequest = {
  method: "GET" | "HEAD" | "PUT" | "PATCH" | "POST" | "DELETE";
  host: RegistryHost;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Token scopes the request needs (`repository:<path>:pull[,push]`). */
  scopes: string[];
  /** False once an upload moved to another host: no credentials go there. */
  authorize?: boolean;
  /** Safe to send again after a 5xx or a network failure (default: GET and HEAD). */
  retryable?: boolean;
  signal?: AbortSignal;
};

export const DEFAULT_USER_AGENT = "bunkerd/1 (containerd-compatible)";
const MAX_RESPONSES = 5;

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export class Session {
  readonly authorizer: Authorizer;
  readonly retries: number;
  readonly retryDelayMs: number;
  private readonly hostsByName = new Map<string, RegistryHost>();

  constructor(readonly options: SessionOptions = {}) {
    this.retries = options.retries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.authorizer = new Authorizer({
      credentials: options.credentials,
      headers: () => this.baseHeaders(),
      tls: (host) => {
        const h = this.hostsByName.get(host);
        return h ? this.tls(h) : undefined;
      },
    });
  }

  tls(host: RegistryHost): TlsOptions | undefined {
    return tlsOptionsFor(host, this.options.skipVerify ?? false);
  }

  /** Delay before retry number `attempt` (0-based): base·2^attempt, ±25 %, at most 10 s. */
  backoff(attempt: number): number {
    const base = Math.min(this.retryDelayMs * 2 ** attempt, 10_000);
    return base * (0.75 + Math.random() * 0.5);
  }

  baseHeaders(host?: RegistryHost): Headers {
    const headers = new Headers();
    for (const [k, v] of Object.entries(this.options.headers ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) headers.append(k, value);
    }
    for (const [k, values] of Object.entries(host?.header ?? {}))
      for (const v of values) headers.append(k, v);
    if (!headers.has("user-agent")) headers.set("User-Agent", this.options.userAgent ?? DEFAULT_USER_AGENT);
    return headers;
  }

  async send(req: RegistryRequest): Promise<Response> {
    this.hostsByName.set(req.host.host, req.host);
    let method = req.method;
    const retryable = req.retryable ?? (req.method === "GET" || req.method === "HEAD");
    const history: string[] = [];
    let transient = 0;
    const tls = this.tls(req.host);
    for (;;) {
      const headers = this.baseHeaders(req.host);
      for (const [k, v] of Object.entries(req.headers ?? {})) headers.set(k, v);
      if (req.authorize !== false) {
        const auth = await this.authorizer.authorize(req.host.host, req.scopes, req.signal);
        if (auth) headers.set("Authorization", auth);
      }
      let response: Response;
      try {
        ({ response } = await exchange(req.url, {
          method,
          headers,
          body: req.body,
          tls,
          signal: req.signal,
        }));
      } catch (e) {
        const err = transportError(method, req.url, e);
        if (err.kind === Kind.Canceled || req.signal?.aborted) throw err;
        if (retryable && transient < this.retries) {
          await sleep(this.backoff(transient++), req.signal);
          continue;
        }
        throw err;
      }
      history.push(`${method} ${req.url}`);
      const discard = () => response.body?.cancel().catch(() => {});
      if (response.status === 401 && req.authorize !== false && history.length <= MAX_RESPONSES) {
        let again: boolean;
        try {
          again = await this.authorizer.unauthorized(
            req.host.host,
            response.headers.get("www-authenticate"),
            history,
          );
        } catch (e) {
          await discard();
          throw e;
        }
        if (again) {
          await discard();
          continue;
        }
        return response;
      }
      if (response.status === 405 && method === "HEAD" && req.url.includes("/manifests/")) {
        await discard();
        method = "GET";
        continue;
      }
      const transientStatus =
        response.status === 408 || response.status === 429 || (response.status >= 500 && retryable);
      if (transientStatus && transient < this.retries) {
        await discard();
        const retryAfter = Number(response.headers.get("retry-after"));
        const delay = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : 0;
        await sleep(Math.max(delay, this.backoff(transient++)), req.signal);
        continue;
      }
      return response;
    }
  }
}

/** "pull access denied…" for a refused resolve, as containerd words it. */
export function accessDenied(ref: string, cause: BunkerError): BunkerError {
  return new BunkerError(
    cause.kind,
    `pull access denied, repository does not exist or may require authorization: ${ref}: ${cause.message}`,
  );
}

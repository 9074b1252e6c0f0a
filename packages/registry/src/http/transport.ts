/** One HTTP exchange with a registry endpoint: TLS settings from the host's configuration
 *  (CA files added to the system roots, client pairs, skip_verify), redirects followed by
 *  hand so that credentials never reach another host, and registry error bodies turned into
 *  error kinds. */

import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { BunkerError, invalidArgument, Kind, toBunkerError, unavailable } from "@bunkerd/plugin-api";
import type { RegistryHost } from "../hosts.ts";

export type TlsOptions = NonNullable<BunFetchRequestInit["tls"]>;

const tlsCache = new Map<string, TlsOptions>();

/** Bun's fetch TLS options for a host; undefined for plain http and for the defaults. CA files
 *  are added to the bundled roots, as containerd appends them to the system pool. */
export function tlsOptionsFor(host: RegistryHost, defaultSkipVerify = false): TlsOptions | undefined {
  if (host.scheme !== "https") return undefined;
  const skip = host.skipVerify ?? defaultSkipVerify;
  if (!skip && !host.ca?.length && !host.client?.length) return undefined;
  const key = JSON.stringify([skip, host.ca ?? [], host.client ?? []]);
  const cached = tlsCache.get(key);
  if (cached) return cached;
  const tls: TlsOptions = { rejectUnauthorized: !skip };
  if (host.ca?.length) {
    const extra = host.ca.map((f) => {
      try {
        return readFileSync(f, "utf8");
      } catch (e) {
        throw invalidArgument(`unable to read CA cert ${JSON.stringify(f)}`, { cause: e, path: f });
      }
    });
    tls.ca = [...rootCertificates, ...extra];
  }
  if (host.client?.length) {
    const read = (f: string) => {
      try {
        return readFileSync(f, "utf8");
      } catch (e) {
        throw invalidArgument(`unable to read client certificate file ${JSON.stringify(f)}`, {
          cause: e,
          path: f,
        });
      }
    };
    const certs: string[] = [];
    const keys: string[] = [];
    for (const [cert, key] of host.client) {
      const certPem = read(cert);
      certs.push(certPem);
      keys.push(key ? read(key) : certPem);
    }
    tls.cert = certs;
    tls.key = keys;
  }
  tlsCache.set(key, tls);
  return tls;
}

export const hostUrl = (host: RegistryHost, path: string) => `${host.scheme}://${host.host}${path}`;

const defaultPort = (u: URL) => u.port || (u.protocol === "https:" ? "443" : "80");

/** Go's rule for forwarding Authorization on a redirect: same host and port, or a subdomain of
 *  the original host. Anything else (blob storage, a CDN) gets the request without it. */
export function keepsCredentials(from: URL, to: URL): boolean {
  if (from.hostname === to.hostname && defaultPort(from) === defaultPort(to)) return true;
  return to.hostname.endsWith(`.${from.hostname}`) && defaultPort(from) === defaultPort(to);
}

export type ExchangeInit = {
  method: string;
  headers: Headers;
  body?: Uint8Array;
  tls?: TlsOptions;
  signal?: AbortSignal;
};

const MAX_REDIRECTS = 10;

/** fetch with manual redirects. Returns the final response and its URL. */
export async function exchange(
  url: string,
  init: ExchangeInit,
): Promise<{ response: Response; url: string }> {
  let current = new URL(url);
  let { method, body } = init;
  const headers = new Headers(init.headers);
  for (let hops = 0; ; hops++) {
    const response = await fetch(current, {
      method,
      headers,
      body,
      redirect: "manual",
      tls: init.tls,
      signal: init.signal,
    } as BunFetchRequestInit);
    const location = response.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(response.status) || !location) {
      return { response, url: current.href };
    }
    await response.body?.cancel().catch(() => {});
    if (hops >= MAX_REDIRECTS)
      throw unavailable(`${method} ${url}: stopped after ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (!keepsCredentials(current, next)) {
      headers.delete("authorization");
      headers.delete("cookie");
    }
    if (
      response.status === 303 ||
      ((response.status === 301 || response.status === 302) && method === "POST")
    ) {
      method = "GET";
      body = undefined;
      headers.delete("content-type");
      headers.delete("content-length");
    }
    current = next;
  }
}

/** The `errors` list of a distribution error body, as one line. */
async function serverMessage(response: Response): Promise<string> {
  try {
    const text = (await response.text()).slice(0, 64 * 1024);
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (!Array.isArray(doc.errors) || doc.errors.length === 0) return "";
    return doc.errors
      .map((e) => {
        const detail = e.detail === undefined || e.detail === null ? "" : `; ${JSON.stringify(e.detail)}`;
        return `${(e.code ?? "unknown").toLowerCase().replaceAll("_", " ")}: ${e.message ?? ""}${detail}`;
      })
      .join(", ");
  } catch {
    return "";
  }
}

const statusKind = (status: number): (typeof Kind)[keyof typeof Kind] => {
  if (status === 404) return Kind.NotFound;
  if (status === 401) return Kind.Unauthenticated;
  if (status === 403) return Kind.PermissionDenied;
  if (status === 409) return Kind.AlreadyExists;
  if (status === 429) return Kind.ResourceExhausted;
  if (status === 400 || status === 405 || status === 411 || status === 413 || status === 416) {
    return Kind.FailedPrecondition;
  }
  if (status >= 500) return Kind.Unavailable;
  return Kind.Unknown;
};

/** An error for a response the caller did not expect, with the registry's message
 *  (containerd: "unexpected status from GET request to <url>: 500 Internal Server Error"). */
export async function unexpectedStatus(
  method: string,
  url: string,
  response: Response,
): Promise<BunkerError> {
  const message = await serverMessage(response);
  const status = `${response.status} ${response.statusText}`.trim();
  return new BunkerError(
    statusKind(response.status),
    `unexpected status from ${method} request to ${url}: ${status}${message ? ` - Server message: ${message}` : ""}`,
  );
}

/** A network failure (refused, reset, TLS) as Unavailable; an abort as Canceled. */
export function transportError(method: string, url: string, e: unknown): BunkerError {
  if (e instanceof BunkerError) return e;
  const be = toBunkerError(e);
  if (be.kind === Kind.Canceled) return be;
  const err = e as { code?: string; message?: string };
  const detail =
    err.code && !String(err.message).includes(err.code) ? `${err.code}: ${err.message}` : err.message;
  return unavailable(`${method} ${url}: ${detail ?? String(e)}`, { cause: e });
}

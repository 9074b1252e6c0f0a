/** Bearer tokens from a registry's token service, as containerd's auth/fetch.go gets them:
 *  with credentials, first the OAuth2 POST (`grant_type=password`, or `refresh_token` when
 *  there is a secret but no username); when the service does not do POST (404, 401, 400, or
 *  405 with a username) the GET with Basic credentials; without credentials, an anonymous GET.
 *  The GET carries `service` and one `scope` parameter per scope. */

import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { exchange, type TlsOptions, transportError, unexpectedStatus } from "../http/transport.ts";

export type TokenRequest = {
  realm: string;
  service?: string;
  scopes: string[];
  username?: string;
  secret?: string;
  headers: Headers;
  tls?: TlsOptions;
  signal?: AbortSignal;
};

export type Token = { token: string; expiresInSeconds?: number };

/** The client_id containerd sends. */
const CLIENT_ID = "containerd-client";

async function readToken(
  response: Response,
  fields: ("token" | "access_token")[],
  what: string,
): Promise<Token> {
  let doc: Record<string, unknown>;
  try {
    doc = (await response.json()) as Record<string, unknown>;
  } catch (e) {
    throw new BunkerError(Kind.Unauthenticated, `${what}: unable to decode token response`, { cause: e });
  }
  const token = fields.map((f) => doc[f]).find((v): v is string => typeof v === "string" && v !== "");
  if (!token)
    throw new BunkerError(
      Kind.Unauthenticated,
      `${what}: authorization server did not include a token in the response`,
    );
  const expires = doc.expires_in;
  return typeof expires === "number" && expires > 0 ? { token, expiresInSeconds: expires } : { token };
}

class TokenStatusError extends Error {
  constructor(
    readonly status: number,
    readonly error: BunkerError,
  ) {
    super(error.message);
  }
}

async function postOAuth(req: TokenRequest): Promise<Token> {
  const form = new URLSearchParams();
  if (req.scopes.length > 0) form.set("scope", req.scopes.join(" "));
  form.set("service", req.service ?? "");
  form.set("client_id", CLIENT_ID);
  if (!req.username) {
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", req.secret ?? "");
  } else {
    form.set("grant_type", "password");
    form.set("username", req.username);
    form.set("password", req.secret ?? "");
  }
  const headers = new Headers(req.headers);
  headers.set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  let response: Response;
  try {
    ({ response } = await exchange(req.realm, {
      method: "POST",
      headers,
      body: new TextEncoder().encode(form.toString()),
      tls: req.tls,
      signal: req.signal,
    }));
  } catch (e) {
    throw transportError("POST", req.realm, e);
  }
  if (response.status < 200 || response.status >= 400) {
    throw new TokenStatusError(response.status, await unexpectedStatus("POST", req.realm, response));
  }
  return readToken(response, ["access_token"], "failed to fetch oauth token");
}

async function getToken(req: TokenRequest): Promise<Token> {
  const url = new URL(req.realm);
  if (req.service) url.searchParams.append("service", req.service);
  for (const scope of req.scopes) url.searchParams.append("scope", scope);
  const headers = new Headers(req.headers);
  if (req.secret) headers.set("Authorization", `Basic ${btoa(`${req.username ?? ""}:${req.secret}`)}`);
  let response: Response;
  try {
    ({ response } = await exchange(url.href, { method: "GET", headers, tls: req.tls, signal: req.signal }));
  } catch (e) {
    throw transportError("GET", url.href, e);
  }
  if (response.status < 200 || response.status >= 400) {
    const err = await unexpectedStatus("GET", url.href, response);
    const kind = response.status === 401 || response.status === 403 ? Kind.Unauthenticated : err.kind;
    throw new BunkerError(kind, `failed to fetch ${req.secret ? "" : "anonymous "}token: ${err.message}`);
  }
  // `access_token` is the same as `token`; containerd prefers it when both are present.
  return readToken(response, ["access_token", "token"], "failed to fetch token");
}

export async function fetchToken(req: TokenRequest): Promise<Token> {
  if (!req.secret) return getToken(req);
  try {
    return await postOAuth(req);
  } catch (e) {
    if (e instanceof TokenStatusError) {
      const s = e.status;
      // Registries without POST: GCR answers 404, Artifactory 401, ACR 400, others 405.
      if ((s === 405 && req.username) || s === 404 || s === 401 || s === 400) return getToken(req);
      throw new BunkerError(
        s === 403 ? Kind.PermissionDenied : Kind.Unauthenticated,
        `failed to fetch oauth token: ${e.error.message}`,
      );
    }
    throw e;
  }
}

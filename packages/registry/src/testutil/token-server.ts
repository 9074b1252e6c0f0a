/** A token service for distribution's `auth.token`, served by the test with Bun.serve: it
 *  answers the GET (Basic credentials optional) and the OAuth2 POST, and signs JWTs the way
 *  distribution verifies them — RS256, the signer's certificate in `x5c` (its chain must reach
 *  the registry's `rootcertbundle`), `iss`, `aud` = service, and the granted `access` list. */

import { createSign, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

export type TokenServerOptions = {
  certFile: string;
  keyFile: string;
  issuer: string;
  service: string;
  /** username → password; a user gets every action asked for. */
  users?: Record<string, string>;
  /** What anonymous requests are granted (default pull only). */
  anonymous?: ("pull" | "push")[];
  /** Serve the OAuth2 POST (default true); false answers it 404 like GCR. */
  post?: boolean;
  expiresIn?: number;
};

export type TokenRequestLog = {
  method: "GET" | "POST";
  user?: string;
  grantType?: string;
  service?: string;
  scopes: string[];
};

export type TokenServer = {
  realm: string;
  requests: TokenRequestLog[];
  stop(): void;
};

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

function pemToDerBase64(pem: string): string {
  return pem.replace(/-----BEGIN CERTIFICATE-----|-----END CERTIFICATE-----/g, "").replace(/\s+/g, "");
}

export function startTokenServer(options: TokenServerOptions): TokenServer {
  const keyPem = readFileSync(options.keyFile, "utf8");
  const x5c = [pemToDerBase64(readFileSync(options.certFile, "utf8"))];
  const requests: TokenRequestLog[] = [];
  const anonymous = options.anonymous ?? ["pull"];

  const sign = (subject: string, scopes: string[], user: boolean) => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((scope) => {
      const first = scope.indexOf(":");
      const last = scope.lastIndexOf(":");
      if (first < 0 || last <= first) return [];
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const actions = scope
        .slice(last + 1)
        .split(",")
        .filter((a) => user || anonymous.includes(a as "pull"));
      return [{ type, name, actions }];
    });
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c }));
    const claims = b64url(
      JSON.stringify({
        iss: options.issuer,
        sub: subject,
        aud: options.service,
        exp: now + (options.expiresIn ?? 300),
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = createSign("RSA-SHA256").update(`${header}.${claims}`).sign(keyPem);
    return `${header}.${claims}.${b64url(signature)}`;
  };

  const checkUser = (user: string | undefined, password: string | undefined) =>
    user !== undefined && options.users?.[user] !== undefined && options.users[user] === password;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname !== "/token") return new Response("not found", { status: 404 });
      if (req.method === "GET") {
        const scopes = url.searchParams
          .getAll("scope")
          .flatMap((s) => s.split(" "))
          .filter((s) => s);
        let user: string | undefined;
        const auth = req.headers.get("authorization");
        if (auth?.startsWith("Basic ")) {
          const [u, ...rest] = atob(auth.slice(6)).split(":");
          if (!checkUser(u, rest.join(":"))) {
            requests.push({
              method: "GET",
              user: u,
              service: url.searchParams.get("service") ?? undefined,
              scopes,
            });
            return Response.json({ details: "incorrect username or password" }, { status: 401 });
          }
          user = u;
        }
        requests.push({ method: "GET", user, service: url.searchParams.get("service") ?? undefined, scopes });
        const token = sign(user ?? "", scopes, user !== undefined);
        return Response.json({
          token,
          expires_in: options.expiresIn ?? 300,
          issued_at: new Date().toISOString(),
        });
      }
      if (req.method === "POST") {
        const form = new URLSearchParams(await req.text());
        const scopes = (form.get("scope") ?? "").split(" ").filter((s) => s);
        const grantType = form.get("grant_type") ?? undefined;
        const user = form.get("username") ?? undefined;
        requests.push({ method: "POST", user, grantType, service: form.get("service") ?? undefined, scopes });
        if (options.post === false) return new Response("404 page not found", { status: 404 });
        if (grantType !== "password" || !checkUser(user, form.get("password") ?? undefined)) {
          return Response.json({ error: "invalid_grant" }, { status: 401 });
        }
        return Response.json({
          access_token: sign(user!, scopes, true),
          expires_in: options.expiresIn ?? 300,
          scope: scopes.join(" "),
        });
      }
      return new Response("method not allowed", { status: 405 });
    },
  });
  return { realm: `http://127.0.0.1:${server.port}/token`, requests, stop: () => server.stop(true) };
}

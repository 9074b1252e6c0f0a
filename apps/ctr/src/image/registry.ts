/** A registry resolver from ctr's registry flags (`--plain-http`, `--skip-verify`, `--user`,
 *  `--refresh`, `--hosts-dir`, `--tlscacert`, `--tlscert`, `--tlskey`). `--user name` without a
 *  password asks for it on the terminal.
 *
 *  The TLS flags are Go ctr's default TLS config: the CA and client pair for every host that
 *  configures none of its own (a hosts.toml entry without `ca`/`client`, or no hosts dir). One
 *  difference from Go: the CA is added to the system roots, where Go's replaces them. The
 *  Transfer service has no field for them (ctr 1.7 ignores them there), so with any TLS flag
 *  bctr pulls and pushes client-side (`usesClientTls`). `--http-dump` and `--http-trace` are
 *  refused: bctr has no HTTP dump. */
import { readFileSync } from "node:fs";
import { type Credentials, createResolver, type Resolver } from "@bunkerd/registry";
import { UsageError } from "../cli/errors.ts";

export interface RegistryFlags {
  "plain-http"?: boolean;
  "skip-verify"?: boolean;
  user?: string;
  refresh?: string;
  "hosts-dir"?: string;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  "http-dump"?: boolean;
  "http-trace"?: boolean;
}

/** `--user name[:password]`, else `--refresh TOKEN` (an empty user name with the token as
 *  secret: the token server gets `grant_type=refresh_token`, as with Go ctr). */
export async function credentialsOf(
  user: string | undefined,
  refresh?: string,
): Promise<Credentials | undefined> {
  if (!user) return refresh ? { username: "", secret: refresh } : undefined;
  const i = user.indexOf(":");
  if (i > 0) return { username: user.slice(0, i), secret: user.slice(i + 1) };
  const secret = prompt("Password:") ?? "";
  return { username: user, secret };
}

function readable(path: string) {
  try {
    readFileSync(path);
  } catch (e) {
    throw new UsageError(`failed to read "${path}": ${(e as Error).message}`);
  }
}

/** Whether the TLS flags ask for a client-side resolver. */
export const usesClientTls = (flags: RegistryFlags) => !!(flags.tlscacert || flags.tlscert || flags.tlskey);

/** The flags checked as Go ctr checks them (before any network work); returns `--hosts-dir`. */
export function hostsDirOf(flags: RegistryFlags): string | undefined {
  for (const f of ["http-dump", "http-trace"] as const)
    if (flags[f]) throw new UsageError(`--${f} is not supported by bctr`);
  const { tlscacert, tlscert, tlskey } = flags;
  if (!tlscert !== !tlskey) throw new UsageError("flags --tlscert and --tlskey must be set together");
  for (const p of [tlscacert, tlscert, tlskey]) if (p) readable(p);
  return flags["hosts-dir"] || undefined;
}

export async function resolverFor(flags: RegistryFlags): Promise<Resolver> {
  const hostsDir = hostsDirOf(flags);
  const creds = await credentialsOf(flags.user, flags.refresh);
  return createResolver({
    plainHttp: !!flags["plain-http"],
    skipVerify: !!flags["skip-verify"],
    hostsDir,
    defaultTls: {
      ca: flags.tlscacert ? [flags.tlscacert] : undefined,
      client: flags.tlscert && flags.tlskey ? [[flags.tlscert, flags.tlskey]] : undefined,
    },
    credentials: creds ? async () => creds : undefined,
  });
}

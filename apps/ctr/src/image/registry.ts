/** A registry resolver from ctr's registry flags (`--plain-http`, `--skip-verify`, `--user`,
 *  `--hosts-dir`). `--user name` without a password asks for it on the terminal. */
import { type Credentials, createResolver, type Resolver } from "@bunkerd/registry";

export interface RegistryFlags {
  "plain-http"?: boolean;
  "skip-verify"?: boolean;
  user?: string;
  "hosts-dir"?: string;
}

export async function credentialsOf(user: string | undefined): Promise<Credentials | undefined> {
  if (!user) return undefined;
  const i = user.indexOf(":");
  if (i >= 0) return { username: user.slice(0, i), secret: user.slice(i + 1) };
  const secret = prompt("Password:") ?? "";
  return { username: user, secret };
}

export async function resolverFor(flags: RegistryFlags): Promise<Resolver> {
  const creds = await credentialsOf(flags.user);
  return createResolver({
    plainHttp: !!flags["plain-http"],
    skipVerify: !!flags["skip-verify"],
    hostsDir: flags["hosts-dir"] || undefined,
    credentials: creds ? async () => creds : undefined,
  });
}

/** WithImageConfig: the image config's Env, Entrypoint + Cmd, WorkingDir and User applied to a
 *  spec, as containerd's oci.WithImageConfigArgs does for Linux. */
import { withProcessArgs } from "./opts.ts";
import { replaceOrAppendEnv } from "./opts.ts";
import type { Spec } from "./spec.ts";
import { type RootfsFiles, withAdditionalGIDs, withUser } from "./user.ts";

/** The `config` object of an OCI image config (Docker's field names). */
export interface ImageRunConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export async function withImageConfig(
  s: Spec,
  config: ImageRunConfig,
  root: RootfsFiles,
  args: readonly string[] = [],
): Promise<void> {
  s.process ??= { user: { uid: 0, gid: 0 }, cwd: "" };
  const defaults = config.Env?.length ? config.Env : [DEFAULT_PATH_ENV];
  s.process.env = replaceOrAppendEnv(defaults, s.process.env ?? []);
  const cmd = args.length > 0 ? args : (config.Cmd ?? []);
  withProcessArgs(s, [...(config.Entrypoint ?? []), ...cmd]);
  s.process.cwd = config.WorkingDir || "/";
  if (config.User) {
    await withUser(s, root, config.User);
    await withAdditionalGIDs(s, root, String(s.process.user.uid));
    return;
  }
  // The image names no user: still take root's supplementary groups from /etc/group.
  await withAdditionalGIDs(s, root, "root");
}

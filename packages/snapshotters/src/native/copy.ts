/** A full copy of a directory tree onto an existing directory, as continuity's fs.CopyDir does
 *  for the native snapshotter: modes, owners, times, xattrs, hard links, symlinks and device
 *  nodes kept, the root directory's attributes included. GNU `cp -a` does all of that (and
 *  clones extents where the filesystem can, `--reflink=auto`). */
import { toBunkerError } from "@bunkerd/plugin-api";

/** Copies the contents and attributes of `src` onto the existing directory `dst`. */
export async function copyDir(dst: string, src: string): Promise<void> {
  const proc = Bun.spawn(["cp", "-a", "--reflink=auto", "--", `${src}/.`, dst], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) {
    throw toBunkerError(new Error(`failed to copy ${src} to ${dst}: ${err.trim() || `exit status ${code}`}`));
  }
}

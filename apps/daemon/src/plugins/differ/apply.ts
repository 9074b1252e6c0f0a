/** Applying a layer: containerd's `archive.Apply` on a directory, and `diff/apply`'s choice of
 *  where to apply given the snapshot's mounts. The diffID is the sha256 of the whole
 *  uncompressed stream, trailing bytes after the end-of-archive marker included (containerd
 *  drains the stream into the digester after the tar reader stops). */
import { Applier, type WhiteoutMode } from "./applier.ts";
import { StreamHash } from "./hash.ts";
import { type Mount, withTempMount } from "./mount.ts";
import { TarReader } from "./tar.ts";
import { runningInUserNS } from "./userns.ts";

export type { WhiteoutMode } from "./applier.ts";

export interface ApplyTarOptions {
  whiteouts?: WhiteoutMode;
  /** Overlay lower dirs, top first (overlay whiteout mode): attributes of missing parents. */
  parents?: string[];
  warn?: (msg: string) => void;
  signal?: AbortSignal;
}

export interface ApplyResult {
  /** sha256 of the uncompressed stream, `sha256:<hex>`. */
  diffID: string;
  /** Uncompressed bytes read. */
  size: number;
  /** Tar entries read (meta headers not counted). */
  entries: number;
}

/** Applies one uncompressed tar stream into `root`. Each chunk is used up before the next is
 *  asked for, so a source may hand out the same buffer again (openLayer's reuseChunks). */
export async function applyTar(
  root: string,
  chunks: AsyncIterable<Uint8Array>,
  opts: ApplyTarOptions = {},
): Promise<ApplyResult> {
  const hasher = new StreamHash();
  let size = 0;
  let ok = false;
  const applier = new Applier(root, {
    whiteouts: opts.whiteouts,
    parents: opts.parents,
    skipDevices: runningInUserNS(),
    warn: opts.warn,
  });
  const reader = new TarReader(applier);
  try {
    for await (const chunk of chunks) {
      opts.signal?.throwIfAborted();
      size += chunk.length;
      hasher.update(chunk);
      if (!reader.done) reader.push(chunk);
      await hasher.drained();
    }
    reader.end();
    applier.finish();
    ok = true;
  } finally {
    applier.close();
    if (!ok) hasher.abort();
  }
  return { diffID: await hasher.digest(), size, entries: applier.entries };
}

/** Where a layer goes for a set of snapshot mounts: a single overlay mount with an upperdir
 *  is applied straight into the upperdir with overlay whiteouts (no mount needed), unless in
 *  a user namespace where char 0/0 cannot be made; anything else is mounted and applied
 *  natively. containerd's diff/apply/apply_linux.go. */
export type ApplyTarget =
  | { kind: "overlay"; upperdir: string; parents: string[] }
  | { kind: "mount"; mounts: Mount[] };

export function applyTarget(mounts: Mount[]): ApplyTarget {
  if (mounts.length === 1 && mounts[0]!.type === "overlay" && !runningInUserNS()) {
    let upperdir = "";
    let parents: string[] = [];
    for (const o of mounts[0]!.options) {
      if (o.startsWith("upperdir=")) upperdir = o.slice("upperdir=".length);
      else if (o.startsWith("lowerdir=")) parents = o.slice("lowerdir=".length).split(":");
    }
    if (upperdir !== "") return { kind: "overlay", upperdir, parents };
  }
  return { kind: "mount", mounts };
}

/** Applies a layer stream onto snapshot mounts. `tmpMountsDir` holds the temporary mount
 *  point when one is needed. */
export async function applyToMounts(
  mounts: Mount[],
  chunks: AsyncIterable<Uint8Array>,
  tmpMountsDir: string,
  opts: Omit<ApplyTarOptions, "whiteouts" | "parents"> = {},
): Promise<ApplyResult> {
  const target = applyTarget(mounts);
  if (target.kind === "overlay") {
    return applyTar(target.upperdir, chunks, { ...opts, whiteouts: "overlay", parents: target.parents });
  }
  return withTempMount(tmpMountsDir, target.mounts, (root) => applyTar(root, chunks, opts));
}

/** The overlayfs snapshotter, as containerd's snapshots/overlay (1.6): each snapshot is a
 *  directory `<root>/snapshots/<id>` holding `fs` (the upper layer, the whole tree of a base
 *  snapshot) and, for an active snapshot, `work` (overlayfs's scratch directory). A committed
 *  snapshot's `fs` is a lowerdir of its descendants; nothing is ever copied.
 *
 *  Mounts, in containerd's shapes:
 *    no parent                    bind <id>/fs, rw (active) or ro (view), rbind
 *    view of one parent           bind <parent>/fs, ro, rbind
 *    otherwise                    overlay: [index=off] [userxattr] [workdir= upperdir= (active)]
 *                                 lowerdir=<parent>/fs:…:<base>/fs, then `mount_options`
 *
 *  Removal drops the record; the directories go at once with `syncRemove`, else at the next
 *  `cleanup()` (the garbage collector's call), which removes every directory without a record. */
import { lchownSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, toBunkerError } from "@bunkerd/plugin-api";
import { wrapping } from "../errors.ts";
import type {
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from "../snapshotter.ts";
import { MetaStore, type StoredSnapshot, type Transaction } from "../storage/index.ts";
import { diskUsage } from "../usage.ts";
import { needsUserXAttr, supportsIndex } from "./check.ts";

/** The label that carries a snapshot's upper directory when `upperdirLabel` is set. */
export const UPPERDIR_LABEL = "containerd.io/snapshot/overlay.upperdir";

export interface OverlayOptions {
  /** Add UPPERDIR_LABEL to the info of every snapshot (config `upperdir_label`). */
  upperdirLabel?: boolean;
  /** Remove directories with the record instead of at `cleanup()` (config `sync_remove`). */
  syncRemove?: boolean;
  /** Appended to overlay mounts, not bind mounts (config `mount_options`). */
  mountOptions?: string[];
  /** Pass `index=off`; detected from the overlay module when not given. */
  indexOff?: boolean;
  /** Pass `userxattr`; detected (user namespace, kernel) when not given. */
  userxattr?: boolean;
  log?: Logger;
}

export class OverlaySnapshotter implements Snapshotter, AsyncDisposable {
  private readonly snapshotsDir: string;
  private readonly mountOptions: string[];

  private constructor(
    readonly root: string,
    private readonly ms: MetaStore,
    private readonly opts: Required<Omit<OverlayOptions, "log" | "mountOptions">> & { log?: Logger },
    mountOptions: string[],
  ) {
    this.snapshotsDir = join(root, "snapshots");
    this.mountOptions = mountOptions;
  }

  /** Opens the snapshotter at `root` (created 0700), with its records in `<root>/metadata.db`.
   *  Does not check that overlayfs works: the plugin does, with `overlaySupport`. */
  static async open(root: string, opts: OverlayOptions = {}): Promise<OverlaySnapshotter> {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const ms = MetaStore.open(join(root, "metadata.db"));
    try {
      mkdirSync(join(root, "snapshots"), { recursive: true, mode: 0o700 });
      const mountOptions = [...(opts.mountOptions ?? [])];
      // Options given in mount_options win over the detected ones.
      const given = (k: string) => mountOptions.some((o) => o === k || o.startsWith(`${k}=`));
      let userxattr = opts.userxattr;
      if (userxattr === undefined) {
        try {
          userxattr = await needsUserXAttr(root);
        } catch (e) {
          userxattr = false;
          opts.log?.warn(`cannot detect whether "userxattr" option needs to be used, assuming to be false`, {
            error: toBunkerError(e).message,
          });
        }
      }
      return new OverlaySnapshotter(
        root,
        ms,
        {
          upperdirLabel: opts.upperdirLabel ?? false,
          syncRemove: opts.syncRemove ?? false,
          indexOff: !given("index") && (opts.indexOff ?? supportsIndex()),
          userxattr: !given("userxattr") && userxattr,
          log: opts.log,
        },
        mountOptions,
      );
    } catch (e) {
      ms.close();
      throw e;
    }
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const { id, info } = this.ms.read((tx) => tx.getInfo(key));
    return this.labelled(id, info);
  }

  async update(info: SnapshotInfo, fieldpaths: string[] = []): Promise<SnapshotInfo> {
    return this.ms.write((tx) => {
      const updated = tx.updateInfo(info, fieldpaths);
      return this.opts.upperdirLabel ? this.labelled(tx.getInfo(updated.name).id, updated) : updated;
    });
  }

  async usage(key: string): Promise<Usage> {
    const { id, info, usage } = this.ms.read((tx) => tx.getInfo(key));
    return info.kind === "active" ? diskUsage(this.upperPath(id)) : usage;
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = this.ms.read((tx) => wrapping("failed to get active mount", () => tx.getSnapshot(key)));
    return this.mountsOf(s);
  }

  async prepare(key: string, parent = "", opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.createSnapshot("active", key, parent, opts);
  }

  async view(key: string, parent = "", opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.createSnapshot("view", key, parent, opts);
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    this.ms.write((tx) => {
      const { id } = tx.getInfo(key);
      const usage = diskUsage(this.upperPath(id));
      wrapping("failed to commit snapshot", () => tx.commitActive(key, name, usage, opts.labels));
    });
  }

  async remove(key: string): Promise<void> {
    const removals = this.ms.write((tx) => {
      wrapping("failed to remove", () => tx.remove(key));
      return this.opts.syncRemove
        ? wrapping("unable to get directories for removal", () => this.cleanupDirectories(tx))
        : [];
    });
    // The record is gone: a directory that will not go is only logged (containerd does the same).
    await this.removeAll(removals);
  }

  async *walk(filters: string[] = []): AsyncIterable<SnapshotInfo> {
    const found = this.ms.read((tx) => tx.walkInfo(filters));
    for (const { id, info } of found) yield this.labelled(id, info);
  }

  async cleanup(): Promise<void> {
    // A write transaction, so no snapshot is being created while the directory is listed.
    const dirs = this.ms.write((tx) => this.cleanupDirectories(tx));
    await this.removeAll(dirs);
  }

  async close(): Promise<void> {
    this.ms.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** `<root>/snapshots/<id>/fs` */
  upperPath(id: string): string {
    return join(this.snapshotsDir, id, "fs");
  }

  /** `<root>/snapshots/<id>/work` */
  workPath(id: string): string {
    return join(this.snapshotsDir, id, "work");
  }

  private createSnapshot(kind: SnapshotKind, key: string, parent: string, opts: SnapshotOptions): Mount[] {
    let td: string | undefined;
    let path: string | undefined;
    try {
      const s = this.ms.write((tx) => {
        td = wrapping("failed to create prepare snapshot dir", () => this.prepareDirectory(kind));
        const s = wrapping("failed to create snapshot", () =>
          tx.createSnapshot(kind, key, parent || undefined, opts.labels),
        );
        if (s.parentIds.length > 0) {
          // The new upper directory belongs to whoever owns the parent's.
          const st = wrapping("failed to stat parent", () => statSync(this.upperPath(s.parentIds[0]!)));
          wrapping("failed to chown", () => lchownSync(join(td!, "fs"), st.uid, st.gid));
        }
        wrapping("failed to rename", () => renameSync(td!, join(this.snapshotsDir, s.id)));
        path = join(this.snapshotsDir, s.id);
        td = undefined;
        return s;
      });
      path = undefined;
      return this.mountsOf(s);
    } catch (e) {
      if (td) rmSync(td, { recursive: true, force: true });
      if (path) rmSync(path, { recursive: true, force: true });
      throw e;
    }
  }

  /** `snapshots/new-XXXXXX` with `fs` (0755) and, for an active snapshot, `work` (0711). */
  private prepareDirectory(kind: SnapshotKind): string {
    const td = mkdtempSync(join(this.snapshotsDir, "new-"));
    try {
      mkdirSync(join(td, "fs"), { mode: 0o755 });
      if (kind === "active") mkdirSync(join(td, "work"), { mode: 0o711 });
      return td;
    } catch (e) {
      rmSync(td, { recursive: true, force: true });
      throw e;
    }
  }

  private mountsOf(s: StoredSnapshot): Mount[] {
    if (s.parentIds.length === 0) {
      // One layer: overlay needs a lowerdir, so a bind mount does it.
      return [
        { type: "bind", source: this.upperPath(s.id), options: [s.kind === "view" ? "ro" : "rw", "rbind"] },
      ];
    }
    const options: string[] = [];
    if (this.opts.indexOff) options.push("index=off");
    if (this.opts.userxattr) options.push("userxattr");
    if (s.kind === "active") {
      options.push(`workdir=${this.workPath(s.id)}`, `upperdir=${this.upperPath(s.id)}`);
    } else if (s.parentIds.length === 1) {
      return [{ type: "bind", source: this.upperPath(s.parentIds[0]!), options: ["ro", "rbind"] }];
    }
    options.push(`lowerdir=${s.parentIds.map((id) => this.upperPath(id)).join(":")}`);
    options.push(...this.mountOptions);
    return [{ type: "overlay", source: "overlay", options }];
  }

  private labelled(id: string, info: SnapshotInfo): SnapshotInfo {
    if (!this.opts.upperdirLabel) return info;
    return { ...info, labels: { ...info.labels, [UPPERDIR_LABEL]: this.upperPath(id) } };
  }

  /** Directories under `snapshots/` that no record names. */
  private cleanupDirectories(tx: Transaction): string[] {
    const ids = tx.idMap();
    return readdirSync(this.snapshotsDir)
      .filter((d) => !ids.has(d))
      .map((d) => join(this.snapshotsDir, d));
  }

  private async removeAll(dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      try {
        await rm(dir, { recursive: true, force: true });
      } catch (e) {
        this.opts.log?.warn("failed to remove directory", { path: dir, error: toBunkerError(e).message });
      }
    }
  }
}

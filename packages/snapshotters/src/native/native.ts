/** The native snapshotter, as containerd's snapshots/native: every active snapshot is a full copy
 *  of its parent in `<root>/snapshots/<id>`, mounted with a bind (rw; ro for a view). A view of
 *  a committed snapshot is the parent's own directory, bound read-only; nothing is copied.
 *
 *  The copy runs before the record is written (a SQLite transaction cannot wait for it), into
 *  `snapshots/new-XXXXXX`; the record and the rename to `<id>` then happen in one transaction,
 *  which checks again that the parent is the one that was copied. */
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { failedPrecondition, type Logger, toBunkerError } from "@bunkerd/plugin-api";
import { wrap, wrapping } from "../errors.ts";
import type {
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from "../snapshotter.ts";
import { MetaStore, type StoredSnapshot } from "../storage/index.ts";
import { diskUsage } from "../usage.ts";
import { copyDir } from "./copy.ts";

export interface NativeOptions {
  log?: Logger;
}

export class NativeSnapshotter implements Snapshotter, AsyncDisposable {
  private readonly snapshotsDir: string;
  /** Temporary directories of snapshots being created: `cleanup()` leaves them alone. */
  private readonly inflight = new Set<string>();

  private constructor(
    readonly root: string,
    private readonly ms: MetaStore,
    private readonly log?: Logger,
  ) {
    this.snapshotsDir = join(root, "snapshots");
  }

  /** Opens the snapshotter at `root` (created 0700), with its records in `<root>/metadata.db`. */
  static async open(root: string, opts: NativeOptions = {}): Promise<NativeSnapshotter> {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const ms = MetaStore.open(join(root, "metadata.db"));
    try {
      mkdirSync(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    } catch (e) {
      ms.close();
      throw e;
    }
    return new NativeSnapshotter(root, ms, opts.log);
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.ms.read((tx) => tx.getInfo(key).info);
  }

  async update(info: SnapshotInfo, fieldpaths: string[] = []): Promise<SnapshotInfo> {
    return this.ms.write((tx) => tx.updateInfo(info, fieldpaths));
  }

  async usage(key: string): Promise<Usage> {
    const { id, info, usage } = this.ms.read((tx) => tx.getInfo(key));
    return info.kind === "active" ? diskUsage(this.snapshotDir(id)) : usage;
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = this.ms.read((tx) => wrapping("failed to get snapshot mount", () => tx.getSnapshot(key)));
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
      const usage = diskUsage(this.snapshotDir(id));
      wrapping("failed to commit snapshot", () => tx.commitActive(key, name, usage, opts.labels));
    });
  }

  async remove(key: string): Promise<void> {
    let path: string | undefined;
    let renamed: string | undefined;
    try {
      this.ms.write((tx) => {
        const { id } = wrapping("failed to remove", () => tx.remove(key));
        // Out of the way inside the transaction, gone after it: a crash leaves an rm-<id>
        // that `cleanup()` removes.
        path = this.snapshotDir(id);
        const target = join(this.snapshotsDir, `rm-${id}`);
        try {
          renameSync(path, target);
          renamed = target;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw wrap("failed to rename", e);
        }
      });
    } catch (e) {
      // The transaction did not commit: put the directory back.
      if (renamed && path) {
        try {
          renameSync(renamed, path);
        } catch (e1) {
          this.log?.error("failed to rename after failed commit", {
            path: renamed,
            error: toBunkerError(e1).message,
          });
        }
      }
      throw e;
    }
    if (renamed) await this.removeAll([renamed]);
  }

  async *walk(filters: string[] = []): AsyncIterable<SnapshotInfo> {
    const found = this.ms.read((tx) => tx.walkInfo(filters));
    for (const { info } of found) yield info;
  }

  /** Removes directories under `snapshots/` that no record names (removed snapshots whose
   *  deletion failed, leftovers of a crash), except those of snapshots being created. */
  async cleanup(): Promise<void> {
    const dirs = this.ms.write((tx) => {
      const ids = tx.idMap();
      return readdirSync(this.snapshotsDir)
        .map((d) => join(this.snapshotsDir, d))
        .filter((p) => !ids.has(p.slice(this.snapshotsDir.length + 1)) && !this.inflight.has(p));
    });
    await this.removeAll(dirs);
  }

  async close(): Promise<void> {
    this.ms.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** `<root>/snapshots/<id>` */
  snapshotDir(id: string): string {
    return join(this.snapshotsDir, id);
  }

  private async createSnapshot(
    kind: SnapshotKind,
    key: string,
    parent: string,
    opts: SnapshotOptions,
  ): Promise<Mount[]> {
    const parentKey = parent || undefined;
    // Refuse what the record would refuse before copying anything.
    const plan = this.ms.read((tx) =>
      wrapping("failed to create snapshot", () => tx.planSnapshot(kind, key, parentKey)),
    );
    // An active snapshot gets a copy of its parent; a view of nothing gets an empty directory.
    if (kind !== "active" && parentKey) {
      const s = this.ms.write((tx) =>
        wrapping("failed to create snapshot", () => tx.createSnapshot(kind, key, parentKey, opts.labels)),
      );
      return this.mountsOf(s);
    }
    let td: string | undefined = wrapping("failed to create temp dir", () =>
      mkdtempSync(join(this.snapshotsDir, "new-")),
    );
    this.inflight.add(td);
    try {
      const copied = plan.parentIds[0];
      if (copied) {
        try {
          await copyDir(td, this.snapshotDir(copied));
        } catch (e) {
          throw wrap("copying of parent failed", e);
        }
      }
      const s = this.ms.write((tx) => {
        const s = wrapping("failed to create snapshot", () =>
          tx.createSnapshot(kind, key, parentKey, opts.labels),
        );
        if (s.parentIds[0] !== copied) {
          throw failedPrecondition(
            `failed to create snapshot: parent ${JSON.stringify(parent)} changed while copying`,
          );
        }
        wrapping("failed to rename", () => renameSync(td!, this.snapshotDir(s.id)));
        return s;
      });
      this.inflight.delete(td);
      td = undefined;
      return this.mountsOf(s);
    } finally {
      if (td) {
        this.inflight.delete(td);
        rmSync(td, { recursive: true, force: true });
      }
    }
  }

  private mountsOf(s: StoredSnapshot): Mount[] {
    const source =
      s.parentIds.length === 0 || s.kind === "active"
        ? this.snapshotDir(s.id)
        : this.snapshotDir(s.parentIds[0]!);
    return [{ type: "bind", source, options: [s.kind === "view" ? "ro" : "rw", "rbind"] }];
  }

  private async removeAll(dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      try {
        await rm(dir, { recursive: true, force: true });
      } catch (e) {
        this.log?.warn("failed to remove root filesystem", { path: dir, error: toBunkerError(e).message });
      }
    }
  }
}

/** io.containerd.service.v1.snapshots-service's instance: every backend snapshotter that loaded,
 *  each behind its namespaced snapshotter, found by the name a request gives (containerd's
 *  `getSnapshotter`, with its errors). It also lends the collector, in the metadata worker, what it
 *  needs of the backends (`backendNames`, `removeBackend`, `walkBackend`, `cleanupBackend`: see
 *  gc-backend.ts), and
 *  offers each namespaced operation by snapshotter name for callers in other workers. */
import { invalidArgument, type Logger } from "@bunkerd/plugin-api";
import type { NamespacedSnapshotter, Scope, SnapshotInfo } from "./store.ts";
import type { Labels, Mount, Usage } from "./snapshotter.ts";

/** A backend snapshot as the collector walks it: its backend name and its parent's. */
export type BackendEntry = { name: string; parent?: string };

export class SnapshotsService {
  private readonly byName: Map<string, NamespacedSnapshotter>;

  constructor(snapshotters: Iterable<NamespacedSnapshotter>) {
    this.byName = new Map([...snapshotters].map((s) => [s.name, s]));
  }

  /** The loaded snapshotters' names, sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  /** The namespaced snapshotter a request names; InvalidArgument as containerd answers. */
  get(name: string): NamespacedSnapshotter {
    if (name === "") throw invalidArgument("snapshotter argument missing");
    const s = this.byName.get(name);
    if (!s) throw invalidArgument(`snapshotter not loaded: ${name}`);
    return s;
  }

  /** Settles what a crash left pending, in every snapshotter, before the service serves. */
  async recover(log?: Logger): Promise<void> {
    for (const s of this.byName.values()) {
      const { settled, left } = await s.recover();
      if (settled + left > 0) log?.info("settled pending snapshots", { snapshotter: s.name, settled, left });
    }
  }

  // ── For callers in other workers (a proxy has no way to reach a NamespacedSnapshotter) ──

  prepare(snapshotter: string, scope: Scope, key: string, parent?: string, opts?: { labels?: Labels }) {
    return this.get(snapshotter).prepare(scope, key, parent, opts);
  }
  view(snapshotter: string, scope: Scope, key: string, parent?: string, opts?: { labels?: Labels }) {
    return this.get(snapshotter).view(scope, key, parent, opts);
  }
  commit(snapshotter: string, scope: Scope, name: string, key: string, opts?: { labels?: Labels }) {
    return this.get(snapshotter).commit(scope, name, key, opts);
  }
  mounts(snapshotter: string, scope: Scope, key: string): Promise<Mount[]> {
    return this.get(snapshotter).mounts(scope, key);
  }
  remove(snapshotter: string, scope: Scope, key: string): Promise<void> {
    return this.get(snapshotter).remove(scope, key);
  }
  stat(snapshotter: string, scope: Scope, key: string): Promise<SnapshotInfo> {
    return this.get(snapshotter).stat(scope, key);
  }
  update(snapshotter: string, scope: Scope, info: { name: string; labels?: Labels }, fieldpaths?: string[]) {
    return this.get(snapshotter).update(scope, info, fieldpaths);
  }
  usage(snapshotter: string, scope: Scope, key: string): Promise<Usage> {
    return this.get(snapshotter).usage(scope, key);
  }
  /** A stream over a proxy: not an async function, so the generator itself is the answer. */
  walk(snapshotter: string, scope: Scope, filters?: string[]): AsyncIterable<SnapshotInfo> {
    return this.get(snapshotter).walk(scope, filters);
  }

  // ── For the collector (plugins/gc), by backend name ──

  /** The snapshotters whose backends the collector may clean. */
  async backendNames(): Promise<string[]> {
    return this.names();
  }

  /** Removes a backend snapshot no record names; NotFound and FailedPrecondition (it has children)
   *  come back for the collector to judge. */
  async removeBackend(snapshotter: string, backendName: string): Promise<void> {
    await this.get(snapshotter).backend.remove(backendName);
  }

  /** Lets the backend drop what removed snapshots left on disk (overlayfs defers it), after a
   *  collection removed some, as containerd's garbageCollect does; a no-op for one without. */
  async cleanupBackend(snapshotter: string): Promise<void> {
    const backend = this.get(snapshotter).backend;
    if (backend.cleanup) await backend.cleanup();
  }

  /** Every snapshot the backend holds, by backend name with its parent's (a stream over a proxy). */
  async *walkBackend(snapshotter: string): AsyncGenerator<BackendEntry> {
    for await (const info of await this.get(snapshotter).backend.walk()) {
      yield info.parent ? { name: info.name, parent: info.parent } : { name: info.name };
    }
  }
}

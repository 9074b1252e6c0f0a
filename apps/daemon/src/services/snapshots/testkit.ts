/** Test support: an in-memory backend snapshotter that answers as containerd 1.6's native one
 *  does (its storage errors, wrapped the same way; bind mounts), with hooks to fail or pause a
 *  call, and a way to put any object behind a real MessagePort proxy, as another worker sees it. */
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  PortPeer,
  pluginProxy,
} from "@bunkerd/plugin-api";
import { goQuote } from "../../plugins/metadata/validate.ts";
import type { Info, Labels, Mount, Snapshotter, SnapshotKind, Usage } from "./snapshotter.ts";

type Op = "prepare" | "view" | "commit" | "remove" | "stat" | "mounts" | "update" | "usage" | "walk";
type Entry = { id: number; info: Info };

export class MemorySnapshotter implements Snapshotter {
  readonly snapshots = new Map<string, Entry>();
  /** Every call, in order: [op, key]. */
  readonly calls: [Op, string][] = [];
  private readonly hooks = new Map<Op, (key: string) => void | Promise<void>>();
  private nextId = 0;
  cleanup?: () => Promise<void>;

  constructor(
    readonly root = "/var/lib/bunkerd/io.containerd.snapshotter.v1.native/snapshots",
    opts: { cleanup?: () => Promise<void> } = {},
  ) {
    if (opts.cleanup) this.cleanup = opts.cleanup;
  }

  /** Runs `fn` before the next call of `op` (once); it may throw to fail the call. */
  before(op: Op, fn: (key: string) => void | Promise<void>): this {
    this.hooks.set(op, fn);
    return this;
  }

  /** The backend names it holds, sorted. */
  keys(): string[] {
    return [...this.snapshots.keys()].sort();
  }

  async prepare(key: string, parent?: string, opts: { labels?: Labels } = {}): Promise<Mount[]> {
    return this.create("prepare", "active", key, parent, opts.labels);
  }

  async view(key: string, parent?: string, opts: { labels?: Labels } = {}): Promise<Mount[]> {
    return this.create("view", "view", key, parent, opts.labels);
  }

  async commit(name: string, key: string, opts: { labels?: Labels } = {}): Promise<void> {
    await this.enter("commit", key);
    if (this.snapshots.has(name))
      throw alreadyExists(`failed to commit snapshot: committed snapshot ${name}`);
    const s = this.snapshots.get(key);
    if (!s) throw notFound(`failed to commit snapshot: failed to get active snapshot ${goQuote(key)}`);
    if (s.info.kind !== "active") {
      throw failedPrecondition(`failed to commit snapshot: snapshot ${goQuote(key)} is not active`);
    }
    this.snapshots.delete(key);
    const now = new Date();
    const info: Info = { name, kind: "committed", labels: { ...opts.labels }, created: now, updated: now };
    if (s.info.parent) info.parent = s.info.parent;
    this.snapshots.set(name, { id: s.id, info });
  }

  async remove(key: string): Promise<void> {
    await this.enter("remove", key);
    if (!this.snapshots.has(key)) throw notFound(`failed to remove: snapshot ${key}`);
    for (const s of this.snapshots.values()) {
      if (s.info.parent === key)
        throw failedPrecondition("failed to remove: cannot remove snapshot with child");
    }
    this.snapshots.delete(key);
  }

  async stat(key: string): Promise<Info> {
    await this.enter("stat", key);
    return structuredClone(this.get(key).info);
  }

  async mounts(key: string): Promise<Mount[]> {
    await this.enter("mounts", key);
    return this.mountsOf(this.get(key));
  }

  async usage(key: string): Promise<Usage> {
    await this.enter("usage", key);
    this.get(key);
    return { size: 4096, inodes: 1 };
  }

  /** storage.UpdateInfo: labels only. */
  async update(info: { name: string; labels: Labels }, fieldpaths: string[] = []): Promise<Info> {
    await this.enter("update", info.name);
    const s = this.get(info.name);
    const labels = new Map(Object.entries(s.info.labels));
    if (fieldpaths.length === 0) {
      labels.clear();
      for (const [k, v] of Object.entries(info.labels)) labels.set(k, v);
    }
    for (const path of fieldpaths) {
      if (path.startsWith("labels.")) {
        const key = path.slice("labels.".length);
        labels.set(key, Object.hasOwn(info.labels, key) ? info.labels[key]! : "");
      } else if (path === "labels") {
        labels.clear();
        for (const [k, v] of Object.entries(info.labels)) labels.set(k, v);
      } else {
        throw invalidArgument(`cannot update ${goQuote(path)} field on snapshot ${goQuote(info.name)}`);
      }
    }
    s.info.labels = Object.fromEntries([...labels].filter(([, v]) => v !== ""));
    s.info.updated = new Date();
    return structuredClone(s.info);
  }

  async *walk(): AsyncGenerator<Info> {
    await this.enter("walk", "");
    for (const key of this.keys()) {
      const s = this.snapshots.get(key);
      if (s) yield structuredClone(s.info);
    }
  }

  async close(): Promise<void> {}

  private async create(
    op: Op,
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    labels: Labels | undefined,
  ): Promise<Mount[]> {
    await this.enter(op, key);
    if (this.snapshots.has(key)) throw alreadyExists(`failed to create snapshot: snapshot ${key}`);
    if (parent) {
      const p = this.snapshots.get(parent);
      if (!p) throw notFound(`failed to create snapshot: missing parent ${goQuote(parent)} bucket`);
      if (p.info.kind !== "committed") {
        throw invalidArgument(
          `failed to create snapshot: parent ${goQuote(parent)} is not committed snapshot`,
        );
      }
    }
    const now = new Date();
    const info: Info = { name: key, kind, labels: { ...labels }, created: now, updated: now };
    if (parent) info.parent = parent;
    const entry = { id: ++this.nextId, info };
    this.snapshots.set(key, entry);
    return this.mountsOf(entry);
  }

  private get(key: string): Entry {
    const s = this.snapshots.get(key);
    if (!s) throw notFound(`snapshot ${key} does not exist`);
    return s;
  }

  /** native's mounts: the snapshot's own directory, bound read-write or read-only. */
  private mountsOf(s: Entry): Mount[] {
    if (s.info.kind === "committed") {
      throw failedPrecondition(
        `failed to get snapshot mount: requested snapshot ${s.info.name} not active or view`,
      );
    }
    const ro = s.info.kind === "view";
    return [{ type: "bind", source: `${this.root}/${s.id}`, options: [ro ? "ro" : "rw", "rbind"] }];
  }

  private async enter(op: Op, key: string) {
    this.calls.push([op, key]);
    const hook = this.hooks.get(op);
    if (hook) {
      this.hooks.delete(op);
      await hook(key);
    }
  }
}

/** `target` as another worker reaches it: every call crosses a MessagePort (structured clone,
 *  errors as data, streams flow-controlled), exactly as a plugin proxy carries it. */
export function overPort<T extends object>(target: T): { proxy: T; close(): void } {
  const { port1, port2 } = new MessageChannel();
  new PortPeer(port1, "plugin").serve((call) => {
    const method = call.target.slice(call.target.indexOf("#") + 1);
    const fn = (target as Record<string, unknown>)[method];
    if (typeof fn !== "function") return Promise.reject(notFound(`method ${method}`));
    return fn.apply(target, call.args) as Promise<unknown> | AsyncIterable<unknown>;
  });
  const client = new PortPeer(port2, "caller");
  port1.start();
  port2.start();
  return {
    proxy: pluginProxy<T>(client, "io.containerd.test.v1.proxied"),
    close() {
      port1.close();
      port2.close();
    },
  };
}

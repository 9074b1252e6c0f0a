/** Write sessions on the namespaced content store for a caller in another worker (the pull
 *  pipeline), run in the content worker beside the store. A NamespacedWriter is an object with
 *  methods and cannot cross a port; here it stays put and the caller drives it by session id,
 *  one call per chunk (chunks are transferred ArrayBuffers, never copied JSON).
 *
 *  A session that its caller forgets (the other worker died mid-pull) is closed after
 *  IDLE_MS without a call, which releases the ref; the ingest itself stays on disk, so a
 *  later pull resumes it from its offset. */
import { BunkerError, Kind, notFound } from "@bunkerd/plugin-api";
import type { NamespacedContent, NamespacedWriter } from "../../services/content/store.ts";

export const IDLE_MS = 5 * 60_000;

export interface OpenOptions {
  total?: number;
  expected?: string;
  lease?: string;
}

/** What open answers: a session at its ingest's offset, or the blob is already there (and now
 *  leased to the caller's lease, as containerd's writer does on AlreadyExists). */
export type Opened = { exists: true } | { exists: false; id: string; offset: number };

type Content = Pick<NamespacedContent, "writer" | "abort">;

interface Session {
  ns: string;
  ref: string;
  lease?: string;
  writer: NamespacedWriter;
  touched: number;
}

export class IngestSessions {
  private readonly sessions = new Map<string, Session>();
  private next = 1;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private readonly content: Content,
    private readonly idleMs = IDLE_MS,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), Math.min(idleMs, 30_000));
    this.sweeper.unref?.();
  }

  async open(ns: string, ref: string, o: OpenOptions): Promise<Opened> {
    let writer: NamespacedWriter;
    try {
      writer = await this.content.writer(ns, ref, o);
    } catch (e) {
      if (e instanceof BunkerError && e.kind === Kind.AlreadyExists) return { exists: true };
      throw e;
    }
    const id = `${this.next++}`;
    this.sessions.set(id, { ns, ref, lease: o.lease, writer, touched: Date.now() });
    return { exists: false, id, offset: writer.status().offset };
  }

  /** Writes `data` at `offset` (the current offset, or 0 to start over); answers the bytes taken. */
  async write(id: string, offset: number, data: Uint8Array): Promise<number> {
    return this.session(id).writer.writeAt(offset, data);
  }

  async truncate(id: string, size: number): Promise<void> {
    return this.session(id).writer.truncate(size);
  }

  /** Writes `tail` (the last bytes, if any) at the session's offset, commits the blob (its
   *  digest must be `expected`), records it with `labels`, ends the session. One call for a
   *  small blob's bytes and commit. */
  async commit(
    id: string,
    size: number,
    expected: string,
    labels?: Record<string, string>,
    tail?: Uint8Array,
  ): Promise<string> {
    const s = this.session(id);
    try {
      if (tail && tail.length > 0) await s.writer.writeAt(s.writer.status().offset, tail);
      return await s.writer.commit(size, expected, labels);
    } finally {
      await this.close(id);
    }
  }

  /** Ends the session and keeps the ingest, to be resumed. */
  async close(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    await s.writer.close();
  }

  /** Ends the session and drops what was written. */
  async abort(id: string): Promise<void> {
    const s = this.sessions.get(id);
    await this.close(id);
    if (s) await this.content.abort(s.ns, s.ref, s.lease).catch(() => {});
  }

  /** Open sessions (for tests and SIGUSR1 dumps). */
  count(): number {
    return this.sessions.size;
  }

  /** Stops the sweeper and closes every session (their ingests stay). */
  async dispose(): Promise<void> {
    clearInterval(this.sweeper);
    for (const id of [...this.sessions.keys()]) await this.close(id);
  }

  private session(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw notFound(`ingest session ${id}`);
    s.touched = Date.now();
    return s;
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (now - s.touched > this.idleMs) await this.close(id);
  }
}

/** Progress of a pull, as containerd 1.7's transfer service reports it (pkg/transfer/local
 *  progress.go): each descriptor is a job named by its ingest ref, announced `waiting` (with its
 *  parents' refs, or the image name for the root), then `downloading` with the offset reached
 *  (at most every 300 ms), then `complete` — or `already exists` when the blob was there.
 *  containerd polls the content store's statuses for the offsets; here the fetch loop reports
 *  them, so the events are the same without the polling.
 *
 *  containerd 1.7 reports nothing while unpacking; here a layer applied into a snapshot is
 *  also reported under its download job's name: `unpacking` (0 of its size) when the apply
 *  starts, `unpacked` (its size) once the snapshot is committed. A Go ctr shows an event it
 *  does not know as that job's status text, so these read there too. */
import type { Descriptor } from "@bunkerd/registry";
import { refKey } from "@bunkerd/registry";

export interface ProgressEvent {
  event: string;
  name?: string;
  parents?: string[];
  progress?: number;
  total?: number;
  desc?: Descriptor;
}

export type ProgressFn = (p: ProgressEvent) => void;

type JobState = "added" | "progress" | "complete";

interface Job {
  state: JobState;
  name: string;
  parents: string[];
  desc: Descriptor;
  /** Bytes reported so far, and bytes reached. */
  reported: number;
  offset: number;
}

export const PROGRESS_INTERVAL_MS = 300;

export class ProgressTracker {
  private readonly jobs = new Map<string, Job>();
  private readonly parents = new Map<string, Descriptor[]>();
  private readonly timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    /** The image name: the parent of the root descriptor. */
    private readonly root: string,
    private readonly emit: ProgressFn | undefined,
    intervalMs = PROGRESS_INTERVAL_MS,
    /** The event for bytes moving: `downloading` for a pull, `uploading` for a push. */
    private readonly transferring = "downloading",
  ) {
    if (emit) {
      this.timer = setInterval(() => this.tick(), intervalMs);
      this.timer.unref?.();
    }
  }

  /** Remembers which descriptor lists which children, for the children's `parents`. */
  addChildren(desc: Descriptor, children: readonly Descriptor[]): void {
    if (!this.emit) return;
    for (const c of children) {
      const list = this.parents.get(c.digest) ?? [];
      list.push(desc);
      this.parents.set(c.digest, list);
    }
  }

  /** A descriptor the pull will handle: announced once, as `waiting`. */
  add(desc: Descriptor): void {
    if (!this.emit || this.jobs.has(desc.digest)) return;
    const parents = (this.parents.get(desc.digest) ?? []).map(refKey);
    const job: Job = {
      state: "added",
      name: refKey(desc),
      parents: parents.length > 0 ? parents : [this.root],
      desc,
      reported: 0,
      offset: 0,
    };
    this.jobs.set(desc.digest, job);
    this.emit({
      event: "waiting",
      name: job.name,
      parents: job.parents,
      progress: 0,
      total: desc.size,
      desc,
    });
  }

  /** Bytes of the blob stored so far (the ingest's offset). */
  update(desc: Descriptor, offset: number): void {
    const job = this.jobs.get(desc.digest);
    if (job && job.state !== "complete") job.offset = offset;
  }

  /** The blob is committed. */
  complete(desc: Descriptor): void {
    const job = this.jobs.get(desc.digest);
    if (!this.emit || !job || job.state === "complete") return;
    job.state = "complete";
    this.emit({
      event: "complete",
      name: job.name,
      parents: job.parents,
      progress: desc.size,
      total: desc.size,
      desc: job.desc,
    });
  }

  /** The blob was in the store already. */
  exists(desc: Descriptor): void {
    const job = this.jobs.get(desc.digest);
    if (!this.emit || !job || job.state === "complete") return;
    job.state = "complete";
    this.emit({
      event: "already exists",
      name: job.name,
      progress: desc.size,
      total: desc.size,
      desc: job.desc,
    });
  }

  /** A stored layer starts being applied into a snapshot. */
  unpacking(desc: Descriptor): void {
    this.unpackEvent(desc, "unpacking", 0);
  }

  /** The layer's snapshot is committed (or was committed meanwhile by another pull). */
  unpacked(desc: Descriptor): void {
    this.unpackEvent(desc, "unpacked", desc.size);
  }

  private unpackEvent(desc: Descriptor, event: string, progress: number): void {
    if (!this.emit) return;
    const job = this.jobs.get(desc.digest);
    this.emit({
      event,
      name: job?.name ?? refKey(desc),
      parents: job?.parents ?? [this.root],
      progress,
      total: desc.size,
      desc,
    });
  }

  /** Reports the offsets reached since the last tick. */
  tick(): void {
    if (!this.emit) return;
    for (const job of this.jobs.values()) {
      if (job.state === "complete" || job.offset <= job.reported) continue;
      job.state = "progress";
      job.reported = job.offset;
      this.emit({
        event: this.transferring,
        name: job.name,
        parents: job.parents,
        progress: job.offset,
        total: job.desc.size,
        desc: job.desc,
      });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

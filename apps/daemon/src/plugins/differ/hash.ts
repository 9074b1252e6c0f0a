/** sha256 of a stream, on a helper thread where there are cores to spare. Hashing a layer
 *  costs ~15–20% of an apply on one thread (GNU tar computes no digest at all); on its own
 *  core it overlaps the filesystem work. With two cores or fewer the second one already runs
 *  zlib (and the kernel side of the apply), and measured here the helper only slowed things
 *  down, so the hash stays inline.
 *
 *  Chunks are copied into pooled buffers that travel to the hasher and back, so the caller
 *  may reuse its chunk at once. One helper per thread, shared by concurrent streams, started
 *  lazily (from source text, so a compiled binary needs no extra file) and unref'd. If no
 *  worker can be started, hashing happens inline. */
import { availableParallelism } from "node:os";

const SLOT = 1 << 20;
const MAX_IN_FLIGHT = 32;

const SOURCE = `
const jobs = new Map();
self.onmessage = (e) => {
  const m = e.data;
  if (m.t === "u") {
    let h = jobs.get(m.id);
    if (h === undefined) { h = new Bun.CryptoHasher("sha256"); jobs.set(m.id, h); }
    h.update(new Uint8Array(m.b, 0, m.n));
    postMessage({ t: "r", b: m.b }, [m.b]);
  } else if (m.t === "d") {
    const h = jobs.get(m.id) ?? new Bun.CryptoHasher("sha256");
    jobs.delete(m.id);
    postMessage({ t: "d", id: m.id, hex: h.digest("hex") });
  } else if (m.t === "x") {
    jobs.delete(m.id);
  }
};`;

interface Helper {
  worker: Worker;
  pool: ArrayBuffer[];
  inFlight: number;
  digests: Map<number, { resolve: (hex: string) => void; reject: (e: unknown) => void }>;
  waiters: (() => void)[];
}

let helper: Helper | undefined | null;
let nextId = 1;

function start(): Helper | null {
  if (helper !== undefined) return helper;
  try {
    const url = URL.createObjectURL(new Blob([SOURCE], { type: "application/javascript" }));
    const worker = new Worker(url);
    const h: Helper = { worker, pool: [], inFlight: 0, digests: new Map(), waiters: [] };
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { t: string; b?: ArrayBuffer; id?: number; hex?: string };
      if (m.t === "r") {
        h.inFlight--;
        if (h.pool.length < MAX_IN_FLIGHT) h.pool.push(m.b!);
        for (const w of h.waiters.splice(0)) w();
      } else if (m.t === "d") {
        h.digests.get(m.id!)?.resolve(m.hex!);
        h.digests.delete(m.id!);
      }
    };
    worker.onerror = (e) => {
      for (const d of h.digests.values()) d.reject(e);
      h.digests.clear();
      helper = null; // later streams hash inline
    };
    (worker as Worker & { unref(): void }).unref();
    helper = h;
  } catch {
    helper = null;
  }
  return helper;
}

/** Whether hashing goes to a helper thread by default. */
export const hashOnHelper = availableParallelism() >= 3;

export class StreamHash {
  private readonly id = nextId++;
  private readonly helper: Helper | null;
  private readonly inline: Bun.CryptoHasher | undefined;

  constructor(opts: { helper?: boolean } = {}) {
    this.helper = (opts.helper ?? hashOnHelper) ? start() : null;
    this.inline = this.helper === null ? new Bun.CryptoHasher("sha256") : undefined;
  }

  /** Hashes a copy of `chunk`; the caller keeps the chunk. */
  update(chunk: Uint8Array): void {
    if (this.inline !== undefined) {
      this.inline.update(chunk);
      return;
    }
    const h = this.helper!;
    for (let off = 0; off < chunk.length; ) {
      const n = Math.min(SLOT, chunk.length - off);
      const b = h.pool.pop() ?? new ArrayBuffer(SLOT);
      new Uint8Array(b, 0, n).set(chunk.subarray(off, off + n));
      h.inFlight++;
      h.worker.postMessage({ t: "u", id: this.id, b, n }, [b]);
      off += n;
    }
  }

  /** Lets returned buffers come back (they arrive as macrotasks, which a loop of awaits
   *  never reaches), and waits while too many are out so memory stays bounded. */
  async drained(): Promise<void> {
    const h = this.helper;
    if (!h) return;
    await new Promise<void>((r) => setImmediate(r));
    while (h.inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => h.waiters.push(r));
  }

  /** `sha256:<hex>` of everything passed to update. */
  digest(): Promise<string> {
    if (this.inline !== undefined) return Promise.resolve(`sha256:${this.inline.digest("hex")}`);
    const h = this.helper!;
    return new Promise<string>((resolve, reject) => {
      h.digests.set(this.id, { resolve: (hex) => resolve(`sha256:${hex}`), reject });
      h.worker.postMessage({ t: "d", id: this.id });
    });
  }

  /** Drops the hasher state of an abandoned stream. */
  abort(): void {
    this.helper?.worker.postMessage({ t: "x", id: this.id });
  }
}

/** A client-streaming request as an AsyncIterable of encoded messages, ending at END_STREAM.
 *  It holds a few messages and pauses the HTTP/2 stream beyond that, so a slow handler makes
 *  the client wait through flow control instead of growing our memory. */

const highWater = 16;
const lowWater = 4;

type Pending = {
  resolve: (r: IteratorResult<Uint8Array>) => void;
  reject: (e: unknown) => void;
};

export class RequestStream implements AsyncIterableIterator<Uint8Array> {
  private queue: Uint8Array[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private pending: Pending | undefined;
  private paused = false;
  /** The handler stopped reading: later messages are dropped. */
  private abandoned = false;

  constructor(private readonly flow: { pause(): void; resume(): void }) {}

  push(message: Uint8Array): void {
    if (this.abandoned || this.ended || this.failure) return;
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      p.resolve({ value: message, done: false });
      return;
    }
    this.queue.push(message);
    if (this.queue.length >= highWater && !this.paused) {
      this.paused = true;
      this.flow.pause();
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.pending && this.queue.length === 0) {
      const p = this.pending;
      this.pending = undefined;
      p.resolve({ value: undefined, done: true });
    }
  }

  /** The call failed or was cancelled: a waiting or later next() rejects with `error`. */
  fail(error: unknown): void {
    if (this.failure || this.abandoned) return;
    this.failure = { error };
    this.queue = [];
    this.resume();
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      p.reject(error);
    }
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift()!;
      if (this.queue.length <= lowWater) this.resume();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended || this.abandoned) return Promise.resolve({ value: undefined, done: true });
    if (this.pending) return Promise.reject(new Error("request stream: concurrent next() calls"));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.abandoned = true;
    this.queue = [];
    this.resume();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flow.resume();
  }
}

/** The write queue in front of a Bun socket. Bun's `socket.write()` takes what the kernel
 *  accepts and drops the rest (BUN-NOTES.md, "Raw unix sockets"), so whatever it did not take
 *  waits here, in order, until the socket's `drain` handler calls `flush()`. */

/** The part of a Bun socket the queue needs; tests can stand in for it. */
export interface WritableSocket {
  write(data: Uint8Array): number;
}

export class SocketWriter {
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  private waiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly socket: WritableSocket) {}

  /** Bytes still waiting for the socket. */
  get pending(): number {
    return this.queuedBytes;
  }

  /** Sends what the socket takes now and queues the rest. Frames never interleave: while
   *  anything is queued, new data goes behind it. */
  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    if (this.queuedBytes === 0) {
      const n = Math.max(0, this.socket.write(data));
      if (n === data.length) return;
      data = data.subarray(n);
    }
    this.queue.push(data);
    this.queuedBytes += data.length;
  }

  /** Call from the socket's `drain` handler: writes queued data until the socket is full again. */
  flush(): void {
    while (this.head < this.queue.length && !this.closed) {
      const chunk = this.queue[this.head]!;
      const n = Math.max(0, this.socket.write(chunk));
      this.queuedBytes -= n;
      if (n < chunk.length) {
        this.queue[this.head] = chunk.subarray(n);
        // Drop what was sent so a queue that never empties does not grow without end.
        if (this.head > 1024) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        return;
      }
      this.head++;
    }
    this.queue.length = 0;
    this.head = 0;
    this.settle();
  }

  /** Resolves once everything queued has gone to the socket (or the socket closed). */
  flushed(): Promise<void> {
    if (this.queuedBytes === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The socket is gone: drop what is queued and release anyone waiting on `flushed()`. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
    this.settle();
  }

  private settle(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

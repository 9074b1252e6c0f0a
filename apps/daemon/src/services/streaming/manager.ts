/** io.containerd.streaming.v1.manager's instance (containerd 1.7's plugins/streaming): the streams
 *  clients opened with Streaming.Stream, by namespace and id, for the services that use them
 *  (Transfer sends progress on one, asks for credentials on another). A stream is registered
 *  when its StreamInit arrives and leaves when either side closes it. Messages are
 *  google.protobuf.Any, as on the wire. */
import { alreadyExists, notFound } from "@bunkerd/plugin-api";

export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** One side of a client's stream, as a service sees it. */
export interface Stream {
  readonly id: string;
  /** Queues a message for the client; ignored once the stream is closed. */
  send(msg: AnyMessage): void;
  /** The client's next message; undefined when it stopped sending or the stream closed. */
  recv(): Promise<AnyMessage | undefined>;
  /** Ends the stream: the client's Stream call completes. */
  close(): void;
  readonly isClosed: boolean;
}

/** A stream fed by the Streaming service: queues both ways. */
export class ManagedStream implements Stream {
  private readonly out: AnyMessage[] = [];
  private readonly inbox: AnyMessage[] = [];
  private inputEnded = false;
  private closed = false;
  private wakeOut: (() => void) | undefined;
  private wakeIn: (() => void) | undefined;
  private readonly onClose: (() => void)[] = [];

  constructor(readonly id: string) {}

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: AnyMessage): void {
    if (this.closed) return;
    this.out.push(msg);
    this.wakeOut?.();
  }

  async recv(): Promise<AnyMessage | undefined> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.inputEnded || this.closed) return undefined;
      await new Promise<void>((r) => {
        this.wakeIn = r;
      });
      this.wakeIn = undefined;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeOut?.();
    this.wakeIn?.();
    for (const fn of this.onClose.splice(0)) fn();
  }

  whenClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.onClose.push(fn);
  }

  // ── For the Streaming service ──

  /** A message from the client. */
  deliver(msg: AnyMessage): void {
    this.inbox.push(msg);
    this.wakeIn?.();
  }

  /** The client stopped sending. */
  endInput(): void {
    this.inputEnded = true;
    this.wakeIn?.();
  }

  /** What to send the client, until the stream closes (queued messages go first) or `signal` aborts. */
  async *outgoing(signal: AbortSignal): AsyncGenerator<AnyMessage> {
    const wake = () => this.wakeOut?.();
    signal.addEventListener("abort", wake, { once: true });
    try {
      for (;;) {
        const m = this.out.shift();
        if (m) {
          yield m;
          continue;
        }
        if (this.closed || signal.aborted) return;
        await new Promise<void>((r) => {
          this.wakeOut = r;
        });
        this.wakeOut = undefined;
      }
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }
}

export class StreamManager {
  private readonly streams = new Map<string, ManagedStream>();

  private static key(namespace: string, id: string): string {
    return `${namespace}\0${id}`;
  }

  /** AlreadyExists when the namespace has a stream of that id. */
  register(namespace: string, stream: ManagedStream): void {
    const key = StreamManager.key(namespace, stream.id);
    if (this.streams.has(key)) throw alreadyExists(`stream ${JSON.stringify(stream.id)}`);
    this.streams.set(key, stream);
    stream.whenClosed(() => {
      if (this.streams.get(key) === stream) this.streams.delete(key);
    });
  }

  /** NotFound when no such stream is open in the namespace. */
  get(namespace: string, id: string): Stream {
    const s = this.streams.get(StreamManager.key(namespace, id));
    if (!s) throw notFound(`stream ${JSON.stringify(id)}`);
    return s;
  }

  /** Open streams (for tests and dumps). */
  get size(): number {
    return this.streams.size;
  }
}

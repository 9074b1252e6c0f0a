/** The events exchange: every event published in the daemon (by workers, by shims through
 *  Forward, by clients through Publish) is broadcast to the subscribers whose filters match.
 *  It lives on the host thread, the one place every worker already talks to. */
import {
  type Conjunction,
  type EventPayload,
  matchFilters,
  parseFilters,
  recordLookup,
  unavailable,
  validateIdentifier,
  validateTopic,
} from "@bunkerd/plugin-api";

export interface Envelope {
  /** ms since the epoch, with sub-ms precision kept in `nanos`. */
  timestamp: Date;
  namespace: string;
  topic: string;
  event: EventPayload;
}

/** A subscriber that falls this far behind is dropped rather than letting memory grow. */
const MAX_QUEUE = 10_000;

interface Subscriber {
  filters: Conjunction[];
  queue: Envelope[];
  wake?: () => void;
  error?: Error;
}

export class Exchange {
  private readonly subscribers = new Set<Subscriber>();
  published = 0;

  /** Publish from inside the daemon: the envelope gets the current time. */
  async publish(namespace: string, topic: string, event: EventPayload): Promise<void> {
    validateIdentifier(namespace);
    validateTopic(topic);
    this.deliver({ timestamp: new Date(), namespace, topic, event });
  }

  /** Forward an envelope made elsewhere (a shim), keeping its timestamp. */
  async forward(env: Envelope): Promise<void> {
    validateIdentifier(env.namespace);
    validateTopic(env.topic);
    this.deliver(env);
  }

  private deliver(env: Envelope) {
    this.published++;
    const lookup = recordLookup({ topic: env.topic, namespace: env.namespace });
    for (const s of this.subscribers) {
      if (!matchFilters(s.filters, lookup)) continue;
      if (s.queue.length >= MAX_QUEUE) {
        s.error = unavailable("events subscriber fell too far behind");
        this.subscribers.delete(s);
      } else s.queue.push(env);
      s.wake?.();
    }
  }

  /** Envelopes matching any of `filters`, from now until the signal aborts. */
  async *subscribe(filters: readonly string[], signal?: AbortSignal): AsyncGenerator<Envelope> {
    const sub: Subscriber = { filters: parseFilters(filters), queue: [] };
    this.subscribers.add(sub);
    const onAbort = () => sub.wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      for (;;) {
        while (sub.queue.length > 0) yield sub.queue.shift()!;
        if (sub.error) throw sub.error;
        if (signal?.aborted) return;
        await new Promise<void>((r) => {
          sub.wake = r;
        });
        sub.wake = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.subscribers.delete(sub);
    }
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}

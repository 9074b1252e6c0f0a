/** Task events back to the daemon, as containerd 1.6's shims send them: ttrpc
 *  `containerd.services.events.ttrpc.v1.Events/Forward` on TTRPC_ADDRESS, one envelope per event
 *  (timestamp, namespace, topic, the event as an Any with containerd's bare type name).
 *
 *  Events go out in order from one queue. A failed send reconnects and is retried after 1 s, 2 s…
 *  and dropped after 5 retries (containerd's maxRequeue), so a daemon that restarts within
 *  that time still gets every exit. */
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampNow } from "@bufbuild/protobuf/wkt";
import { ForwardRequestSchema } from "@bunkerd/proto/containerd/services/ttrpc/events/v1/events_pb.ts";
import { TtrpcClient } from "@bunkerd/ttrpc";

const EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events";
const MAX_REQUEUE = 5;
const FORWARD_TIMEOUT_MS = 5000;

export interface Publisher {
  publish<Desc extends DescMessage>(topic: string, schema: Desc, event: MessageShape<Desc>): void;
  /** Sends what is queued (bounded by timeoutMs) and closes the connection. */
  close(timeoutMs?: number): Promise<void>;
}

interface Item {
  payload: Uint8Array;
  topic: string;
  count: number;
}

export type LogFn = (level: "info" | "warn" | "error" | "debug", msg: string) => void;

export class TtrpcPublisher implements Publisher {
  private readonly queue: Item[] = [];
  private client: TtrpcClient | undefined;
  private running = false;
  private idle: (() => void)[] = [];
  private closed = false;
  /** Sleeping between retries; close() wakes it so that shutdown is not held up. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly address: string,
    private readonly namespace: string,
    private readonly log: LogFn = () => {},
    private readonly retryDelayMs = 1000,
  ) {}

  publish<Desc extends DescMessage>(topic: string, schema: Desc, event: MessageShape<Desc>): void {
    if (this.address === "") return;
    const envelope = {
      timestamp: timestampNow(),
      namespace: this.namespace,
      topic,
      event: create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, event) }),
    };
    const payload = toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { envelope }));
    this.queue.push({ payload, topic, count: 0 });
    if (!this.running) void this.drain();
  }

  /** Resolves once the queue is empty. */
  flushed(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(timeoutMs = 2000): Promise<void> {
    await Promise.race([this.flushed(), Bun.sleep(timeoutMs)]);
    this.closed = true;
    this.wake?.();
    this.client?.close();
    this.client = undefined;
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.closed) {
      const item = this.queue[0]!;
      try {
        await this.forward(item.payload);
        this.queue.shift();
      } catch (e) {
        item.count++;
        if (item.count > MAX_REQUEUE) {
          this.log("error", `evicting ${item.topic} from queue because of retry count`);
          this.queue.shift();
          continue;
        }
        this.log("warn", `forward event ${item.topic}: ${(e as Error).message}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.retryDelayMs * item.count);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
    this.running = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private async forward(payload: Uint8Array): Promise<void> {
    if (!this.client?.open) {
      this.client?.close();
      this.client = await TtrpcClient.connect(this.address);
    }
    await this.client.call(EVENTS_SERVICE, "Forward", payload, { timeoutMs: FORWARD_TIMEOUT_MS });
  }
}

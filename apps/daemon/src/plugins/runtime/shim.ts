/** A connected shim: containerd.task.v2.Task over our ttrpc client, one typed method per RPC.
 *  Calls carry the namespace in `containerd-namespace-ttrpc`, as containerd's client does;
 *  errors come back with the shim's status code and message unchanged. */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Task } from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { TtrpcClient } from "@bunkerd/ttrpc";
import type { Bundle } from "./bundle.ts";

const SERVICE = Task.typeName;

type Methods = typeof Task.method;
type In<K extends keyof Methods> = Methods[K]["input"];
type Out<K extends keyof Methods> = Methods[K]["output"];

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class ShimConnection {
  private constructor(
    readonly bundle: Bundle,
    readonly address: string,
    private readonly client: TtrpcClient,
  ) {}

  static async connect(bundle: Bundle, address: string): Promise<ShimConnection> {
    return new ShimConnection(bundle, address, await TtrpcClient.connect(address));
  }

  get id(): string {
    return this.bundle.id;
  }
  get namespace(): string {
    return this.bundle.namespace;
  }
  /** Resolves when the connection is gone (the shim exited, or we closed it). */
  get closed(): Promise<void> {
    return this.client.closed;
  }
  get open(): boolean {
    return this.client.open;
  }

  close(): void {
    this.client.close();
  }

  async call<K extends keyof Methods>(
    method: K,
    req: MessageInitShape<In<K>>,
    opts: CallOptions = {},
  ): Promise<MessageShape<Out<K>>> {
    const m = Task.method[method];
    const input = m.input as DescMessage;
    const output = m.output as DescMessage;
    const payload = toBinary(input, create(input, req as never));
    const out = await this.client.call(SERVICE, m.name, payload, {
      metadata: { "containerd-namespace-ttrpc": this.bundle.namespace },
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
    return fromBinary(output, out) as MessageShape<Out<K>>;
  }
}

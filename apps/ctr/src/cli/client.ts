/** The daemon connection every command uses: one gRPC transport over the unix socket (or TCP)
 *  with the global namespace, timeouts, and optionally a lease, on every call. Works against
 *  bunkerd and a real containerd 1.6.
 *
 *    const d = daemon();
 *    const images = d.client(Images);           // a typed Connect client, made on first use
 *    await images.list({ filters });
 *    await d.withLease(async (leased) => { … leased.client(Content) … });  // like Go's WithLease */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { globals } from "./context.ts";
import { fastTransport } from "./fast-transport.ts";

export interface Daemon {
  readonly address: string;
  readonly namespace: string;
  readonly transport: Transport;
  /** The lease every call carries (`containerd-lease`), if any. */
  readonly lease?: string;
  client<S extends DescService>(service: S): Client<S>;
  /** Runs `fn` with a connection whose calls carry a new lease (24 h expiry, as Go ctr's
   *  WithLease), deleting the lease afterwards so that what `fn` left is owned by labels. */
  withLease<T>(fn: (leased: Daemon) => Promise<T>): Promise<T>;
  /** The same daemon in another namespace. */
  inNamespace(namespace: string): Daemon;
}

const leaseInterceptor =
  (lease: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("containerd-lease", lease);
    return next(req);
  };

export function daemon(o: { namespace?: string; lease?: string; address?: string } = {}): Daemon {
  const address = o.address ?? globals.address;
  const namespace = o.namespace ?? globals.namespace;
  const transport = fastTransport(
    { address, namespace, lease: o.lease, timeoutMs: globals.timeoutMs || undefined },
    async () =>
      (await import("@bunkerd/client")).createDaemonTransport(address, {
        namespace,
        connectTimeoutMs: globals.connectTimeoutMs || undefined,
        timeoutMs: globals.timeoutMs || undefined,
        interceptors: o.lease ? [leaseInterceptor(o.lease)] : [],
      }),
  );
  const clients = new Map<DescService, unknown>();
  const self: Daemon = {
    address,
    namespace,
    transport,
    lease: o.lease,
    client<S extends DescService>(service: S): Client<S> {
      let c = clients.get(service) as Client<S> | undefined;
      if (!c) {
        c = createClient(service, transport);
        clients.set(service, c);
      }
      return c;
    },
    async withLease(fn) {
      const { Leases } = await import("@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts");
      const expire = new Date(Date.now() + 24 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
      const id = `bctr-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
      const leases = self.client(Leases);
      await leases.create({ id, labels: { "containerd.io/gc.expire": expire } });
      try {
        return await fn(daemon({ address, namespace, lease: id }));
      } finally {
        await leases.delete({ id }).catch(() => {});
      }
    },
    inNamespace: (ns) => daemon({ address, namespace: ns, lease: o.lease }),
  };
  return self;
}

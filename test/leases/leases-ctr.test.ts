/** Leases through the Go ctr and the API: create, ls, rm, resources, the containerd-lease
 *  header protecting what a client writes, and expiry. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDaemonTransport } from "@bunkerd/client";
import { Content, WriteAction } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { sha256 } from "../harness/images.ts";

describe.skipIf(!hasBinary("ctr"))("leases", () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon("bunkerd");
  });
  afterAll(async () => {
    await d?.stop();
  });

  const withLease =
    (lease: string): Interceptor =>
    (next) =>
    (req) => {
      req.header.set("containerd-lease", lease);
      return next(req);
    };

  /** Writes a blob under a lease, over the API (ctr content ingest has no lease flag). */
  async function writeLeased(lease: string, data: Uint8Array, ns = "default") {
    const { createGrpcTransport } = await import("@connectrpc/connect-node");
    const { connect } = await import("node:net");
    const transport = createGrpcTransport({
      baseUrl: "http://localhost",
      nodeOptions: { createConnection: () => connect(d.address) },
      interceptors: [
        (next) => (req) => {
          req.header.set("containerd-namespace", ns);
          return next(req);
        },
        withLease(lease),
      ],
    });
    const c = createClient(Content, transport);
    const dg = sha256(data);
    for await (const _ of c.write(
      (async function* () {
        yield { action: WriteAction.WRITE, ref: `w-${dg}`, data, total: BigInt(data.length), expected: dg };
        yield {
          action: WriteAction.COMMIT,
          ref: `w-${dg}`,
          offset: BigInt(data.length),
          total: BigInt(data.length),
          expected: dg,
        };
      })(),
    )) {
    }
    return dg;
  }

  test("create with an id and labels, ls, rm", async () => {
    const c = await d.ctr(["leases", "create", "--id", "my-lease", "owner=ci"]);
    expect(c.code).toBe(0);
    expect(c.stdout.trim()).toBe("my-lease");
    const generated = await d.ctr(["leases", "create"]);
    expect(generated.stdout.trim()).toMatch(/\S+/);
    const ls = await d.ctr(["leases", "ls"]);
    expect(ls.stdout).toMatch(/^ID\s+CREATED AT\s+LABELS/);
    // ctr create adds a 24 h expiry label by default.
    expect(ls.stdout).toMatch(/my-lease\s+\S+\s+\S*owner=ci/);
    expect((await d.ctr(["leases", "ls", "-q", "id==my-lease"])).stdout.trim()).toBe("my-lease");
    expect((await d.ctr(["-n", "other", "leases", "ls", "-q"])).stdout.trim()).toBe("");
    expect((await d.ctr(["leases", "rm", "my-lease"])).code).toBe(0);
    expect((await d.ctr(["leases", "ls", "-q"])).stdout).not.toContain("my-lease");
    const again = await d.ctr(["leases", "rm", "my-lease"]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("not found");
  });

  test("resources: add, list, delete", async () => {
    await d.ctr(["leases", "create", "--id", "res"]);
    const client = createClient(Leases, createDaemonTransport(d.address, { namespace: "default" }));
    await client.addResource({ id: "res", resource: { id: sha256("x"), type: "content" } });
    await client.addResource({ id: "res", resource: { id: "snap-1", type: "snapshots/overlayfs" } });
    const bad = await client.addResource({ id: "res", resource: { id: "x", type: "bogus" } }).catch((e) => e);
    expect(bad.code).toBe(12); // as containerd 1.6 answers it
    expect(bad.rawMessage).toBe("resource type bogus not supported yet: not implemented");
    const { resources } = await client.listResources({ id: "res" });
    expect(resources.map((r) => `${r.type}:${r.id}`).sort()).toEqual([
      `content:${sha256("x")}`,
      "snapshots/overlayfs:snap-1",
    ]);
    await client.deleteResource({ id: "res", resource: { id: "snap-1", type: "snapshots/overlayfs" } });
    expect((await client.listResources({ id: "res" })).resources.length).toBe(1);
  });

  test("content written under a lease survives collection until the lease goes (rm --sync)", async () => {
    await d.ctr(["leases", "create", "--id", "hold"]);
    const dg = await writeLeased("hold", crypto.getRandomValues(new Uint8Array(4096)));
    // Not referenced by any image: only the lease keeps it. A sync collection must keep it.
    await d.ctr(["leases", "create", "--id", "tmp"]);
    await d.ctr(["leases", "rm", "--sync", "tmp"]);
    expect((await d.ctr(["content", "ls", "-q"])).stdout).toContain(dg);
    expect((await d.ctr(["leases", "rm", "--sync", "hold"])).code).toBe(0);
    expect((await d.ctr(["content", "ls", "-q"])).stdout).not.toContain(dg);
  });

  test("an expired lease is collected with what it held", async () => {
    await d.ctr(["leases", "create", "--id", "short", "--expires", "1s"]);
    const ls = await d.ctr(["leases", "ls"]);
    expect(ls.stdout).toMatch(/short\s+\S+\s+containerd\.io\/gc\.expire=/);
    const dg = await writeLeased("short", crypto.getRandomValues(new Uint8Array(2048)));
    expect((await d.ctr(["content", "ls", "-q"])).stdout).toContain(dg);
    await Bun.sleep(1500);
    await d.ctr(["leases", "create", "--id", "trigger"]);
    await d.ctr(["leases", "rm", "--sync", "trigger"]);
    expect((await d.ctr(["leases", "ls", "-q"])).stdout).not.toContain("short");
    expect((await d.ctr(["content", "ls", "-q"])).stdout).not.toContain(dg);
  });
});

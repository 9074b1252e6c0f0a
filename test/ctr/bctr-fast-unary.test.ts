/** bctr's minimal HTTP/2 unary path (apps/ctr/src/cli/unary.ts, fast-transport.ts) against
 *  bunkerd and containerd 1.6:
 *  - read-only unary calls are answered without the full Connect transport ever being made
 *    (its factory is not called), with the same messages the full transport decodes — also a
 *    ~400 KiB Images.List reply, which needs the client's WINDOW_UPDATEs;
 *  - an error (NotFound) and a write call go through the full transport, which reports them;
 *  - the commands built on it print the same with the fast path off (BCTR_FAST_UNARY=0) and
 *    what Go ctr prints; a dead socket still gives bctr's one-line connect error. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDaemonTransport } from "@bunkerd/client";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Introspection } from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { Version } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { fastTransport } from "../../apps/ctr/src/cli/fast-transport.ts";
import { unaryCalls } from "../../apps/ctr/src/cli/unary.ts";
import { stringFields } from "../../apps/ctr/src/cli/wire.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr fast unary path against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    /** A fast transport whose full transport counts how often it was needed. */
    const counted = (namespace = "default") => {
      const made = { full: 0 };
      const full = createDaemonTransport(d.address, { namespace });
      const t: Transport = fastTransport({ address: d.address, namespace }, async () => {
        made.full++;
        return full;
      });
      return { t, made, full };
    };

    test("read-only calls never make the full transport, and decode as it does", async () => {
      const { t, made, full } = counted();
      const fastV = await createClient(Version, t).version({});
      const slowV = await createClient(Version, full).version({});
      expect(fastV.version).toBe(slowV.version);
      expect(fastV.revision).toBe(slowV.revision);
      const fastP = await createClient(Introspection, t).plugins({ filters: [] });
      const slowP = await createClient(Introspection, full).plugins({ filters: [] });
      expect(fastP.plugins.map((p) => `${p.type}.${p.id}`)).toEqual(
        slowP.plugins.map((p) => `${p.type}.${p.id}`),
      );
      expect((await createClient(Namespaces, t).list({})).namespaces.length).toBeGreaterThanOrEqual(0);
      expect(made.full).toBe(0);
    });

    test("a large reply (Images.List, ~400 KiB) arrives whole through flow control", async () => {
      const namespace = "big";
      const { t, made, full } = counted(namespace);
      const writer = createClient(Images, full);
      const target = {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${"a".repeat(64)}`,
        size: 1n,
      };
      const label = "x".repeat(1000);
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < 400; i = next++)
            await writer.create({
              image: { name: `example.com/big/i${i}:latest`, target, labels: { big: label } },
            });
        }),
      );
      const fast = await createClient(Images, t).list({});
      expect(fast.images.length).toBe(400);
      expect(fast.images.every((i) => i.labels.big === label)).toBe(true);
      expect(made.full).toBe(0);
    });

    test("an error status and a write go through the full transport", async () => {
      const { t, made } = counted();
      const images = createClient(Images, t);
      const err = await images.get({ name: "no/such:image" }).catch((e) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.NotFound);
      expect(made.full).toBe(1);
      const target = {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${"b".repeat(64)}`,
        size: 1n,
      };
      await images.create({ image: { name: "example.com/w:1", target } });
      expect((await images.get({ name: "example.com/w:1" })).image?.name).toBe("example.com/w:1");
      expect(made.full).toBe(1); // made once, then reused
    });

    test("unaryCalls: two calls on one connection; a wrong path gives undefined", async () => {
      const [v, bad] = await unaryCalls(d.address, { "containerd-namespace": "default" }, [
        { path: "/containerd.services.version.v1.Version/Version", message: new Uint8Array(0) },
        { path: "/containerd.services.version.v1.Version/Nope", message: new Uint8Array(0) },
      ]);
      expect(stringFields(v!).get(1)).toBe(
        (await createClient(Version, createDaemonTransport(d.address)).version({})).version,
      );
      expect(bad).toBeUndefined();
      expect(
        await unaryCalls(`${d.dir}/missing.sock`, {}, [{ path: "/x/y", message: new Uint8Array(0) }]),
      ).toEqual([undefined]);
    });

    test("commands print the same with the fast path off, and as Go ctr", async () => {
      const off = { env: { BCTR_FAST_UNARY: "0" } };
      for (const args of [
        ["version"],
        ["version", "--format", "json"],
        ["plugins", "ls"],
        ["namespaces", "ls"],
      ]) {
        const on = ok(await bctr(args));
        const slow = ok(await bctr(args, off));
        expect(on.replace(/UUID: .*/, "")).toBe(slow.replace(/UUID: .*/, ""));
      }
      expect(ok(await bctr(["plugins", "ls"]))).toBe(ok(await d.ctr(["plugins", "ls"])));
      expect(ok(await bctr(["plugins", "ls", "type==io.containerd.snapshotter.v1"]))).toBe(
        ok(await d.ctr(["plugins", "ls", "type==io.containerd.snapshotter.v1"])),
      );
      const server = (s: string) => s.slice(s.indexOf("Server:")).trim();
      expect(server(ok(await bctr(["version"])))).toBe(server(ok(await d.ctr(["version"]))));
      // Errors come from the full client, in bctr's words.
      const miss = await bctr(["containers", "info", "nope"]);
      const missOff = await bctr(["containers", "info", "nope"], off);
      expect(miss.code).toBe(1);
      expect(miss.stderr).toBe(missOff.stderr);
      const dead = await bctr(["--address", `${d.dir}/dead.sock`, "version"]);
      expect([dead.code, dead.stderr]).toEqual([
        1,
        `bctr: cannot connect to ${d.dir}/dead.sock: no such socket (is the daemon running?)\n`,
      ]);
    });
  });
}

/** The Go `ctr` (containerd 1.6, Debian's package) against this server: a real grpc-go client
 *  decoding our replies, statuses and trailers-only responses. Skipped without /usr/bin/ctr. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { CreateGrpcServer } from "../api.ts";
import { existsSync } from "node:fs";
import { create, toBinary } from "@bufbuild/protobuf";
import type { CallContext } from "@bunkerd/plugin-api";
import { PluginsResponseSchema } from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import { VersionResponseSchema } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import type { Logger } from "../call.ts";
import { fakeRouter, type Running, serveUnix } from "../test-support.ts";

export function ctrSuite(createGrpcServer: CreateGrpcServer): void {
  const ctrPath = "/usr/bin/ctr";
  const uuid = "5e0d5c3a-4f2b-4b7e-9a39-6f1f7d1a2b3c";
  let running: Running;
  const seen: CallContext[] = [];
  // Every ctr run ends by resetting its connection: that must not show as a warning or error.
  const complaints: unknown[][] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (...args) => complaints.push(["warn", ...args]),
    error: (...args) => complaints.push(["error", ...args]),
  };

  // containerd.services.introspection.v1.ServerResponse { string uuid = 1; }, by hand.
  const serverResponse = new Uint8Array([0x0a, uuid.length, ...new TextEncoder().encode(uuid)]);

  // Enough plugins that the reply (~200 KiB) spans many DATA frames and outgrows grpc-go's
  // initial 64 KiB window: it only arrives whole if flow control works both ways.
  const pluginCount = 2000;
  const pluginsResponse = toBinary(
    PluginsResponseSchema,
    create(PluginsResponseSchema, {
      plugins: [
        { type: "io.containerd.content.v1", id: "content" },
        {
          type: "io.containerd.snapshotter.v1",
          id: "overlayfs",
          platforms: [{ os: "linux", architecture: "amd64" }],
          initErr: { code: 9, message: "overlayfs unavailable" },
        },
        ...Array.from({ length: pluginCount - 2 }, (_, i) => ({
          type: "io.containerd.test.v1",
          id: `plugin-${i}`,
          requires: ["io.containerd.content.v1"],
          exports: { root: `/var/lib/bunkerd/io.containerd.test.v1.plugin-${i}` },
        })),
      ],
    }),
  );

  beforeAll(async () => {
    if (!existsSync(ctrPath)) return;
    running = await serveUnix(
      fakeRouter({
        "/containerd.services.version.v1.Version/Version": {
          kind: "unary",
          handler: async () =>
            toBinary(
              VersionResponseSchema,
              create(VersionResponseSchema, { version: "9.9.9-test", revision: "r3v" }),
            ),
        },
        "/containerd.services.introspection.v1.Introspection/Plugins": {
          kind: "unary",
          handler: async () => pluginsResponse,
        },
        "/containerd.services.introspection.v1.Introspection/Server": {
          kind: "unary",
          handler: async () => serverResponse,
        },
        // ListContainersResponse with no containers: zero bytes.
        "/containerd.services.containers.v1.Containers/List": {
          kind: "unary",
          namespaced: true,
          handler: async (_req, ctx) => {
            seen.push(ctx);
            return new Uint8Array();
          },
        },
      }),
      { log },
      createGrpcServer,
    );
  });

  afterAll(async () => {
    await running?.[Symbol.asyncDispose]();
    expect(complaints).toEqual([]);
  });

  async function ctr(...args: string[]) {
    const p = Bun.spawn([ctrPath, "--address", running.socket, "--timeout", "10s", ...args], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { stdout, stderr, code };
  }

  test.skipIf(!existsSync(ctrPath))("ctr version prints our version, revision and uuid", async () => {
    const r = await ctr("version");
    // ctr warns when client and server versions differ, as ours does on purpose.
    expect(r.stderr).toBe("WARNING: version mismatch\nWARNING: revision mismatch\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Server:\s+Version:\s+9\.9\.9-test\s+Revision:\s+r3v\s+UUID:\s+5e0d5c3a-/);
  });

  test.skipIf(!existsSync(ctrPath))("ctr plugins ls: a large reply, every plugin listed", async () => {
    expect(pluginsResponse.length).toBeGreaterThan(150 * 1024);
    const r = await ctr("plugins", "ls");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => l.trimEnd());
    expect(lines[0]).toMatch(/^TYPE\s+ID\s+PLATFORMS\s+STATUS$/);
    expect(lines[1]).toMatch(/^io\.containerd\.content\.v1\s+content\s+-\s+ok$/);
    expect(lines[2]).toMatch(/^io\.containerd\.snapshotter\.v1\s+overlayfs\s+linux\/amd64\s+error$/);
    expect(lines.length).toBe(pluginCount + 1);
    expect(lines.at(-1)).toMatch(new RegExp(`plugin-${pluginCount - 3}\\s+-\\s+ok$`));
  });

  test.skipIf(!existsSync(ctrPath))(
    "ctr on a service we lack gets Unimplemented, not a transport error",
    async () => {
      const r = await ctr("namespaces", "ls");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        "unknown service containerd.services.namespaces.v1.Namespaces: not implemented",
      );
      expect(r.stderr).not.toMatch(/transport|connection|Unavailable/i);
    },
  );

  test.skipIf(!existsSync(ctrPath))(
    "ctr's namespace reaches the handler; a malformed one is refused",
    async () => {
      // ctr tries Containers/ListStream first and falls back to List on Unimplemented.
      const ok = await ctr("-n", "k8s.io", "containers", "ls");
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^CONTAINER\s+IMAGE\s+RUNTIME/);
      expect(seen.at(-1)?.namespace).toBe("k8s.io");
      const bad = await ctr("-n", "no/slashes", "containers", "ls");
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('namespace validation: identifier "no/slashes" must match');
      expect(bad.stderr).toContain("invalid argument");
    },
  );
}

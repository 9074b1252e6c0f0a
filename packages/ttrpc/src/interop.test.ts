/** Our client against a real Go ttrpc server: containerd's own `.ttrpc` socket. Runs a private
 *  containerd (root and state in a temp dir, CRI off) and needs root and /usr/bin/containerd. */

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@bunkerd/plugin-api";
import { TaskExitSchema } from "@bunkerd/proto/containerd/events/task_pb.ts";
import {
  EnvelopeSchema,
  ForwardRequestSchema,
} from "@bunkerd/proto/containerd/services/ttrpc/events/v1/events_pb.ts";
import type { Subprocess } from "bun";
import { TtrpcClient } from "./index.ts";

const CONTAINERD = "/usr/bin/containerd";
const CTR = "/usr/bin/ctr";
const canRun = process.getuid?.() === 0 && existsSync(CONTAINERD);
const EVENTS = "containerd.services.events.ttrpc.v1.Events";

let dir = "";
let grpcAddress = "";
let ttrpcAddress = "";
let daemon: Subprocess<"ignore", "ignore", "pipe"> | undefined;
let client: TtrpcClient | undefined;

async function waitForSocket(path: string, timeoutMs: number): Promise<TtrpcClient> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (daemon?.exitCode !== null) {
      throw new Error(
        `containerd exited (${daemon?.exitCode}): ${await new Response(daemon!.stderr).text()}`,
      );
    }
    if (existsSync(path)) {
      const c = await TtrpcClient.connect(path).catch(() => undefined);
      if (c) return c;
    }
    if (Date.now() > until) throw new Error(`containerd did not serve ${path} within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

beforeAll(async () => {
  if (!canRun) return;
  dir = await mkdtemp(join(tmpdir(), "ttrpc-interop-"));
  grpcAddress = join(dir, "containerd.sock");
  ttrpcAddress = join(dir, "containerd.sock.ttrpc");
  const config = [
    "version = 2",
    `root = ${JSON.stringify(join(dir, "root"))}`,
    `state = ${JSON.stringify(join(dir, "state"))}`,
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
    "[grpc]",
    `  address = ${JSON.stringify(grpcAddress)}`,
    "[ttrpc]",
    `  address = ${JSON.stringify(ttrpcAddress)}`,
    "[debug]",
    `  address = ""`,
    "[metrics]",
    `  address = ""`,
    // Keep the opt plugin out of /opt/containerd.
    `[plugins."io.containerd.internal.v1.opt"]`,
    `  path = ${JSON.stringify(join(dir, "opt"))}`,
  ].join("\n");
  await writeFile(join(dir, "config.toml"), `${config}\n`);
  daemon = Bun.spawn([CONTAINERD, "--config", join(dir, "config.toml")], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  client = await waitForSocket(ttrpcAddress, 20_000);
}, 30_000);

afterAll(async () => {
  client?.close();
  if (daemon) {
    daemon.kill("SIGTERM");
    const exited = await Promise.race([daemon.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
    if (!exited) {
      daemon.kill("SIGKILL");
      await daemon.exited;
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

function forwardRequest(topic: string): Uint8Array {
  const exit = create(TaskExitSchema, { containerId: "interop", id: "interop", pid: 4242, exitStatus: 7 });
  return toBinary(
    ForwardRequestSchema,
    create(ForwardRequestSchema, {
      envelope: create(EnvelopeSchema, {
        timestamp: timestampFromDate(new Date()),
        namespace: "default",
        topic,
        // containerd's bare type name, as its own shims send it (BUN-NOTES.md).
        event: create(AnySchema, {
          typeUrl: "containerd.events.TaskExit",
          value: toBinary(TaskExitSchema, exit),
        }),
      }),
    }),
  );
}

test.skipIf(!canRun)(
  "Events/Forward on containerd's ttrpc socket succeeds and reaches its subscribers",
  async () => {
    // Subscribe with the Go ctr, so the event is seen coming out of containerd's exchange.
    const watcher = existsSync(CTR)
      ? Bun.spawn([CTR, "--address", grpcAddress, "events"], { stdout: "pipe", stderr: "ignore" })
      : undefined;
    try {
      await Bun.sleep(300);
      const reply = await client!.call(EVENTS, "Forward", forwardRequest("/tasks/exit"), { timeoutMs: 5000 });
      expect(reply.length).toBe(0); // google.protobuf.Empty
      if (watcher) {
        const reader = watcher.stdout.getReader();
        let seen = "";
        const until = Date.now() + 5000;
        while (!seen.includes("/tasks/exit") && Date.now() < until) {
          const next = await Promise.race([
            reader.read(),
            Bun.sleep(until - Date.now()).then(() => undefined),
          ]);
          if (!next || next.done) break;
          seen += new TextDecoder().decode(next.value);
        }
        expect(seen).toContain("/tasks/exit");
        expect(seen).toContain("default");
        expect(seen).toContain('"exit_status":7');
      }
    } finally {
      watcher?.kill("SIGKILL");
      await watcher?.exited;
    }
  },
);

test.skipIf(!canRun)(
  "containerd answers an unknown method with Unimplemented (12) and its own message",
  async () => {
    await expect(client!.call(EVENTS, "NoSuchMethod", new Uint8Array(0))).rejects.toMatchObject({
      code: Code.Unimplemented,
      message: "method NoSuchMethod",
    });
    await expect(client!.call("no.such.Service", "X", new Uint8Array(0))).rejects.toMatchObject({
      code: Code.Unimplemented,
      message: "service no.such.Service",
    });
  },
);

test.skipIf(!canRun)(
  "containerd's InvalidArgument for an envelope without a namespace comes back intact",
  async () => {
    // An empty namespace fails containerd's validation; the Go status must come back intact.
    const bad = toBinary(
      ForwardRequestSchema,
      create(ForwardRequestSchema, { envelope: create(EnvelopeSchema, { topic: "/tasks/exit" }) }),
    );
    await expect(client!.call(EVENTS, "Forward", bad)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("invalid namespace"),
    });
  },
);

test.skipIf(!canRun)("many concurrent calls on one connection to the Go server", async () => {
  const calls = Array.from({ length: 200 }, () =>
    client!.call(EVENTS, "Forward", forwardRequest("/tasks/exit")),
  );
  const replies = await Promise.all(calls);
  expect(replies.every((r) => r.length === 0)).toBe(true);
});

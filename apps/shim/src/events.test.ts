import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { TaskExitSchema, TaskStartSchema } from "@bunkerd/proto/containerd/events/task_pb.ts";
import { TtrpcPublisher } from "./events.ts";
import { EventSink } from "./testing/harness.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("events reach Events/Forward in order, as bare-named Anys in envelopes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shim-events-"));
  dirs.push(dir);
  const sink = await EventSink.listen(join(dir, "d.sock.ttrpc"));
  const p = new TtrpcPublisher(sink.address, "ns1");
  p.publish("/tasks/start", TaskStartSchema, create(TaskStartSchema, { containerId: "c1", pid: 42 }));
  p.publish(
    "/tasks/exit",
    TaskExitSchema,
    create(TaskExitSchema, { containerId: "c1", id: "c1", exitStatus: 3 }),
  );
  await p.flushed();
  expect(sink.events.map((e) => [e.topic, e.namespace, e.event.$typeName])).toEqual([
    ["/tasks/start", "ns1", "containerd.events.TaskStart"],
    ["/tasks/exit", "ns1", "containerd.events.TaskExit"],
  ]);
  expect(sink.events[1]!.event.exitStatus).toBe(3);
  await p.close();
  await sink.close();
});

test("while the daemon is down, events wait in the queue and go out when it is back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shim-events-"));
  dirs.push(dir);
  const address = join(dir, "d.sock.ttrpc");
  const p = new TtrpcPublisher(address, "ns1", () => {}, 50);
  for (let i = 1; i <= 3; i++) {
    p.publish("/tasks/exit", TaskExitSchema, create(TaskExitSchema, { containerId: `c${i}` }));
  }
  await Bun.sleep(120); // a retry or two fail: nobody listens
  const sink = await EventSink.listen(address);
  await p.flushed();
  expect(sink.events.map((e) => e.event.containerId)).toEqual(["c1", "c2", "c3"]);
  await p.close();
  await sink.close();
});

test("an event is dropped after 5 failed retries; the ones after it still go", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shim-events-"));
  dirs.push(dir);
  const address = join(dir, "d.sock.ttrpc");
  const logs: string[] = [];
  const p = new TtrpcPublisher(address, "ns1", (_l, m) => logs.push(m), 5);
  p.publish("/tasks/exit", TaskExitSchema, create(TaskExitSchema, { containerId: "lost" }));
  await p.flushed();
  expect(logs.at(-1)).toBe("evicting /tasks/exit from queue because of retry count");
  const sink = await EventSink.listen(address);
  p.publish("/tasks/exit", TaskExitSchema, create(TaskExitSchema, { containerId: "kept" }));
  await p.flushed();
  expect(sink.events.map((e) => e.event.containerId)).toEqual(["kept"]);
  await p.close();
  await sink.close();
});

// Wire facts pinned by hand, independent of the generator: each expected byte string below is written out
// from containerd's field numbers (tag = field_number << 3 | wire_type; 0 = varint, 2 = length-delimited),
// so a wrong number, type or name in a .proto fails here even when gen/ is fresh.
import { describe, expect, test } from "bun:test";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { AnySchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { SnapshotCommitSchema } from "./gen/containerd/events/snapshot_pb.ts";
import { TaskExitSchema } from "./gen/containerd/events/task_pb.ts";
import { ImageCreateSchema } from "./gen/containerd/events/image_pb.ts";
import { CheckpointOptionsSchema as LegacyCheckpointOptionsSchema } from "./gen/containerd/runtime/linux/runctypes/runc_pb.ts";
import {
  CreateTaskRequestSchema as ShimCreateTaskRequestSchema,
  StateResponseSchema,
  Task,
} from "./gen/containerd/runtime/task/v2/shim_pb.ts";
import {
  Content,
  WriteAction,
  WriteContentRequestSchema,
} from "./gen/containerd/services/content/v1/content_pb.ts";
import { EnvelopeSchema, Events } from "./gen/containerd/services/events/v1/events_pb.ts";
import { ImageSchema } from "./gen/containerd/services/images/v1/images_pb.ts";
import { Introspection, PluginSchema } from "./gen/containerd/services/introspection/v1/introspection_pb.ts";
import {
  CreateNamespaceRequestSchema,
  Namespaces,
} from "./gen/containerd/services/namespaces/v1/namespaces_pb.ts";
import { Kind } from "./gen/containerd/services/snapshots/v1/snapshots_pb.ts";
import { CreateTaskRequestSchema } from "./gen/containerd/services/tasks/v1/tasks_pb.ts";
import {
  Events as TtrpcEvents,
  EnvelopeSchema as TtrpcEnvelopeSchema,
} from "./gen/containerd/services/ttrpc/events/v1/events_pb.ts";
import { CheckpointOptionsSchema, OptionsSchema } from "./gen/containerd/types/runc/options/oci_pb.ts";
import { Status } from "./gen/containerd/types/task/task_pb.ts";
import { OCIRegistrySchema } from "./gen/containerd/types/transfer/registry_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health_pb.ts";
import { MetricsSchema as CgroupsV1MetricsSchema } from "./gen/io/containerd/cgroups/v1/metrics_pb.ts";
import { MetricsSchema as CgroupsV2MetricsSchema } from "./gen/io/containerd/cgroups/v2/metrics_pb.ts";

/** Concatenates bytes: numbers are single bytes, strings are UTF-8, arrays are spliced in. */
function bytes(...parts: (number | number[] | string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === "number"
      ? Uint8Array.of(p)
      : typeof p === "string"
        ? new TextEncoder().encode(p)
        : Uint8Array.from(p),
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Encodes msg and compares with the hand-written bytes; then decodes those bytes back to msg. */
function pin<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>, expected: Uint8Array) {
  expect(hex(toBinary(schema, msg))).toBe(hex(expected));
  expect(hex(toBinary(schema, fromBinary(schema, expected)))).toBe(hex(expected));
}

describe("message encodings", () => {
  test("namespaces CreateNamespaceRequest: namespace=1 { name=1, labels=2 (map entry key=1 value=2) }", () => {
    const msg = create(CreateNamespaceRequestSchema, { namespace: { name: "ns", labels: { k: "v" } } });
    // Namespace: 0a 02 "ns" | 12 06 (0a 01 "k" 12 01 "v") = 12 bytes.
    pin(
      CreateNamespaceRequestSchema,
      msg,
      bytes(0x0a, 12, 0x0a, 2, "ns", 0x12, 6, 0x0a, 1, "k", 0x12, 1, "v"),
    );
  });

  const taskExit = bytes(0x0a, 1, "c", 0x18, 7); // TaskExit container_id=1, pid=3
  const anyTaskExit = bytes(0x0a, 26, "containerd.events.TaskExit", 0x12, taskExit.length, taskExit);
  const envelopeBytes = bytes(
    [0x0a, 4, 0x08, 1, 0x10, 2], // timestamp=1 { seconds=1, nanos=2 }
    [0x12, 7],
    "default", // namespace=2
    [0x1a, 11],
    "/tasks/exit", // topic=3
    [0x22, anyTaskExit.length],
    anyTaskExit, // event=4
  );
  function envelopeFields() {
    return {
      timestamp: create(TimestampSchema, { seconds: 1n, nanos: 2 }),
      namespace: "default",
      topic: "/tasks/exit",
      event: create(AnySchema, {
        typeUrl: "containerd.events.TaskExit",
        value: toBinary(TaskExitSchema, create(TaskExitSchema, { containerId: "c", pid: 7 })),
      }),
    };
  }

  test("events.v1 Envelope: timestamp=1 namespace=2 topic=3 event=4, carrying TaskExit", () => {
    expect(anyTaskExit.length).toBe(35);
    pin(EnvelopeSchema, create(EnvelopeSchema, envelopeFields()), envelopeBytes);
  });

  test("events.ttrpc.v1 Envelope has the same wire shape in its own package", () => {
    pin(TtrpcEnvelopeSchema, create(TtrpcEnvelopeSchema, envelopeFields()), envelopeBytes);
    expect(TtrpcEnvelopeSchema.typeName).toBe("containerd.services.events.ttrpc.v1.Envelope");
  });

  test("introspection Plugin: type=1 id=2 requires=3 platforms=4 exports=5 capabilities=6 init_err=7", () => {
    const msg = create(PluginSchema, {
      type: "t",
      id: "i",
      requires: ["r"],
      platforms: [{ os: "linux", architecture: "amd64" }],
      exports: { a: "b" },
      capabilities: ["c"],
      initErr: { code: 2, message: "m" },
    });
    const expected = bytes(
      [0x0a, 1],
      "t",
      [0x12, 1],
      "i",
      [0x1a, 1],
      "r",
      [0x22, 14, 0x0a, 5],
      "linux",
      [0x12, 5],
      "amd64", // Platform os=1 architecture=2
      [0x2a, 6, 0x0a, 1],
      "a",
      [0x12, 1],
      "b",
      [0x32, 1],
      "c",
      [0x3a, 5, 0x08, 2, 0x12, 1],
      "m", // google.rpc.Status code=1 message=2
    );
    pin(PluginSchema, msg, expected);
  });

  test("tasks.v1 CreateTaskRequest: container_id=1, rootfs=3 (no field 2), Mount type/source/target/options 1-4", () => {
    const msg = create(CreateTaskRequestSchema, {
      containerId: "c",
      rootfs: [{ type: "t", source: "s", target: "x", options: ["o"] }],
    });
    const mount = bytes(0x0a, 1, "t", 0x12, 1, "s", 0x1a, 1, "x", 0x22, 1, "o");
    pin(CreateTaskRequestSchema, msg, bytes(0x0a, 1, "c", 0x1a, mount.length, mount));
  });

  test("shim v2 CreateTaskRequest: terminal=4 (varint), options=10 carrying runc Options binary_name=6 systemd_cgroup=9", () => {
    const options = bytes(0x32, 4, "runc", 0x48, 1);
    const anyOptions = bytes(0x0a, 26, "containerd.runc.v1.Options", 0x12, options.length, options);
    const msg = create(ShimCreateTaskRequestSchema, {
      id: "c",
      bundle: "/b",
      terminal: true,
      options: create(AnySchema, {
        typeUrl: "containerd.runc.v1.Options",
        value: toBinary(OptionsSchema, create(OptionsSchema, { binaryName: "runc", systemdCgroup: true })),
      }),
    });
    pin(
      ShimCreateTaskRequestSchema,
      msg,
      bytes(0x0a, 1, "c", 0x12, 2, "/b", 0x20, 1, 0x52, anyOptions.length, anyOptions),
    );
  });

  test("shim v2 StateResponse: pid=3 status=4 exit_status=9 exec_id=11", () => {
    const msg = create(StateResponseSchema, {
      id: "c",
      pid: 42,
      status: Status.STOPPED,
      exitStatus: 137,
      execId: "e",
    });
    pin(StateResponseSchema, msg, bytes(0x0a, 1, "c", 0x18, 42, 0x20, 3, 0x48, 0x89, 0x01, 0x5a, 1, "e"));
  });

  test("content WriteContentRequest: action=1 ref=2 total=3 expected=4 data=6 labels=7", () => {
    const msg = create(WriteContentRequestSchema, {
      action: WriteAction.COMMIT,
      ref: "r",
      total: 3n,
      expected: "sha256:x",
      data: Uint8Array.of(1, 2, 3),
      labels: { a: "b" },
    });
    const expected = bytes(
      [0x08, 2, 0x12, 1],
      "r",
      [0x18, 3, 0x22, 8],
      "sha256:x",
      [0x32, 3, 1, 2, 3],
      [0x3a, 6, 0x0a, 1],
      "a",
      [0x12, 1],
      "b",
    );
    pin(WriteContentRequestSchema, msg, expected);
  });

  test("images Image: name=1 target=3 created_at=7; Descriptor media_type=1 digest=2 size=3 annotations=5", () => {
    const msg = create(ImageSchema, {
      name: "n",
      target: { mediaType: "m", digest: "d", size: 5n, annotations: { a: "b" } },
      createdAt: { seconds: 1n },
    });
    const descriptor = bytes(0x0a, 1, "m", 0x12, 1, "d", 0x18, 5, 0x2a, 6, 0x0a, 1, "a", 0x12, 1, "b");
    pin(ImageSchema, msg, bytes(0x0a, 1, "n", 0x1a, descriptor.length, descriptor, 0x3a, 2, 0x08, 1));
  });

  test("snapshot events carry snapshotter=5", () => {
    const msg = create(SnapshotCommitSchema, { key: "k", name: "n", snapshotter: "s" });
    pin(SnapshotCommitSchema, msg, bytes(0x0a, 1, "k", 0x12, 1, "n", 0x2a, 1, "s"));
  });

  test("runc CheckpointOptions: image_path=8 work_path=9, swapped in the legacy runctypes message", () => {
    pin(
      CheckpointOptionsSchema,
      create(CheckpointOptionsSchema, { imagePath: "i", workPath: "w" }),
      bytes(0x42, 1, "i", 0x4a, 1, "w"),
    );
    pin(
      LegacyCheckpointOptionsSchema,
      create(LegacyCheckpointOptionsSchema, { workPath: "w", imagePath: "i" }),
      bytes(0x42, 1, "w", 0x4a, 1, "i"),
    );
  });
});

describe("names that appear on the wire", () => {
  test("Any type URLs (containerd sends bare full names)", () => {
    expect(TaskExitSchema.typeName).toBe("containerd.events.TaskExit");
    // containerd declares image events in the images service package.
    expect(ImageCreateSchema.typeName).toBe("containerd.services.images.v1.ImageCreate");
    expect(OptionsSchema.typeName).toBe("containerd.runc.v1.Options");
    expect(LegacyCheckpointOptionsSchema.typeName).toBe("containerd.linux.runc.CheckpointOptions");
    expect(OCIRegistrySchema.typeName).toBe("containerd.types.transfer.OCIRegistry");
  });

  test("enum values", () => {
    expect([
      Status.UNKNOWN,
      Status.CREATED,
      Status.RUNNING,
      Status.STOPPED,
      Status.PAUSED,
      Status.PAUSING,
    ]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([Kind.UNKNOWN, Kind.VIEW, Kind.ACTIVE, Kind.COMMITTED]).toEqual([0, 1, 2, 3]);
    expect([WriteAction.STAT, WriteAction.WRITE, WriteAction.COMMIT]).toEqual([0, 1, 2]);
    expect(HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN).toBe(3);
  });

  const paths = (svc: { typeName: string; methods: { name: string }[] }) =>
    svc.methods.map((m) => `/${svc.typeName}/${m.name}`);

  test("shim v2 Task service paths", () => {
    const names = [
      "State",
      "Create",
      "Start",
      "Delete",
      "Pids",
      "Pause",
      "Resume",
      "Checkpoint",
      "Kill",
      "Exec",
      "ResizePty",
      "CloseIO",
      "Update",
      "Wait",
      "Stats",
      "Connect",
      "Shutdown",
    ];
    expect(paths(Task)).toEqual(names.map((n) => `/containerd.task.v2.Task/${n}`));
  });

  test("daemon service paths and streaming kinds", () => {
    expect(paths(Namespaces)).toEqual(
      ["Get", "List", "Create", "Update", "Delete"].map(
        (n) => `/containerd.services.namespaces.v1.Namespaces/${n}`,
      ),
    );
    expect(paths(Introspection)).toEqual([
      "/containerd.services.introspection.v1.Introspection/Plugins",
      "/containerd.services.introspection.v1.Introspection/Server",
    ]);
    expect(paths(Events)).toEqual(
      ["Publish", "Forward", "Subscribe"].map((n) => `/containerd.services.events.v1.Events/${n}`),
    );
    expect(paths(TtrpcEvents)).toEqual(["/containerd.services.events.ttrpc.v1.Events/Forward"]);
    expect(paths(Health)).toEqual(["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"]);
    expect(Events.method.subscribe.methodKind).toBe("server_streaming");
    expect(Content.method.write.methodKind).toBe("bidi_streaming");
    expect(Content.method.read.methodKind).toBe("server_streaming");
  });
});

describe("cgroups metrics (Task.Stats payloads, decoded by ctr from the Any type URL)", () => {
  test("type URLs are containerd/cgroups' package names", () => {
    expect(CgroupsV1MetricsSchema.typeName).toBe("io.containerd.cgroups.v1.Metrics");
    expect(CgroupsV2MetricsSchema.typeName).toBe("io.containerd.cgroups.v2.Metrics");
  });

  test("v1 Metrics: pids=2 cpu=3 (usage=1: total=1, per_cpu=4 packed) memory=4 (cache=1, usage=33) memory_oom_control=9", () => {
    const msg = create(CgroupsV1MetricsSchema, {
      pids: { current: 1n, limit: 2n },
      cpu: { usage: { total: 5n, perCpu: [1n, 2n] } },
      memory: { cache: 7n, usage: { limit: 64n, usage: 5n } },
      memoryOomControl: { oomKill: 1n },
    });
    const cpuUsage = bytes(0x08, 5, 0x22, 2, 1, 2);
    const memory = bytes(0x08, 7, [0x8a, 0x02], 4, [0x08, 64, 0x10, 5]); // field 33 = varint 0x8a 0x02
    pin(
      CgroupsV1MetricsSchema,
      msg,
      bytes(
        [0x12, 4, 0x08, 1, 0x10, 2],
        [0x1a, cpuUsage.length + 2, 0x0a, cpuUsage.length],
        cpuUsage,
        [0x22, memory.length],
        memory,
        [0x4a, 2, 0x18, 1],
      ),
    );
  });

  test("v2 Metrics: pids=1 cpu=2 memory=4 (usage=32, swap_max_usage=37) io=6 (IOEntry major=1 rbytes=3) memory_events=8 (oom_kill=5)", () => {
    const msg = create(CgroupsV2MetricsSchema, {
      pids: { current: 3n },
      cpu: { usageUsec: 10n },
      memory: { usage: 5n, swapMaxUsage: 1n },
      io: { usage: [{ major: 8n, rbytes: 1n }] },
      memoryEvents: { oomKill: 1n },
    });
    pin(
      CgroupsV2MetricsSchema,
      msg,
      bytes(
        [0x0a, 2, 0x08, 3],
        [0x12, 2, 0x08, 10],
        [0x22, 6, 0x80, 0x02, 5, 0xa8, 0x02, 1],
        [0x32, 6, 0x0a, 4, 0x08, 8, 0x18, 1],
        [0x42, 2, 0x28, 1],
      ),
    );
  });
});

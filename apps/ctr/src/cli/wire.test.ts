import { describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  PluginsRequestSchema,
  PluginsResponseSchema,
} from "@bunkerd/proto/containerd/services/introspection/v1/introspection_pb.ts";
import { decodePlugins } from "../commands/plugins/decode.ts";
import { encodeStrings, readFields, stringFields } from "./wire.ts";

describe("wire", () => {
  test("encodeStrings is what protobuf-es encodes for a repeated string field", () => {
    const filters = ["type==io.containerd.snapshotter.v1", "", "é".repeat(100)];
    expect(encodeStrings(1, filters)).toEqual(
      toBinary(PluginsRequestSchema, create(PluginsRequestSchema, { filters })),
    );
  });

  test("decodePlugins reads every field protobuf-es wrote", () => {
    const msg = create(PluginsResponseSchema, {
      plugins: [
        {
          type: "io.containerd.snapshotter.v1",
          id: "overlayfs",
          requires: ["a", "b"],
          platforms: [{ os: "linux", architecture: "amd64", variant: "v3" }],
          exports: { root: "/var/lib", x: "" },
          capabilities: ["rebase"],
          initErr: { code: 9, message: "skip plugin" },
        },
        { type: "t", id: "plain" },
      ],
    });
    const [p, q] = decodePlugins(toBinary(PluginsResponseSchema, msg));
    expect(p).toEqual({
      type: "io.containerd.snapshotter.v1",
      id: "overlayfs",
      requires: ["a", "b"],
      platforms: [{ os: "linux", architecture: "amd64", variant: "v3" }],
      exports: { root: "/var/lib", x: "" },
      capabilities: ["rebase"],
      initErr: { code: 9, message: "skip plugin" },
    });
    expect(q).toEqual({ type: "t", id: "plain", requires: [], platforms: [], exports: {}, capabilities: [] });
  });

  test("varints above 2^31, fixed fields skipped, truncation refused", () => {
    const bytes = new Uint8Array([
      0x08, 0x80, 0x80, 0x80, 0x80, 0x10, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 1, 0x41,
    ]);
    expect(readFields(bytes)).toEqual([
      { field: 1, int: 2 ** 32 },
      { field: 3, bytes: new Uint8Array([0x41]) },
    ]);
    expect(stringFields(bytes).get(3)).toBe("A");
    expect(() => readFields(new Uint8Array([0x0a, 5, 1]))).toThrow("truncated field");
    expect(() => readFields(new Uint8Array([0x08, 0x80]))).toThrow("truncated varint");
  });
});

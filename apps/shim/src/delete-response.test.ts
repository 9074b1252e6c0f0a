// The hand-encoded DeleteResponse of `delete` is byte for byte what protobuf-es encodes, and decodes
// back to the same pid, status and time.
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DeleteResponseSchema } from "@bunkerd/proto/containerd/runtime/task/v2/shim_pb.ts";
import { encodeDeleteResponse } from "./delete-response.ts";

const reference = (pid: number, exitStatus: number, at: Date) =>
  toBinary(
    DeleteResponseSchema,
    create(DeleteResponseSchema, { pid, exitStatus, exitedAt: timestampFromDate(at) }),
  );

describe("encodeDeleteResponse", () => {
  test.each([
    [4242, 137, new Date("2026-11-23T19:45:01.123Z")],
    [0, 137, new Date("2026-11-23T19:45:01.000Z")],
    [2 ** 31, 255, new Date(1)],
    [1, 0, new Date(0)],
  ])("pid %d, status %d: the same bytes as protobuf-es", (pid, status, at) => {
    const mine = encodeDeleteResponse(pid, status, at);
    expect(mine).toEqual(reference(pid, status, at));
    const back = fromBinary(DeleteResponseSchema, mine);
    expect([back.pid, back.exitStatus, timestampDate(back.exitedAt!).getTime()]).toEqual([
      pid,
      status,
      at.getTime(),
    ]);
  });
});

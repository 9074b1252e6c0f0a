import { expect, test } from "bun:test";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { decodeMetrics, metricsJSON } from "./cgroup-metrics.ts";

/** A message from [field, value] pairs: numbers as varints, bytes as length-delimited. */
function msg(...fields: [number, number | bigint | Uint8Array][]): Uint8Array {
  const w = new BinaryWriter();
  for (const [no, v] of fields) {
    if (v instanceof Uint8Array) w.tag(no, WireType.LengthDelimited).bytes(v);
    else w.tag(no, WireType.Varint).uint64(v);
  }
  return w.finish();
}

test("v1 metrics decode by field number, zeros left out, 64-bit values exact", () => {
  // per_cpu once unpacked (7) and once packed (3): a decoder must take both forms.
  const packed = new BinaryWriter().uint64(3).finish();
  const usage = msg([1, 10], [2, 5], [4, 7], [4, packed]);
  const cpu = msg([1, usage], [2, new Uint8Array()]);
  const entry = msg([1, 9223372036854771712n], [2, 4096]);
  const memory = msg([1, 4096], [18, 4096], [33, entry]);
  const metrics = msg([2, msg([1, 1])], [3, cpu], [4, memory], [5, new Uint8Array()], [99, 1]);
  const m = decodeMetrics(metrics);
  expect(metricsJSON(m)).toBe(
    [
      "{",
      '  "pids": {\n    "current": 1\n  },',
      '  "cpu": {\n    "usage": {\n      "total": 10,\n      "kernel": 5,\n      "per_cpu": [\n        7,\n        3\n      ]\n    },\n    "throttling": {}\n  },',
      '  "memory": {\n    "cache": 4096,\n    "total_cache": 4096,\n    "usage": {\n      "limit": 9223372036854771712,\n      "usage": 4096\n    }\n  },',
      '  "blkio": {}',
      "}",
    ].join("\n"),
  );
});

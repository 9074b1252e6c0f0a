import { describe, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { digestProblem, parseDigest } from "./digest.ts";
import { goDuration, goTimeString, marshalTime, unmarshalTime } from "./gotime.ts";

const hex64 = "a".repeat(64);

describe("digests, as go-digest v1.0.0 validates them", () => {
  test.each([
    [`sha256:${hex64}`, undefined],
    [`sha384:${"b".repeat(96)}`, undefined],
    [`sha512:${"c".repeat(128)}`, undefined],
    [`sha256:${"A".repeat(64)}`, "invalid checksum digest format"],
    [`sha256:${hex64.slice(1)}`, "invalid checksum digest length"],
    ["sha256:ABCDEF", "invalid checksum digest length"],
    [`sha512:${hex64}`, "invalid checksum digest length"],
    ["sha256:", "invalid checksum digest format"],
    [":abc", "invalid checksum digest format"],
    ["abc", "invalid checksum digest format"],
    [`md5:${"a".repeat(32)}`, "unsupported digest algorithm"],
    [`sha256:../../${hex64.slice(6)}`, "invalid checksum digest format"],
    [`sha256:../../${hex64}`, "invalid checksum digest length"],
    [`../sha256:${hex64}`, "invalid checksum digest format"],
    [`sha256:${hex64.slice(3)}/..`, "invalid checksum digest format"],
    [`sha256:${hex64}/..`, "invalid checksum digest length"],
    [`sha256:${hex64.slice(1)}\0`, "invalid checksum digest format"],
    [`sha256/../x:${hex64}`, "invalid checksum digest format"],
  ])("%s → %s", (d, problem) => {
    expect(digestProblem(d)).toBe(problem);
  });

  test("parseDigest names the context and is InvalidArgument", () => {
    expect(() => parseDigest("nope", "calculating blob info path")).toThrow(
      expect.objectContaining({
        kind: Kind.InvalidArgument,
        message: "calculating blob info path: invalid checksum digest format: invalid argument",
      }),
    );
    expect(parseDigest(`sha256:${hex64}`)).toEqual({
      algorithm: "sha256",
      encoded: hex64,
      text: `sha256:${hex64}`,
    });
  });
});

describe("Go time texts", () => {
  test("MarshalText: RFC 3339, trailing fraction zeros trimmed, local zone", () => {
    const t = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 120));
    const text = marshalTime(t);
    if (t.getTimezoneOffset() === 0) expect(text).toBe("2024-01-02T03:04:05.12Z");
    expect(unmarshalTime(text)?.getTime()).toBe(t.getTime());
    expect(marshalTime(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 0)))).not.toContain(".");
  });

  test("UnmarshalText reads what containerd writes (ns precision, any offset)", () => {
    expect(unmarshalTime("2023-04-05T06:07:08.123456789Z")?.toISOString()).toBe("2023-04-05T06:07:08.123Z");
    expect(unmarshalTime("2023-04-05T08:07:08.5+02:00")?.toISOString()).toBe("2023-04-05T06:07:08.500Z");
    expect(unmarshalTime("2023-04-05T06:07:08-01:30")?.toISOString()).toBe("2023-04-05T07:37:08.000Z");
    for (const bad of ["", "2023-04-05 06:07:08Z", "2023-02-30T00:00:00Z", "2023-04-05T06:07:08", "x"]) {
      expect(unmarshalTime(bad)).toBeUndefined();
    }
  });

  test.each([
    [0, "0s"],
    [850, "850ns"],
    [1_500, "1.5µs"],
    [12_345_678, "12.345678ms"],
    [2_500_000_000, "2.5s"],
    [90e9, "1m30s"],
    [3600e9 + 5.1e9, "1h0m5.1s"],
  ])("Duration.String(%d) = %s", (ns, text) => {
    expect(goDuration(ns)).toBe(text);
  });

  test("Time.String carries the zone and monotonic reading", () => {
    const s = goTimeString(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), 1234.5);
    expect(s).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.006 [+-]\d{4} \S+ m=\+1\.234500000$/);
  });
});

import { expect, test } from "bun:test";
import { BunkerError, Code } from "@bunkerd/plugin-api";
import { metadataOf, parseTimeout, requireNamespace } from "./metadata.ts";
import { decodeGrpcMessage, encodeGrpcMessage, statusOf } from "./status.ts";

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as BunkerError).code;
  }
  return Code.OK;
};

test("namespaces: containerd's identifier rules", () => {
  for (const ok of ["default", "k8s.io", "moby", "a", "A-b_c.9", "x".repeat(76)]) {
    expect(requireNamespace(ok)).toBe(ok);
  }
  expect(codeOf(() => requireNamespace(undefined))).toBe(Code.FailedPrecondition);
  expect(codeOf(() => requireNamespace(""))).toBe(Code.FailedPrecondition);
  for (const bad of ["-a", "a-", "a..b", "a b", "ns/x", "über", ".", "x".repeat(77)]) {
    expect(codeOf(() => requireNamespace(bad))).toBe(Code.InvalidArgument);
  }
});

test("grpc-timeout: every unit, and malformed values refused", () => {
  expect(parseTimeout("2H")).toBe(7_200_000);
  expect(parseTimeout("3M")).toBe(180_000);
  expect(parseTimeout("10S")).toBe(10_000);
  expect(parseTimeout("250m")).toBe(250);
  expect(parseTimeout("1500u")).toBeCloseTo(1.5);
  expect(parseTimeout("2000000n")).toBeCloseTo(2);
  expect(parseTimeout("99999999S")).toBe(99_999_999_000);
  for (const bad of ["", "10", "S", "123456789S", "1.5S", "10s", "-1S"]) {
    expect(codeOf(() => parseTimeout(bad))).toBe(Code.Internal);
  }
});

test("metadata: headers without pseudo-headers, as lists", () => {
  expect(metadataOf({ ":path": "/a/b", "x-a": "1", "set-cookie": ["a", "b"] })).toEqual({
    "x-a": ["1"],
    "set-cookie": ["a", "b"],
  });
});

test("grpc-message: percent-encoding round trip, plain ASCII untouched", () => {
  expect(encodeGrpcMessage("plain message: ok")).toBe("plain message: ok");
  expect(encodeGrpcMessage("100%\n")).toBe("100%25%0A");
  expect(encodeGrpcMessage("é")).toBe("%C3%A9");
  for (const m of ["", "ünï %41 code\r\n\t", "日本語", "%", "%zz"]) {
    expect(decodeGrpcMessage(encodeGrpcMessage(m))).toBe(m);
  }
});

test("statusOf: BunkerError as is, anything else through toBunkerError", () => {
  expect(statusOf(new BunkerError("not found", 'lease "l"'))).toEqual({
    code: Code.NotFound,
    message: 'lease "l": not found',
  });
  expect(statusOf(new Error("boom"))).toEqual({ code: Code.Unknown, message: "boom" });
  expect(statusOf(Object.assign(new Error("gone"), { name: "AbortError" })).code).toBe(Code.Canceled);
});

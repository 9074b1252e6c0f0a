import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { RuncOptionsSchema } from "@bunkerd/proto/containerd/runtime/linux/runctypes/runc_pb.ts";
import { OptionsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { DEFAULT_RUNC_ROOT, parseOptions, readOptions, writeOptions } from "./options.ts";

const pack = (typeUrl: string, value: Uint8Array) => create(AnySchema, { typeUrl, value });

test("no options: containerd's runc shim defaults", () => {
  expect(parseOptions(undefined)).toMatchObject({
    binaryName: "runc",
    root: DEFAULT_RUNC_ROOT,
    systemdCgroup: false,
  });
});

test("containerd.runc.v1.Options, bare or with a type.googleapis.com prefix", () => {
  const value = toBinary(
    OptionsSchema,
    create(OptionsSchema, { binaryName: "crun", root: "/r", systemdCgroup: true, noPivotRoot: true }),
  );
  for (const url of ["containerd.runc.v1.Options", "type.googleapis.com/containerd.runc.v1.Options"]) {
    expect(parseOptions(pack(url, value))).toMatchObject({
      binaryName: "crun",
      root: "/r",
      systemdCgroup: true,
      noPivotRoot: true,
    });
  }
});

test("the older containerd.linux.runc.RuncOptions", () => {
  const value = toBinary(
    RuncOptionsSchema,
    create(RuncOptionsSchema, { runtime: "runc2", runtimeRoot: "/rr" }),
  );
  expect(parseOptions(pack("containerd.linux.runc.RuncOptions", value))).toMatchObject({
    binaryName: "runc2",
    root: "/rr",
  });
});

test("an unknown options type or a broken message is refused", () => {
  expect(() => parseOptions(pack("example.Other", new Uint8Array()))).toThrow(
    'unsupported type "example.Other"',
  );
  expect(() => parseOptions(pack("containerd.runc.v1.Options", new Uint8Array([0xff, 0xff])))).toThrow(
    "runtime options containerd.runc.v1.Options",
  );
});

test("options.json keeps root and binary for a later delete", () => {
  const dir = mkdtempSync(join(tmpdir(), "shim-opts-"));
  try {
    expect(readOptions(dir).root).toBe(DEFAULT_RUNC_ROOT);
    writeOptions(dir, { ...parseOptions(undefined), root: "/x", binaryName: "/usr/local/bin/runc" });
    expect(readOptions(dir)).toMatchObject({ root: "/x", binaryName: "/usr/local/bin/runc" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { expect, test } from "bun:test";
import { orderSpec, specBytes } from "./marshal.ts";
import { envFileLines, parseMountFlag, parseWithNs, replaceOrAppendEnv, withLinuxNamespace } from "./opts.ts";
import { defaultSpec } from "./spec.ts";

test("env: overrides replace by key, new keys append (twice if given twice), KEY alone removes", () => {
  expect(replaceOrAppendEnv(["PATH=/bin", "A=1"], ["A=2", "B=1", "B=2", "PATH", ""])).toEqual([
    "A=2",
    "B=1",
    "B=2",
  ]);
  expect(envFileLines("E1=x\r\n\nE2=y\n")).toEqual(["E1=x", "", "E2=y"]);
});

test("--mount is a CSV of key=value; unknown keys and bare words are refused", () => {
  expect(parseMountFlag("type=bind,src=/a,dst=/b,options=rbind:ro")).toEqual({
    destination: "/b",
    type: "bind",
    source: "/a",
    options: ["rbind", "ro"],
  });
  expect(parseMountFlag('type=bind,"source=/a,b",destination=/c').source).toBe("/a,b");
  expect(() => parseMountFlag("type=bind,nope=1")).toThrow('mount option "nope" not supported');
  expect(() => parseMountFlag("bind")).toThrow("invalid mount specification: expected key=val");
});

test("--with-ns sets the path of an existing namespace, or adds one", () => {
  const s = defaultSpec("default", "c");
  withLinuxNamespace(s, parseWithNs("network:/proc/1/ns/net"));
  withLinuxNamespace(s, parseWithNs("cgroup:/proc/1/ns/cgroup"));
  expect(s.linux?.namespaces?.at(-2)).toEqual({ type: "network", path: "/proc/1/ns/net" });
  expect(s.linux?.namespaces?.at(-1)).toEqual({ type: "cgroup", path: "/proc/1/ns/cgroup" });
  expect(() => parseWithNs("net")).toThrow("requires the format 'nstype:path'");
  expect(() => parseWithNs("bogus:/x")).toThrow("not valid: bogus");
});

test("marshal: Go's field order, omitempty, sorted maps, zero pointer fields kept, HTML escaping", () => {
  const spec = {
    linux: { resources: { memory: { limit: 0 }, cpu: { period: 1, shares: 2 } }, maskedPaths: [] },
    annotations: { b: "2", a: "1" },
    process: {
      cwd: "/",
      args: ["sh", "-c", "a && b < c"],
      user: { gid: 0, uid: 0, additionalGids: [] },
      env: [],
    },
    ociVersion: "1.0.2-dev",
  };
  const ordered = orderSpec(spec);
  expect(JSON.stringify(ordered)).toBe(
    '{"ociVersion":"1.0.2-dev","process":{"user":{"uid":0,"gid":0},"args":["sh","-c","a && b < c"],"cwd":"/"},' +
      '"annotations":{"a":"1","b":"2"},"linux":{"resources":{"memory":{"limit":0},"cpu":{"shares":2,"period":1}}}}',
  );
  expect(new TextDecoder().decode(specBytes(spec))).toContain('"a \\u0026\\u0026 b \\u003c c"');
});

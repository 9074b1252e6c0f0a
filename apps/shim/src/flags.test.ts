import { expect, test } from "bun:test";
import { parseFlags } from "./flags.ts";

test("containerd 1.6's start command line", () => {
  const argv = [
    "-namespace",
    "default",
    "-address",
    "/run/containerd/containerd.sock",
    "-publish-binary",
    "/usr/bin/containerd",
    "-id",
    "c1",
    "-debug",
    "start",
  ];
  expect(parseFlags(argv)).toMatchObject({
    namespace: "default",
    address: "/run/containerd/containerd.sock",
    publishBinary: "/usr/bin/containerd",
    id: "c1",
    debug: true,
    action: "start",
  });
});

test("delete with -bundle, -flag=value and --flag spellings", () => {
  const f = parseFlags(["--namespace=ns1", "-id=c2", "-bundle", "/b", "delete"]);
  expect([f.namespace, f.id, f.bundle, f.action, f.debug]).toEqual(["ns1", "c2", "/b", "delete", false]);
});

test("no action serves; -v asks for the version; unknown flags with a value are skipped", () => {
  expect(parseFlags(["-namespace", "n", "-id", "x", "-socket", "/s"]).action).toBe("");
  expect(parseFlags(["-v"]).version).toBe(true);
  expect(parseFlags(["-future", "1", "-id", "x", "start"])).toMatchObject({ id: "x", action: "start" });
});

test("bad command lines are refused, naming what is wrong", () => {
  expect(() => parseFlags(["-id", "x", "frobnicate"])).toThrow('unknown shim action "frobnicate"');
  expect(() => parseFlags(["-id"])).toThrow("flag needs an argument: -id");
});

import { expect, test } from "bun:test";
import type { SnapshotInfo } from "../snapshotter.ts";
import { compileFilters } from "./filters.ts";

const at = new Date(0);
const base: SnapshotInfo = { name: "base", kind: "committed", labels: {}, created: at, updated: at };
const child: SnapshotInfo = {
  name: "child",
  parent: "base",
  kind: "active",
  labels: { "a.b/c": "x", empty: "" },
  created: at,
  updated: at,
};

test.each([
  // containerd's adaptSnapshot: name, kind and parent are always present, labels when set.
  [["parent"], true, true],
  [["parent==base"], false, true],
  [["parent!=base"], true, false],
  [["kind==active"], false, true],
  [["name~=^ba"], true, false],
  [['labels."a.b/c"==x'], false, true],
  [['labels."a.b/c"'], false, true],
  [["labels.empty"], false, true],
  [["labels.nope!=x"], true, true],
  [["labels.nope~=^$"], true, true],
  [["kind==active,name==base"], false, false],
  [["kind==active", "name==base"], true, true],
  [["unknown"], false, false],
  [[], true, true],
] as [string[], boolean, boolean][])("%j matches base: %p, child: %p", (filters, onBase, onChild) => {
  const match = compileFilters(filters);
  expect([match(base), match(child)]).toEqual([onBase, onChild]);
});

test("a bad filter is InvalidArgument", () => {
  expect(() => compileFilters(["name=="])).toThrow(expect.objectContaining({ kind: "invalid argument" }));
});

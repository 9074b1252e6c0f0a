import { expect, test } from "bun:test";
import { matchFilters, parseFilter, parseFilters, recordLookup } from "./filters.ts";

const plugin = recordLookup({ type: "io.containerd.grpc.v1", id: "version" }, { "a.b/c": "x y" });

test.each([
  [["type==io.containerd.grpc.v1"], true],
  [["type==io.containerd.content.v1"], false],
  [["type==io.containerd.grpc.v1,id==version"], true],
  [["type==io.containerd.grpc.v1,id==nope"], false],
  [["id==nope", "id==version"], true],
  [["id~=^ver"], true],
  [["id~=/^v.*n$/"], true],
  [["id!=version"], false],
  [['labels."a.b/c"==x y'], true],
  [['labels."a.b/c"'], true],
  [["labels.missing"], false],
  [['id=="version"'], true],
  [[], true],
])("%j → %p", (filters, want) => {
  expect(matchFilters(parseFilters(filters as string[]), plugin)).toBe(want);
});

test("parse errors name the position", () => {
  expect(() => parseFilter("type==x,")).toThrow(/expected a field name at position 8/);
  expect(() => parseFilter('id=="open')).toThrow(/unterminated/);
  expect(() => parseFilter("id~=(")).toThrow(/bad regular expression/);
  expect(() => parseFilter("id=x")).toThrow(/unexpected "="/);
  expect(() => parseFilter("id==")).toThrow(/expected a value/);
  expect(parseFilter('id==""')[0]?.value).toBe("");
});

test("topic filters as ctr events uses them", () => {
  const ev = recordLookup({ topic: "/namespaces/create", namespace: "default" });
  expect(matchFilters(parseFilters(['topic~="/namespaces/*"']), ev)).toBe(true);
  expect(matchFilters(parseFilters(['topic=="/tasks/exit"']), ev)).toBe(false);
});

import { expect, test } from "bun:test";
import { parse } from "smol-toml";
import { Invalid } from "./errors.ts";
import { thrown } from "./testkit.ts";
import {
  checkInt64,
  deepMerge,
  isMarkedFloat,
  normalize,
  parseRaw,
  stringifyToml,
  type TomlTable,
} from "./toml.ts";

const source = [
  "int = 1",
  "float = 1.0",
  "frac = 0.25",
  "big = 9007199254740993",
  "neg = -9223372036854775808",
  "inf = inf",
  'str = "tab\\t quote\\" back\\\\ ctl\\u0001 é 日本"',
  "date = 1979-05-27T07:32:00Z",
  'arr = [1, 2.0, "x"]',
  "tables = [{ a = 1 }, { b = 2.5 }]",
  "[sub]",
  "empty = {}",
  '[sub."dotted.name"]',
  "x = 1",
].join("\n");

test("normalize keeps integers and floats apart, and big integers exact", () => {
  const t = normalize(parseRaw(source)) as TomlTable;
  expect(t.int).toBe(1);
  expect(t.float).toBe(1);
  expect(isMarkedFloat(t, "int")).toBe(false);
  expect(isMarkedFloat(t, "float")).toBe(true);
  expect(t.big).toBe(9007199254740993n);
  expect(t.neg).toBe(-9223372036854775808n);
  expect(isMarkedFloat(t.arr as object, 1)).toBe(true);
});

test("stringify writes back what was parsed: float-ness, big integers, strings, dates", () => {
  const t = normalize(parseRaw(source)) as TomlTable;
  const out = stringifyToml(t);
  expect(out).toContain("float = 1.0\n");
  expect(out).toContain("int = 1\n");
  expect(out).toContain("big = 9007199254740993\n");
  expect(out).toContain('arr = [1, 2.0, "x"]');
  expect(out).toContain("tables = [{ a = 1 }, { b = 2.5 }]");
  expect(out).toContain('[sub."dotted.name"]');
  // The same values come back, types included.
  expect(parseRaw(out)).toEqual(parseRaw(source));
});

test("stringify lays tables out as containerd does", () => {
  const out = stringifyToml({ b: 1, a: "x", grpc: { uid: 0 }, plugins: { "io.x.v1.y": { k: true } } });
  expect(out).toBe(
    [
      'a = "x"',
      "b = 1",
      "",
      "[grpc]",
      "  uid = 0",
      "",
      "[plugins]",
      "",
      '  [plugins."io.x.v1.y"]',
      "    k = true",
      "",
    ].join("\n"),
  );
});

test("stringify leaves out null and undefined", () => {
  expect(parse(stringifyToml({ a: 1, b: null, c: undefined } as unknown as TomlTable))).toEqual({ a: 1 });
});

test("integers beyond 64 bits are refused with their key path", () => {
  const raw = parseRaw("[plugins.x]\nlist = [1, 99999999999999999999]");
  const e = thrown(() => checkInt64(raw));
  expect(e).toBeInstanceOf(Invalid);
  expect((e as Invalid).path).toEqual(["plugins", "x", "list", 1]);
});

test("deepMerge merges tables, replaces arrays and keeps float marks", () => {
  const over = normalize(parseRaw("a.y = 2.0\nlist = [3]")) as TomlTable;
  const merged = deepMerge({ a: { x: 1, y: 1 }, list: [1, 2], keep: "k" }, over);
  expect(merged).toEqual({ a: { x: 1, y: 2 }, list: [3], keep: "k" });
  expect(stringifyToml(merged)).toContain("y = 2.0");
});

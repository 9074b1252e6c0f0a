import { expect, test } from "bun:test";
import { keyLines, locateKey, splitKey } from "./locate.ts";

const text = [
  "version = 2 # a comment with [brackets] and key = value", // 1
  'root = "/var/lib/x" # root', // 2
  "disabled_plugins = [", // 3
  '  "io.containerd.a.v1.b", # fake = 1', // 4
  "  'x = 2',", // 5
  "]", // 6
  'banner = """', // 7
  "[not.a.table]", // 8
  'not_a_key = "x"', // 9
  '"""', // 10
  "", // 11
  "[grpc]", // 12
  "  address = '/run/x.sock'", // 13
  "  max_recv_message_size = 1", // 14
  "", // 15
  '[plugins."io.containerd.gc.v1.scheduler"]', // 16
  "  pause_threshold = 0.02", // 17
  '  "quoted.key" = 1', // 18
  "  nested.deep.key = true", // 19
  "", // 20
  "[ plugins . 'io.containerd.grpc.v1.cri' . containerd ]", // 21
  "  snapshotter = 'overlayfs'", // 22
  "", // 23
  "[metrics]", // 24
  'inline = { address = "x", sub = { y = 1 } }', // 25
  "[[arr]]", // 26
  "a = 1", // 27
  "[[arr]]", // 28
  "a = 2", // 29
  "[arr.child]", // 30
  "b = 3", // 31
  "lit = '''", // 32
  "[fake]", // 33
  "'''", // 34
  "after = 1", // 35
].join("\n");

test.each([
  ["version", 1],
  ["root", 2],
  ["disabled_plugins", 3],
  ["banner", 7],
  ["grpc", 12],
  ["grpc.address", 13],
  ["grpc.max_recv_message_size", 14],
  ["plugins", 16],
  ['plugins."io.containerd.gc.v1.scheduler"', 16],
  ['plugins."io.containerd.gc.v1.scheduler".pause_threshold', 17],
  ['plugins."io.containerd.gc.v1.scheduler"."quoted.key"', 18],
  ['plugins."io.containerd.gc.v1.scheduler".nested.deep.key', 19],
  ['plugins."io.containerd.gc.v1.scheduler".nested', 19],
  ['plugins."io.containerd.grpc.v1.cri"', 21],
  ['plugins."io.containerd.grpc.v1.cri".containerd.snapshotter', 22],
  ["plugins.'io.containerd.grpc.v1.cri'.containerd.snapshotter", 22],
  ["metrics.inline.address", 25],
  ["metrics.inline.sub.y", 25],
  ["arr", 26],
  ["arr[0].a", 27],
  ["arr[1].a", 29],
  ["arr[1].child.b", 31],
  ["arr[1].child.lit", 32],
  ["arr[1].child.after", 35],
])("%s is on line %d", (key, line) => {
  const lines = keyLines(text);
  const found = key.includes("[") ? lines.get(key) : locateKey(text, key);
  expect(found).toBe(line);
});

test("nothing inside strings, arrays or comments is taken for a key", () => {
  for (const key of ["not", "not_a_key", "fake", "x", "brackets", "key"]) {
    expect(locateKey(text, key)).toBeUndefined();
  }
});

test("splitKey reads quoted and literal segments", () => {
  expect(splitKey(`plugins."io.containerd.x.v1.y".a`)).toEqual(["plugins", "io.containerd.x.v1.y", "a"]);
  expect(splitKey(`a.'b.c'."d\\"e"`)).toEqual(["a", "b.c", 'd"e']);
});

test("CRLF line endings count the same lines", () => {
  expect(locateKey("a = 1\r\n\r\n[b]\r\nc = 2\r\n", "b.c")).toBe(4);
});

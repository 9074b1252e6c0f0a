import { expect, test } from "bun:test";
import { BunkerError, Kind, validateIdentifier } from "@bunkerd/plugin-api";
import { digestProblem, goQuote, storedLabels, validateLabel } from "./validate.ts";

const caught = (fn: () => void): BunkerError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("expected an error");
};

// containerd's own table (pkg/identifiers/validate_test.go), against the validator the metadata
// store uses (from @bunkerd/plugin-api).
test.each([
  "default",
  "Default",
  "default-default",
  "containerd.io",
  "foo.boo",
  "swarmkit.docker.io",
  "0912341234",
  "task.0.0123456789",
  "container.system-75-f19a.00",
  "underscores_are_allowed",
  "a".repeat(76),
])("%p is a valid identifier", (s) => expect(() => validateIdentifier(s)).not.toThrow());

test.each([
  ".foo..foo",
  "foo/foo",
  "foo/..",
  "foo..foo",
  "foo.-boo",
  "-foo.boo",
  "foo.boo-",
  "but__only_tasteful_underscores",
  "zn--e9.org",
  "default--default",
])("%p is refused with containerd's message", (s) => {
  const e = caught(() => validateIdentifier(s));
  expect(e.kind).toBe(Kind.InvalidArgument);
  expect(e.message).toBe(
    `identifier ${goQuote(s)} must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument`,
  );
});

test("empty and overlong identifiers", () => {
  expect(caught(() => validateIdentifier("")).message).toBe("identifier must not be empty: invalid argument");
  const long = "a".repeat(77);
  expect(caught(() => validateIdentifier(long)).message).toBe(
    `identifier "${long}" greater than maximum length (76 characters): invalid argument`,
  );
});

test("a label's key and value may fill 4096 bytes together, not one more", () => {
  expect(() => validateLabel("namespace.Labels", "k", "v".repeat(4095))).not.toThrow();
  const e = caught(() => validateLabel("namespace.Labels", "k", "v".repeat(4096)));
  expect(e.kind).toBe(Kind.InvalidArgument);
  expect(e.message).toBe(
    "namespace.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument",
  );
});

test("the size counts bytes, and the message shows the key's first 10 bytes", () => {
  // "é" is two bytes in UTF-8: 2048 of them are 4096 bytes.
  expect(() => validateLabel("f", "", "é".repeat(2048))).not.toThrow();
  expect(() => validateLabel("f", "k", "é".repeat(2048))).toThrow();
  expect(caught(() => validateLabel("f", "abcdefghijklmnop", "v".repeat(4090))).message).toBe(
    "f: label key and value greater than maximum size (4096 bytes), key: abcdefghij: invalid argument",
  );
});

test("goQuote quotes as Go's %q does for plain text", () => {
  expect(goQuote("foo")).toBe('"foo"');
  expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
  expect(goQuote("a\nb\x01")).toBe('"a\\nb\\x01"');
});

// go-digest v1.0.0's reasons, as containerd 1.6.20 quotes them in `Target.Digest … invalid: …`.
test.each([
  [`sha256:${"a".repeat(64)}`, undefined],
  [`sha384:${"a".repeat(96)}`, undefined],
  [`sha512:${"a".repeat(128)}`, undefined],
  ["", "invalid checksum digest format"],
  ["sha256", "invalid checksum digest format"],
  [":abc", "invalid checksum digest format"],
  ["sha256:", "invalid checksum digest format"],
  ["sha256:abc", "invalid checksum digest length"],
  [`sha512:${"a".repeat(64)}`, "invalid checksum digest length"],
  [`sha256:${"A".repeat(64)}`, "invalid checksum digest format"],
  [`sha256:${"g".repeat(64)}`, "invalid checksum digest format"],
  ["foo:bar", "unsupported digest algorithm"],
  ["Foo:bar", "invalid checksum digest format"],
  ["foo:b/r", "invalid checksum digest format"],
])("digest %p → %p", (s, want) => expect(digestProblem(s)).toBe(want));

test("stored labels drop empty values and refuse an empty key as bolt does", () => {
  expect(storedLabels({ a: "1", b: "", "": "" })).toEqual({ a: "1" });
  expect(storedLabels(undefined)).toEqual({});
  const proto = storedLabels(JSON.parse('{"__proto__":"x"}'));
  expect(Object.entries(proto)).toEqual([["__proto__", "x"]]);
  const e = caught(() => storedLabels({ "": "v\n" }, "writing labels for image x"));
  expect([e.kind, e.message]).toEqual([
    Kind.Unknown,
    'writing labels for image x: failed to set label ""="v\\n": key required',
  ]);
});

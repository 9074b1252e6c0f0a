/** References: containerd's Spec split and docker's normalization, table-driven. */

import { describe, expect, test } from "bun:test";
import { familiarReference, normalizeReference, parseDockerReference, parseReference } from "./reference.ts";

const D = `sha256:${"a".repeat(64)}`;

describe("normalizeReference (docker's ParseDockerRef)", () => {
  test.each([
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["index.docker.io/library/busybox", "docker.io/library/busybox:latest"],
    ["user/repo", "docker.io/user/repo:latest"],
    ["localhost/x", "localhost/x:latest"],
    ["localhost:5000/x/y:tag", "localhost:5000/x/y:tag"],
    ["127.0.0.1:5000/x/y:tag", "127.0.0.1:5000/x/y:tag"],
    ["registry.example.com/a/b/c", "registry.example.com/a/b/c:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    // A tag beside a digest: the digest wins, as ParseDockerRef has it.
    [`busybox:1.36@${D}`, `docker.io/library/busybox@${D}`],
    ["a.b-c__d/e---f:Tag_1.x", "a.b-c__d/e---f:Tag_1.x"],
  ])("%s → %s", (input, want) => {
    expect(normalizeReference(input)).toBe(want);
  });

  test("parseDockerReference keeps both tag and digest", () => {
    expect(parseDockerReference(`127.0.0.1:5000/x/y:v1@${D}`)).toEqual({
      domain: "127.0.0.1:5000",
      path: "x/y",
      tag: "v1",
      digest: D,
    });
  });

  test.each([
    ["", "invalid reference format"],
    ["Busybox", "must be lowercase"],
    ["docker.io/Library/busybox", "must be lowercase"],
    ["busybox:", "invalid reference format"],
    [":tag", "invalid reference format"],
    ["busybox@sha256:1234", "invalid reference format"],
    [`busybox@sha256:${"a".repeat(40)}`, "invalid checksum digest format"],
    [`busybox@md5:${"a".repeat(32)}`, "unsupported digest algorithm"],
    ["a".repeat(64), "cannot specify 64-byte hexadecimal strings"],
    [`x/${"a".repeat(260)}`, "must not be more than 255 characters"],
    ["busybox:-tag", "invalid reference format"],
    [`busybox:${"t".repeat(129)}`, "invalid reference format"],
    ["a/b//c", "invalid reference format"],
  ])("%p is refused (%s)", (input, message) => {
    expect(() => normalizeReference(input)).toThrow(message);
  });

  test("a long invalid name fails fast (no catastrophic backtracking)", () => {
    const t = performance.now();
    expect(() => normalizeReference(`${"a-".repeat(5000)}!`)).toThrow();
    expect(performance.now() - t).toBeLessThan(1000);
  });

  test.each([
    ["docker.io/library/busybox:latest", "busybox:latest"],
    ["docker.io/user/repo:v1", "user/repo:v1"],
    ["127.0.0.1:5000/x/y:tag", "127.0.0.1:5000/x/y:tag"],
  ])("familiar form of %s is %s", (input, want) => {
    expect(familiarReference(input)).toBe(want);
  });
});

describe("parseReference (containerd's reference.Parse)", () => {
  test.each([
    ["docker.io/library/redis:foo?fooo=asdf", "docker.io/library/redis", "foo", "foo", undefined],
    [`docker.io/library/redis@${D}`, "docker.io/library/redis", `@${D}`, "", D],
    [`docker.io/library/redis:foo@${D}`, "docker.io/library/redis", `foo@${D}`, "foo", D],
    ["localhost:5000/library/redis:latest", "localhost:5000/library/redis", "latest", "latest", undefined],
    ["127.0.0.1:5000/x/y", "127.0.0.1:5000/x/y", "", "", undefined],
    ["example.com//a/../b:t", "example.com/b", "t", "t", undefined],
  ])("%s", (input, locator, object, tag, digest) => {
    const spec = parseReference(input);
    expect(spec.locator).toBe(locator);
    expect(spec.object).toBe(object);
    expect(spec.tag).toBe(tag);
    expect(spec.digest).toBe(digest);
  });

  test("hostname and repository", () => {
    const spec = parseReference("127.0.0.1:5000/x/y:tag");
    expect([spec.hostname, spec.repository]).toEqual(["127.0.0.1:5000", "x/y"]);
  });

  test.each([
    ["", "hostname required"],
    ["/x/y", "hostname required"],
    ["docker.io:abc/foo", "invalid port"],
  ])("%p is refused (%s)", (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });
});

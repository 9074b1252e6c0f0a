/** Platforms: specifier parsing, normalization and ordered matching, after containerd's
 *  platforms_test.go and compare_test.go. */

import { describe, expect, test } from "bun:test";
import {
  all,
  defaultMatcher,
  defaultSpec,
  format,
  hostArch,
  normalize,
  only,
  onlyStrict,
  ordered,
  type Platform,
  parse,
} from "./index.ts";

const p = (s: string): Platform => {
  const [os, architecture, variant] = s.split("/");
  return variant
    ? { os: os!, architecture: architecture!, variant }
    : { os: os!, architecture: architecture! };
};

describe("parse and format", () => {
  test.each([
    ["linux/amd64", "linux/amd64"],
    ["linux/x86_64", "linux/amd64"],
    ["linux/x86-64", "linux/amd64"],
    ["linux/amd64/v1", "linux/amd64"],
    ["linux/amd64/v3", "linux/amd64/v3"],
    ["linux/i386", "linux/386"],
    ["linux/aarch64", "linux/arm64"],
    ["linux/arm64/v8", "linux/arm64"],
    ["linux/arm64/8", "linux/arm64"],
    ["linux/arm", "linux/arm/v7"],
    ["linux/armhf", "linux/arm/v7"],
    ["linux/armel", "linux/arm/v6"],
    ["linux/arm/6", "linux/arm/v6"],
    ["linux/arm/v5", "linux/arm/v5"],
    ["macos/arm64", "darwin/arm64"],
    ["Linux/AMD64", "linux/amd64"],
    ["windows/amd64", "windows/amd64"],
    ["linux/s390x", "linux/s390x"],
  ])("%s → %s", (specifier, want) => {
    expect(format(parse(specifier))).toBe(want);
  });

  test("an OS alone takes the host architecture; an architecture alone the host OS", () => {
    expect(parse("linux").architecture).toBe(
      normalize({ os: "linux", architecture: hostArch() }).architecture,
    );
    expect(parse("arm64")).toEqual({ os: process.platform, architecture: "arm64" });
  });

  test.each([
    ["linux/*", "wildcards not yet supported"],
    ["linux//amd64", "invalid component"],
    ["linux/amd64/v8/x", "cannot parse platform specifier"],
    ["plan10", "unknown operating system or architecture"],
    ["linux/am d64", "invalid component"],
  ])("%p is refused (%s)", (specifier, message) => {
    expect(() => parse(specifier)).toThrow(message);
  });

  test("format without an OS is unknown", () => {
    expect(format({ os: "", architecture: "amd64" })).toBe("unknown");
  });

  test("the host spec is normalized and matches itself", () => {
    const host = defaultSpec();
    expect(host.os).toBe(process.platform);
    expect(defaultMatcher().match(host)).toBe(true);
  });
});

describe("matchers", () => {
  test("Only(linux/arm/v8) takes v8..v5 in that order, not v4 or arm64", () => {
    const m = only(p("linux/arm/v8"));
    for (const s of ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"])
      expect(m.match(p(s))).toBe(true);
    for (const s of ["linux/arm/v4", "linux/arm64", "linux/amd64", "windows/arm/v7"])
      expect(m.match(p(s))).toBe(false);
    expect(m.less(p("linux/arm/v7"), p("linux/arm/v6"))).toBe(true);
    expect(m.less(p("linux/arm/v6"), p("linux/arm/v7"))).toBe(false);
  });

  test("Only(linux/arm64) also takes arm/v8 down to arm/v5, after arm64", () => {
    const m = only(p("linux/arm64"));
    expect(m.match(p("linux/arm64/v8"))).toBe(true);
    expect(m.match({ os: "linux", architecture: "aarch64" })).toBe(true);
    expect(m.match(p("linux/arm/v7"))).toBe(true);
    expect(m.less(p("linux/arm64"), p("linux/arm/v8"))).toBe(true);
  });

  test("Only(linux/amd64) takes 386 as a fallback; OnlyStrict and the default do not", () => {
    expect(only(p("linux/amd64")).match(p("linux/386"))).toBe(true);
    expect(onlyStrict(p("linux/amd64")).match(p("linux/386"))).toBe(false);
    expect(onlyStrict(p("linux/amd64")).match({ os: "linux", architecture: "x86_64" })).toBe(true);
    if (hostArch() === "amd64") {
      expect(defaultMatcher().match(p("linux/386"))).toBe(false);
      expect(defaultMatcher().match(p("linux/arm64"))).toBe(false);
    }
  });

  test("Only(linux/amd64/v3) falls back through v2 and v1 (plain amd64)", () => {
    const m = only(p("linux/amd64/v3"));
    expect(m.match(p("linux/amd64/v2"))).toBe(true);
    expect(m.match(p("linux/amd64"))).toBe(true);
    expect(m.match(p("linux/amd64/v4"))).toBe(false);
    expect(m.less(p("linux/amd64/v3"), p("linux/amd64"))).toBe(true);
  });

  test("Ordered prefers the platforms in the order given", () => {
    const m = ordered(p("linux/arm64"), p("linux/amd64"));
    expect(m.less(p("linux/arm64"), p("linux/amd64"))).toBe(true);
    expect(m.less(p("linux/amd64"), p("linux/arm64"))).toBe(false);
    expect(m.match(p("linux/s390x"))).toBe(false);
  });

  test("All matches everything with no preference", () => {
    expect(all.match(p("plan9/mips"))).toBe(true);
    expect(all.less(p("linux/amd64"), p("linux/arm64"))).toBe(false);
  });
});

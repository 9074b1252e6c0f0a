/** WWW-Authenticate parsing, after containerd's auth/parse_test.go. */

import { expect, test } from "bun:test";
import { parseChallenges } from "./challenge.ts";

test("a Bearer challenge with quoted parameters", () => {
  expect(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
  ).toEqual([
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull",
      },
    },
  ]);
});

test("an error parameter, escapes, and token values", () => {
  const [c] = parseChallenges('bearer realm="http://x/t?a=1", error=insufficient_scope, scope="a\\"b"');
  expect(c).toEqual({
    scheme: "bearer",
    params: { realm: "http://x/t?a=1", error: "insufficient_scope", scope: 'a"b' },
  });
});

test("several challenges on one line are split and sorted bearer, digest, basic", () => {
  const cs = parseChallenges(
    'Basic realm="registry", Digest realm="d", nonce="n", Bearer realm="https://a/t",service="s"',
  );
  expect(cs.map((c) => c.scheme)).toEqual(["bearer", "digest", "basic"]);
  expect(cs[0]!.params).toEqual({ realm: "https://a/t", service: "s" });
  expect(cs[1]!.params).toEqual({ realm: "d", nonce: "n" });
});

test("unknown schemes and empty headers give nothing", () => {
  expect(parseChallenges("Negotiate abc, NTLM")).toEqual([]);
  expect(parseChallenges(null)).toEqual([]);
  expect(parseChallenges("")).toEqual([]);
});

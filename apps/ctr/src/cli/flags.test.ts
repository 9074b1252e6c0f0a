import { expect, test } from "bun:test";
import { parseGlobals, globals } from "./context.ts";
import { UsageError } from "./errors.ts";
import { parseLabels, repeated } from "./flags.ts";

test("labels: key=value words, an empty value kept (it clears), a bare word refused by name", () => {
  expect(parseLabels(["a=1", "b=", "c=x=y"])).toEqual({ a: "1", b: "", c: "x=y" });
  expect(() => parseLabels(["oops"])).toThrow(new UsageError('invalid label "oops": want key=value'));
});

test("a repeatable flag keeps every value, in both spellings, up to --", () => {
  const raw = ["--label", "a=1", "ref", "--label=b=2", "-l", "c=3", "--", "--label", "x"];
  expect(repeated(raw, "label", "l")).toEqual(["a=1", "b=2", "c=3"]);
});

test("global flags are read before the command only, as in Go ctr", () => {
  const rest = parseGlobals([
    "-a",
    "/x.sock",
    "--namespace=ns1",
    "--timeout",
    "2s",
    "--debug",
    "images",
    "ls",
    "-n",
    "y",
  ]);
  expect(rest).toEqual(["images", "ls", "-n", "y"]);
  expect(globals).toMatchObject({ address: "/x.sock", namespace: "ns1", timeoutMs: 2000, debug: true });
  expect(() => parseGlobals(["--address"])).toThrow("flag needs an argument: --address");
  expect(() => parseGlobals(["--timeout", "soon"])).toThrow('invalid --timeout "soon"');
});

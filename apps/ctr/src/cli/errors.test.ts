import { expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { about, describeError } from "./errors.ts";

test("a status becomes one line: the daemon's message, then the code in words unless it says it", () => {
  expect(describeError(new ConnectError('image "x": not found', Code.NotFound))).toBe('image "x": not found');
  expect(describeError(new ConnectError("lease l1", Code.NotFound))).toBe("lease l1: not found");
  expect(describeError(new ConnectError("", Code.AlreadyExists))).toBe("already exists");
  expect(describeError(new ConnectError("x", Code.DeadlineExceeded))).toBe("x: context deadline exceeded");
});

test("a missing socket reads as such, naming the address", () => {
  const e = new ConnectError("connect ENOENT /run/x.sock", Code.Unavailable);
  expect(describeError(e, "/run/x.sock")).toBe(
    "cannot connect to /run/x.sock: no such socket (is the daemon running?)",
  );
});

test("about() names the subject when the daemon's message does not", async () => {
  const fail = (m: string) => Promise.reject(new ConnectError(m, Code.NotFound));
  expect(await about('image "y"', fail("")).catch(describeError)).toBe('image "y": not found');
  expect(await about('image "y"', fail('image "y"')).catch(describeError)).toBe('image "y": not found');
});

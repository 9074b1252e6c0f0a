import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fifoIO } from "./io.ts";
import { isFifoPath, newFifoSet, removeFifos } from "./fifo.ts";

const root = mkdtempSync(join(tmpdir(), "bctr-fifo-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("a FIFO set: stdin/stdout/stderr in a new directory; a terminal has no stderr", () => {
  const set = newFifoSet(root, "c1", { stdin: true, terminal: false });
  for (const p of [set.stdin, set.stdout, set.stderr]) expect(statSync(p).isFIFO()).toBe(true);
  expect(set.stdout).toBe(join(set.dir, "c1-stdout"));
  expect(isFifoPath(set.stdout, root)).toBe(true);
  expect(isFifoPath("/etc/passwd", root)).toBe(false);
  const tty = newFifoSet(root, "c2", { stdin: true, terminal: true });
  expect(tty.stderr).toBe("");
  removeFifos([set.stdin, set.stdout, set.stderr]);
  expect(existsSync(set.dir)).toBe(false);
  removeFifos([tty.stdin, tty.stdout]);
  expect(existsSync(tty.dir)).toBe(false);
});

test("output written to the FIFOs reaches the sinks; stdin reaches the reader; close removes them", async () => {
  const set = newFifoSet(root, "c3", { stdin: true, terminal: false });
  const io = fifoIO(set, true);
  const out: string[] = [];
  const err: string[] = [];
  const dec = new TextDecoder();
  const { Readable } = await import("node:stream");
  let ended = false;
  io.start({
    stdin: Readable.from([Buffer.from("to the task\n")]),
    stdout: async (c) => out.push(dec.decode(c)),
    stderr: async (c) => err.push(dec.decode(c)),
    onStdinEnd: () => {
      ended = true;
    },
  });
  // Play the shim: read stdin, write both outputs, close.
  const shim = Bun.spawn(
    ["sh", "-c", `cat < ${set.stdin}; echo out > ${set.stdout}; echo err > ${set.stderr}`],
    {
      stdout: "pipe",
    },
  );
  expect(await new Response(shim.stdout).text()).toBe("to the task\n");
  await io.wait();
  // onStdinEnd follows the close of our stdin end, which may settle after the outputs did.
  for (let i = 0; i < 100 && !ended; i++) await Bun.sleep(10);
  expect([out.join(""), err.join(""), ended]).toEqual(["out\n", "err\n", true]);
  io.close();
  expect(existsSync(set.dir)).toBe(false);
});

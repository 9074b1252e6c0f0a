import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sdNotify } from "./notify.ts";

test("READY=1 reaches a datagram listener on NOTIFY_SOCKET", async () => {
  const dir = mkdtempSync(join(tmpdir(), "notify-"));
  const sock = join(dir, "notify.sock");
  // A datagram listener from a standard tool: python's socket module.
  const py = Bun.spawn(
    [
      "python3",
      "-c",
      `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ok",flush=True)\nprint(s.recv(100).decode(),flush=True)`,
      sock,
    ],
    { stdout: "pipe" },
  );
  const reader = py.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  while (!out.includes("ok\n")) out += dec.decode((await reader.read()).value);
  expect(sdNotify("READY=1", sock)).toBe(true);
  while (!out.includes("READY=1")) out += dec.decode((await reader.read()).value);
  expect(out).toContain("READY=1");
  await py.exited;
  rmSync(dir, { recursive: true, force: true });
});

test("no NOTIFY_SOCKET: nothing sent", () => {
  expect(sdNotify("READY=1", undefined)).toBe(false);
});

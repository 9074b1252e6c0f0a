// Real runc with --console-socket: the pty master arrives over SCM_RIGHTS, resizes reach the
// process, and the copy moves output to the stdout fifo and stdin fifo input into the terminal.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleSocket, copyPty, resizePty } from "./console.ts";
import { closeFd } from "./libc.ts";
import { Reaper, setSubreaper } from "./reaper.ts";
import { hasRunc, RuncBundle } from "./testing/runc-bundle.ts";

const reaper = new Reaper({ pollMs: 50 });
beforeAll(() => {
  setSubreaper();
  reaper.start();
});
afterAll(() => {
  reaper.stop();
  setSubreaper(false);
});

/** This process's fds whose target starts with one of the prefixes (files, fifos, ptys). */
function fdsTo(...prefixes: string[]): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (prefixes.some((p) => target.startsWith(p))) out.push(target);
    } catch {} // closed meanwhile
  }
  return out;
}

function mkfifo(path: string) {
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
}

/** Runs a terminal container; `feed` may write to its stdin fifo. Returns what reached stdout. */
async function runWithConsole(args: string[], feed?: (stdinFifo: string) => Promise<void>) {
  const b = await RuncBundle.create(reaper, { args, terminal: true });
  const sock = await ConsoleSocket.listen(join(b.dir, "console.sock"));
  let master = -1;
  try {
    const received = sock.receiveMaster({ timeoutMs: 30_000 });
    const pid = await b.createContainer(sock.path);
    master = await received;
    expect(master).toBeGreaterThan(2);
    resizePty(master, 100, 40);
    const [stdout, stdin] = [join(b.dir, "stdout"), join(b.dir, "stdin")];
    mkfifo(stdout);
    mkfifo(stdin);
    const reader = Bun.spawn(["cat", stdout], { stdout: "pipe" });
    const copy = copyPty(master, { stdout, stdin });
    await b.start();
    await feed?.(stdin);
    const exit = await reaper.wait(pid);
    await copy.done;
    await copy.close();
    const output = await new Response(reader.stdout).text();
    expect(await reader.exited).toBe(0);
    return { status: exit.status, output };
  } finally {
    if (master >= 0) closeFd(master);
    sock.close();
    await b.cleanup();
    // Nothing of the bundle (fifos, socket) and no pty master left open.
    expect(fdsTo(b.dir, "/dev/ptmx", "/dev/pts/ptmx")).toEqual([]);
  }
}

describe.skipIf(!hasRunc)("with runc", () => {
  test("receives the master from runc create, resizes it, copies the output", async () => {
    const { status, output } = await runWithConsole(["sh", "-c", "stty size; echo hi"]);
    expect(status).toBe(0);
    expect(output).toBe("40 100\r\nhi\r\n");
  });

  test("stdin fifo input reaches the terminal; a writer closing does not end it", async () => {
    const { status, output } = await runWithConsole(
      ["sh", "-c", "stty -echo; read a; read b; echo got:$a:$b; exit 3"],
      async (fifo) => {
        // Two writers one after another: the first one closing must not EOF the terminal.
        await Bun.sleep(100);
        writeFileSync(fifo, "one\n");
        await Bun.sleep(100);
        writeFileSync(fifo, "two\n");
      },
    );
    expect(status).toBe(3);
    expect(output).toBe("got:one:two\r\n");
  });
});

describe.skipIf(!hasRunc)("with runc, volume", () => {
  test("4 MB of output through the pty reaches the stdout fifo whole", async () => {
    const { status, output } = await runWithConsole(["sh", "-c", "head -c 4000000 /dev/zero | tr '\\0' x"]);
    expect(status).toBe(0);
    expect(output.length).toBe(4_000_000);
    expect(output.replaceAll("x", "")).toBe("");
  });
});

describe("without runc", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-console-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a path too long for sockaddr_un is refused with its name", async () => {
    const long = join(dir, "x".repeat(120));
    await expect(ConsoleSocket.listen(long)).rejects.toMatchObject({
      kind: "invalid argument",
      message: expect.stringMatching(/longer than 107 bytes/),
    });
  });

  test("close() ends a pending receiveMaster and removes the socket file", async () => {
    const sock = await ConsoleSocket.listen(join(dir, "c.sock"));
    expect(existsSync(sock.path)).toBe(true);
    const pending = sock.receiveMaster();
    setTimeout(() => sock.close(), 30);
    await expect(pending).rejects.toThrow(/closed/);
    expect(existsSync(sock.path)).toBe(false);
  });

  test("receiveMaster gives up on abort and on its timeout", async () => {
    const sock = await ConsoleSocket.listen(join(dir, "abort.sock"));
    try {
      const ac = new AbortController();
      const pending = sock.receiveMaster({ signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await expect(pending).rejects.toMatchObject({ name: "AbortError" });
      await expect(sock.receiveMaster({ timeoutMs: 50 })).rejects.toThrow(/no console received in time/);
    } finally {
      sock.close();
    }
  });

  test("a connection that sends no fd is an error, not a hang", async () => {
    const sock = await ConsoleSocket.listen(join(dir, "nofd.sock"));
    try {
      const pending = sock.receiveMaster({ timeoutMs: 10_000 });
      const conn = await Bun.connect({ unix: sock.path, socket: { data() {} } });
      conn.write("no fd here");
      await expect(pending).rejects.toThrow(/without a file descriptor/);
      conn.end();
    } finally {
      sock.close();
    }
  });

  test("closeStdin (CloseIO) stops feeding the terminal and closes the stdin fifo", async () => {
    // A fifo stands in for the pty master: the copy only needs a writable fd.
    const [stdin, master] = [join(dir, "in"), join(dir, "master")];
    for (const p of [stdin, master]) expect(Bun.spawnSync(["mkfifo", p]).exitCode).toBe(0);
    const masterFd = openSync(master, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const copy = copyPty(masterFd, { stdin });
      expect(fdsTo(stdin)).toEqual([stdin]);
      writeFileSync(stdin, "before\n");
      const got = Buffer.alloc(64);
      let n = 0;
      for (let i = 0; i < 200 && n === 0; i++) {
        await Bun.sleep(5);
        try {
          n = readSync(masterFd, got);
        } catch {} // EAGAIN until the copy has run
      }
      expect(got.subarray(0, n).toString()).toBe("before\n");
      await copy.closeStdin();
      expect(fdsTo(stdin)).toEqual([]);
      await copy.close();
    } finally {
      closeSync(masterFd);
    }
  });

  test("an existing path is refused (EADDRINUSE)", async () => {
    const a = await ConsoleSocket.listen(join(dir, "dup.sock"));
    try {
      await expect(ConsoleSocket.listen(a.path)).rejects.toMatchObject({ code: "EADDRINUSE" });
    } finally {
      a.close();
    }
  });
});

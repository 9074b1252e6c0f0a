/** bunkerd as a process: start-up, signals, sockets, readiness notification, plugin states
 *  from plugin_dir, a crashing worker, the state dump. */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUNKERD, cleanupDir, hasBinary, run, startDaemon } from "../harness/daemon.ts";
import { grpcCall, versionOk } from "../harness/grpc.ts";

const testdata = join(import.meta.dir, "testdata");

describe.skipIf(!hasBinary("ctr"))("bunkerd lifecycle", () => {
  test("SIGTERM: exits 0, removes both sockets, logs the boot line", async () => {
    const d = await startDaemon("bunkerd");
    expect(statSync(d.address).mode & 0o777).toBe(0o660);
    expect(statSync(d.root).mode & 0o777).toBe(0o711);
    expect(statSync(d.state).mode & 0o777).toBe(0o711);
    expect(existsSync(d.ttrpcAddress)).toBe(true);
    const log = () => d.log();
    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
    expect(existsSync(d.address)).toBe(false);
    expect(existsSync(d.ttrpcAddress)).toBe(false);
    expect(log()).toMatch(/msg="bunkerd successfully booted in \d+\.\d+s"/);
    await d.stop();
  });

  test("a stale socket is replaced; a socket a live daemon serves is refused", async () => {
    const d = await startDaemon("bunkerd");
    try {
      // Second daemon on the same socket: clear error, non-zero exit, first one unharmed.
      const r = await run([BUNKERD, "--config", d.configPath], { timeoutMs: 20_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${d.address} is in use by another daemon`);
      // Refused before any plugin started: nothing was loaded, nothing logged about plugins.
      expect(r.stderr).not.toContain("booted");
      expect(await versionOk(d.address)).toBe(true);
    } finally {
      d.proc.kill("SIGKILL"); // leaves its sockets behind, as a crash would
      await d.proc.exited;
    }
    expect(existsSync(d.address)).toBe(true);
    const again = Bun.spawn([BUNKERD, "--config", d.configPath], { stdout: "ignore", stderr: "pipe" });
    try {
      let ok = false;
      for (let i = 0; i < 200 && !ok; i++) {
        ok = await versionOk(d.address);
        if (!ok) await Bun.sleep(50);
      }
      expect(ok).toBe(true);
    } finally {
      again.kill("SIGTERM");
      await again.exited;
      cleanupDir(d.dir);
    }
  });

  test("NOTIFY_SOCKET gets READY=1 after the sockets serve, and STOPPING=1 on stop", async () => {
    const dir = mkdtempSync("/tmp/notify-");
    const sock = join(dir, "n.sock");
    const py = Bun.spawn(
      [
        "python3",
        "-c",
        "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nfor _ in range(2): print(s.recv(100).decode(),flush=True)",
        sock,
      ],
      { stdout: "pipe" },
    );
    const reader = py.stdout.getReader();
    let out = "";
    const until = async (s: string) => {
      while (!out.includes(s)) out += new TextDecoder().decode((await reader.read()).value);
    };
    await until("bound");
    const d = await startDaemon("bunkerd", { env: { NOTIFY_SOCKET: sock } });
    await until("READY=1");
    await d.stop();
    await until("STOPPING=1");
    await py.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test("plugin_dir plugins: skip and error states shown by ctr, a crashed worker reported, the rest serves", async () => {
    const d = await startDaemon("bunkerd", {
      extraConfig: "",
      config: [
        "version = 2",
        'root = "$DIR/root"',
        'state = "$DIR/state"',
        `plugin_dir = "${testdata}"`,
        "[grpc]",
        '  address = "$DIR/d.sock"',
        "[ttrpc]",
        '  address = "$DIR/d.sock.ttrpc"',
      ].join("\n"),
    });
    try {
      await Bun.sleep(600); // the crashy worker dies 300 ms after its init
      const r = await d.ctr(["plugins", "ls"]);
      expect(r.code).toBe(0);
      const row = (id: string) =>
        r.stdout.split("\n").find((l) => l.startsWith("io.bunkerd.test.v1") && l.includes(` ${id} `));
      expect(row("skipped")).toMatch(/\sskip\s*$/);
      expect(row("failing")).toMatch(/\serror\s*$/);
      expect(row("crashy")).toMatch(/\serror\s*$/);
      const detail = await d.ctr(["plugins", "ls", "-d", "id==crashy"]);
      expect(detail.stdout).toContain("worker crashy exited");
      expect(d.log()).toContain("plugin worker crashy exited");
      // Namespaces live in another worker: unaffected.
      expect((await d.ctr(["namespaces", "create", "still-works"])).code).toBe(0);
    } finally {
      await d.stop();
    }
  });

  test("health: SERVING while up", async () => {
    const d = await startDaemon("bunkerd");
    try {
      const r = await grpcCall(d.address, "/grpc.health.v1.Health/Check", new Uint8Array());
      expect(r.grpcStatus).toBe("0");
      expect([...r.messages[0]!]).toEqual([8, 1]); // status = SERVING
      const unknown = await grpcCall(d.address, "/grpc.health.v1.Health/Check", new Uint8Array([10, 1, 120]));
      expect(unknown.grpcStatus).toBe("5");
    } finally {
      await d.stop();
    }
  });

  test("SIGUSR1 dumps plugin and worker state to the log and keeps running", async () => {
    const d = await startDaemon("bunkerd");
    try {
      d.proc.kill("SIGUSR1");
      for (let i = 0; i < 50 && !d.log().includes("state dump"); i++) await Bun.sleep(50);
      expect(d.log()).toContain("state dump (SIGUSR1)");
      expect(d.log()).toContain("io.containerd.metadata.v1.sqlite=ok");
      expect(await versionOk(d.address)).toBe(true);
    } finally {
      await d.stop();
    }
  });
});

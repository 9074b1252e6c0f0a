/** bunkerd refuses bad configuration before starting anything, naming the file, key and line;
 *  `config default` and `config dump` print TOML that containerd reads too. */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKERD, hasBinary, run } from "../harness/daemon.ts";

function withConfig(body: (dir: string) => string) {
  const dir = mkdtempSync("/tmp/bkcfg-");
  const file = join(dir, "config.toml");
  writeFileSync(file, body(dir));
  return { dir, file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const base = (dir: string) =>
  `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${dir}/d.sock"\n`;

describe("bad configuration", () => {
  test.each([
    [
      "a bad value",
      (d: string) => `${base(d)}  max_recv_message_size = "lots"\n`,
      /config\.toml:6: grpc\.max_recv_message_size: /,
    ],
    [
      "an unknown log level",
      (d: string) => `${base(d)}[debug]\n  level = "loud"\n`,
      /config\.toml:7: debug\.level: /,
    ],
    [
      "oom_score out of range",
      (d: string) => `version = 2\noom_score = 5000\nroot = "${d}/root"\n`,
      /config\.toml:2: oom_score: /,
    ],
    ["broken TOML", (d: string) => `${base(d)}[grpc\n`, /config\.toml:6/],
    ["version 1", (d: string) => `version = 1\nroot = "${d}/root"\n`, /version/],
    [
      "a missing import",
      (d: string) => `version = 2\nimports = ["${d}/nope.toml"]\nroot = "${d}/root"\n`,
      /nope\.toml/,
    ],
  ])("%s: clear error, exit non-zero, nothing started", async (_name, body, want) => {
    const c = withConfig(body);
    try {
      const r = await run([BUNKERD, "--config", c.file], { timeoutMs: 15_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).toContain(c.file);
      expect(existsSync(join(c.dir, "d.sock"))).toBe(false);
      expect(existsSync(join(c.dir, "root"))).toBe(false);
    } finally {
      c.done();
    }
  });

  test("an explicitly named config that does not exist is an error", async () => {
    const r = await run([BUNKERD, "--config", "/nonexistent/bunkerd.toml"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/nonexistent/bunkerd.toml");
  });

  test("an unknown key is a warning with its line, and the daemon starts", async () => {
    const c = withConfig((d) => `${base(d)}  shiny = true\n`);
    const p = Bun.spawn([BUNKERD, "--config", c.file], { stderr: "pipe", stdout: "ignore" });
    try {
      const reader = p.stderr.getReader();
      let err = "";
      while (!err.includes("successfully booted")) {
        const { value, done } = await reader.read();
        if (done) break;
        err += new TextDecoder().decode(value);
      }
      expect(err).toMatch(/level=warning msg=".*grpc\.shiny.*line 6|level=warning msg=".*:6.*grpc\.shiny/);
      expect(err).toContain("successfully booted");
    } finally {
      p.kill("SIGTERM");
      await p.exited;
      c.done();
    }
  });
});

describe.skipIf(!hasBinary("containerd"))("config default and dump", () => {
  test("config default is accepted by containerd's own config dump", async () => {
    const def = await run([BUNKERD, "config", "default"]);
    expect(def.code).toBe(0);
    expect(def.stdout).toContain('root = "/var/lib/bunkerd"');
    expect(def.stdout).toContain('address = "/run/bunkerd/bunkerd.sock"');
    const c = withConfig(() => def.stdout);
    try {
      const r = await run(["containerd", "--config", c.file, "config", "dump"]);
      expect(r.stderr).not.toMatch(/level=(error|fatal)/);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('root = "/var/lib/bunkerd"');
    } finally {
      c.done();
    }
  });

  test("config dump shows flags applied over the file", async () => {
    const c = withConfig(base);
    try {
      const r = await run([BUNKERD, "--config", c.file, "--root", `${c.dir}/other`, "config", "dump"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`root = "${c.dir}/other"`);
      expect(r.stdout).toContain(`address = "${c.dir}/d.sock"`);
    } finally {
      c.done();
    }
  });
});
